import Foundation
import XCTest
import KubeModel
import ProxyCore
@testable import Kernel

/// Both iptables flavours against the real kernel, in a throwaway network namespace (KUBE_IPVS_NETNS=1).
final class IPTablesBackendNetNSTests: XCTestCase {
    override func setUpWithError() throws { try NetfilterTestSupport.resetNetfilter() }

    /// The seed's full rule set (docs/spec.md §3; ipvs match excluded: the host kernel has no xt_ipvs).
    func v4Ops() throws -> [ProxyCore.Operation] {
        let text = try NetfilterTestSupport.fixture("capture-rules-v4.txt")
        var chains: [IPTablesTable: [ChainBody]] = [:]
        var jumps: [JumpRule] = []
        var table = IPTablesTable.nat
        var order: [IPTablesTable: [String]] = [:], bodies: [IPTablesTable: [String: [String]]] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("*") { table = IPTablesTable(rawValue: String(line.dropFirst()))! }
            if line.hasPrefix(":") {
                let n = String(line.dropFirst().split(separator: " ")[0])
                order[table, default: []].append(n); bodies[table, default: [:]][n] = []
            }
            guard line.hasPrefix("-A ") else { continue }
            let rest = line.dropFirst(3)
            let chain = String(rest.prefix { $0 != " " })
            let rule = String(rest.dropFirst(chain.count + 1))
            // Canonical form, as the core emits it.
            let canonical = try XCTUnwrap(IPTablesRule(text: rule, family: .ipv4)).saveText
            if chain.hasPrefix("KUBE-") { bodies[table]![chain]!.append(canonical) } else {
                let target = String(rule.split(separator: " ").last!)
                let comment = try XCTUnwrap(rule.components(separatedBy: "\"").dropFirst().first)
                jumps.append(JumpRule(table: table, chain: chain, target: target, comment: comment))
            }
        }
        for t in IPTablesTable.allCases { chains[t] = (order[t] ?? []).map { ChainBody(name: $0, rules: bodies[t]![$0]!) } }
        return IPTablesTable.allCases.map { .writeChains(family: .ipv4, table: $0, chains: chains[$0]!) }
            + jumps.map { .ensureJump(family: .ipv4, $0) }
    }

    func createSets() throws {
        let b = try IPSetBackend()
        let lines = try NetfilterTestSupport.fixture("capture-sets.txt").split(separator: "\n")
        try b.apply(lines.map { l in
            let w = l.split(separator: " ")
            let fam: IPFamily = l.contains("inet6") ? .ipv6 : .ipv4
            return .createSet(IPSetSpec(name: String(w[1]), type: IPSetType(rawValue: String(w[2]))!, family: fam, comment: ""))
        })
    }

    /// Foreign state: a user chain, rules in INPUT and nat POSTROUTING, for the given tool prefix.
    func addForeign(_ bin: String) throws {
        try NetfilterTestSupport.sh("""
            \(bin) -N FOREIGN; \(bin) -A FOREIGN -p tcp --dport 22 -j ACCEPT
            \(bin) -A INPUT -i lo -j ACCEPT; \(bin) -A INPUT -j FOREIGN
            \(bin) -t nat -A POSTROUTING -o eth0 -j MASQUERADE
            """)
    }

    func foreignLines(_ save: String) -> [String] {
        NetfilterTestSupport.stableSave(save).split(separator: "\n").map(String.init).filter { !$0.contains("KUBE-") }
    }

    func run(flavor: IPTablesFlavor) throws {
        try createSets()
        let bin = flavor == .legacy ? "iptables-legacy" : "iptables-nft"
        try addForeign(bin)
        let before = try NetfilterTestSupport.sh("\(bin)-save")
        let ops = try v4Ops()
        let backend = IPTablesBackend(family: .ipv4, flavor: flavor)

        let start = Date()
        let r = try backend.apply(ops)
        print("iptables \(flavor): applied \(r.applied) ops in \(r.requestsSent) commits, \(String(format: "%.3f", Date().timeIntervalSince(start))) s, paths \(backend.lastPath)")
        XCTAssertEqual(r.requestsSent, 2, "one commit per table")
        if flavor == .legacy { XCTAssertEqual(backend.lastPath, [.nat: .libiptc, .filter: .libiptc]) }

        // iptables-save shows exactly the rules we asked for, jumps first, foreign state untouched.
        let after = try NetfilterTestSupport.sh("\(bin)-save")
        let saved = IPTablesSaveText.parse(after)
        for case let .writeChains(_, table, chains) in ops {
            for c in chains { XCTAssertEqual(saved[table]?.kubeChains[c.name], c.rules, "\(table) \(c.name)") }
        }
        for case let .ensureJump(_, j) in ops {
            XCTAssertEqual((saved[j.table]?.builtinChains[j.chain] ?? []).filter { $0 == j.ruleText }.count, 1, j.ruleText)
        }
        XCTAssertEqual(saved[.filter]?.builtinChains["INPUT"], [
            "-m comment --comment \"kubernetes ipvs access filter\" -j KUBE-IPVS-FILTER",
            "-m comment --comment \"kubernetes health check rules\" -j KUBE-NODE-PORT",
            "-i lo -j ACCEPT", "-j FOREIGN"], "each missing jump is inserted at position 1, in plan order")
        XCTAssertEqual(foreignLines(after), foreignLines(before), "foreign chains and rules are byte-identical")

        // observe() reads back what iptables-save shows (legacy: both tables hold a foreign rule
        // with an interface (`-i lo`, `-o eth0`), outside the codec's grammar, so both are read with
        // iptables-legacy-save; the IPv6 test covers observation through libiptc).
        let observed = try backend.observe()
        XCTAssertEqual(observed, saved.filter { $0.key == .nat || $0.key == .filter }.mapValues { t in
            ObservedTable(kubeChains: t.kubeChains, builtinChains: t.builtinChains)
        })
        if flavor == .legacy { XCTAssertEqual(backend.lastPath, [.nat: .tool, .filter: .tool]) }

        // A second apply changes nothing that observe or iptables-save can see.
        try backend.apply(ops)
        XCTAssertEqual(try backend.observe(), observed)
        XCTAssertEqual(NetfilterTestSupport.stableSave(try NetfilterTestSupport.sh("\(bin)-save")),
                       NetfilterTestSupport.stableSave(after))

        // Replacing one chain's body touches only that chain.
        let newBody = ChainBody(name: "KUBE-LOAD-BALANCER", rules: ["-j RETURN"])
        try backend.apply([.writeChains(family: .ipv4, table: .nat, chains: [newBody])])
        let third = IPTablesSaveText.parse(try NetfilterTestSupport.sh("\(bin)-save"))
        XCTAssertEqual(third[.nat]?.kubeChains["KUBE-LOAD-BALANCER"], ["-j RETURN"])
        XCTAssertEqual(third[.nat]?.kubeChains["KUBE-SERVICES"], saved[.nat]?.kubeChains["KUBE-SERVICES"])
        XCTAssertEqual(foreignLines(try NetfilterTestSupport.sh("\(bin)-save")), foreignLines(before))
    }

    func testNetNSLegacyWriteObserveIdempotent() throws { try run(flavor: .legacy) }
    func testNetNSNftWriteObserveIdempotent() throws { try run(flavor: .nft) }

    func runV6(flavor: IPTablesFlavor) throws {
        try createSets()
        let bin = flavor == .legacy ? "ip6tables-legacy" : "ip6tables-nft"
        let rules = ["-s ::1/128 -j RETURN",
                     "! -s fd00:10:244::/64 -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ"]
        let ops: [ProxyCore.Operation] = [
            .writeChains(family: .ipv6, table: .nat, chains: [ChainBody(name: "KUBE-SERVICES", rules: rules),
                                                              ChainBody(name: "KUBE-MARK-MASQ", rules: ["-j MARK --set-xmark 0x4000/0x4000"])]),
            .writeChains(family: .ipv6, table: .filter, chains: [ChainBody(name: "KUBE-IPVS-FILTER", rules: [
                "-m conntrack --ctstate NEW -m set --match-set KUBE-6-IPVS-IPS dst -j REJECT --reject-with icmp6-port-unreachable"])]),
            .ensureJump(family: .ipv6, JumpRule(table: .nat, chain: "PREROUTING", target: "KUBE-SERVICES", comment: "kubernetes service portals")),
        ]
        let b = IPTablesBackend(family: .ipv6, flavor: flavor)
        try b.apply(ops)
        let saved = IPTablesSaveText.parse(try NetfilterTestSupport.sh("\(bin)-save"))
        XCTAssertEqual(saved[.nat]?.kubeChains["KUBE-SERVICES"], rules)
        XCTAssertEqual(try b.observe()[.nat]?.kubeChains["KUBE-SERVICES"], rules)
        if flavor == .legacy { XCTAssertEqual(b.lastPath, [.nat: .libiptc, .filter: .libiptc], "observed through libiptc") }
        XCTAssertEqual(try b.observe()[.filter]?.kubeChains["KUBE-IPVS-FILTER"]?.count, 1)
        XCTAssertEqual(saved[.nat]?.builtinChains["PREROUTING"], [ops.last.map { if case let .ensureJump(_, j) = $0 { return j.ruleText }; return "" }!])
        if flavor == .legacy { XCTAssertEqual(b.lastPath[.nat], .libiptc) }
    }

    func testNetNSLegacyIPv6() throws { try runV6(flavor: .legacy) }
    func testNetNSNftIPv6() throws { try runV6(flavor: .nft) }

    /// Rules outside the codec's grammar go through one iptables-legacy-restore for the table.
    func testNetNSLegacyFallsBackToRestoreForUnknownRules() throws {
        let b = IPTablesBackend(family: .ipv4, flavor: .legacy)
        let body = ChainBody(name: "KUBE-FORWARD", rules: ["-p tcp -m tcp --dport 22 -j ACCEPT", "-j ACCEPT"])
        try b.apply([.writeChains(family: .ipv4, table: .filter, chains: [body])])
        XCTAssertEqual(b.lastPath[.filter], .tool)
        XCTAssertEqual(IPTablesSaveText.parse(try NetfilterTestSupport.sh("iptables-legacy-save"))[.filter]?.kubeChains["KUBE-FORWARD"], body.rules)
    }

    func testNetNSDetectorPrefersTheFlavourWithRules() throws {
        try NetfilterTestSupport.sh("for i in 1 2 3; do iptables-legacy -A INPUT -j ACCEPT; done")
        XCTAssertEqual(IPTablesFlavor.detect(), .legacy)
        try NetfilterTestSupport.resetNetfilter()
        try NetfilterTestSupport.sh("iptables-nft -t mangle -N KUBE-IPTABLES-HINT")
        XCTAssertEqual(IPTablesFlavor.detect(), .nft)
        try NetfilterTestSupport.sh("iptables-nft -t mangle -X KUBE-IPTABLES-HINT")
    }
}
