import Foundation
import XCTest
import KubeModel
import ProxyCore
@testable import Kernel

/// The ipset/iptables half of `kube-ipvs cleanup` against the real kernel, both iptables flavours,
/// in a throwaway network namespace (KUBE_IPVS_NETNS=1). The host has no IPVS and no dummy links:
/// the guest test Tests/vm/tests/47-cleanup.sh covers those.
final class CleanupNetNSTests: XCTestCase {
    override func setUpWithError() throws { try NetfilterTestSupport.resetNetfilter() }

    /// kube-ipvs's chains and jumps for a node with cluster IPs and a TCP NodePort (no ipvs or
    /// physdev matches: the host kernel may lack xt_ipvs).
    func ownOps() -> [ProxyCore.Operation] {
        let options = FixedRuleOptions(notLocalMatch: "! -s 10.244.0.0/16", masqueradeAll: false, markHex: "0x4000", randomFully: false)
        let tables = FixedRules.tables(family: .ipv4, nonEmpty: [.clusterIP, .nodePortTCP, .ipvsIPs], options: options)
        return IPTablesTable.allCases.map { .writeChains(family: .ipv4, table: $0, chains: tables[$0]!.chains) }
            + IPTablesTable.allCases.flatMap { t in tables[t]!.jumps.map { .ensureJump(family: .ipv4, $0) } }
    }

    func run(flavor: IPTablesFlavor) throws {
        let bin = flavor == .legacy ? "iptables-legacy" : "iptables-nft"
        let sets = try IPSetBackend()
        try sets.apply(KubeSet.allCases.map { .createSet($0.spec(for: .ipv4)) } + [
            .addSetEntry(set: "KUBE-CLUSTER-IP", entry: "10.254.10.128,tcp:80"),
            .addSetEntry(set: "KUBE-NODE-PORT-TCP", entry: "30080"),
            .addSetEntry(set: "KUBE-IPVS-IPS", entry: "10.254.10.128"),
        ])
        // Foreign state: sets (one named KUBE-*), a chain and rules, kubelet's chains.
        try NetfilterTestSupport.sh("""
            ipset create FOREIGN hash:ip; ipset add FOREIGN 192.168.77.9
            ipset create KUBE-NOT-OURS hash:ip; ipset add KUBE-NOT-OURS 192.168.77.10
            \(bin) -N FOREIGN; \(bin) -A FOREIGN -p tcp --dport 22 -j ACCEPT
            \(bin) -A INPUT -s 192.168.77.5 -m comment --comment "foreign rule" -j ACCEPT; \(bin) -A INPUT -j FOREIGN
            \(bin) -N KUBE-FIREWALL; \(bin) -A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP; \(bin) -I INPUT 1 -j KUBE-FIREWALL
            \(bin) -t nat -N KUBE-MARK-DROP; \(bin) -t nat -A KUBE-MARK-DROP -j MARK --or-mark 0x8000
            \(bin) -t nat -A POSTROUTING -s 10.9.0.0/16 -j MASQUERADE
            """)
        let foreignBefore = try foreign(bin)
        try IPTablesBackend(family: .ipv4, flavor: flavor).apply(ownOps())

        let kernel = try NodeKernel(sets: sets, rules: IPTablesFamilies(families: [.ipv4, .ipv6], flavor: flavor), sysctlNames: [])
        let observed = try kernel.observe(families: [.ipv4, .ipv6])
        let cleanup = ProxyCore.Cleanup.plan(observed: observed, nodeAddresses: [])
        XCTAssertEqual(cleanup.kept, [])
        let c = cleanup.counts
        XCTAssertEqual([c.virtualServers, c.jumps, c.chains, c.sets, c.links], [0, KubeChain.jumps.count, 11, KubeSet.allCases.count, 0])
        let report = try kernel.apply(cleanup.plan)
        XCTAssertEqual(report.results[.iptables]?.requestsSent, 2, "one commit or restore per table")

        let save = try NetfilterTestSupport.sh("\(bin)-save")
        for chain in KubeChain.natChains + KubeChain.filterChains {
            XCTAssertFalse(save.contains(":\(chain) "), "\(chain) left:\n\(save)")
            XCTAssertFalse(save.contains("-j \(chain)\n"), "jump to \(chain) left:\n\(save)")
        }
        XCTAssertEqual(try foreign(bin), foreignBefore, "foreign sets, chains and rules are byte-identical")
        XCTAssertEqual(try sets.setNames().sorted(), ["FOREIGN", "KUBE-NOT-OURS"])

        // A second run finds nothing.
        let again = ProxyCore.Cleanup.plan(observed: try kernel.observe(families: [.ipv4, .ipv6]), nodeAddresses: [])
        XCTAssertEqual(again.plan.operations, [])
    }

    /// Everything that is not kube-ipvs's, as text: ipsets FOREIGN and KUBE-NOT-OURS, every
    /// iptables line but kube-ipvs's chains and jumps (counters left out).
    func foreign(_ bin: String) throws -> String {
        let own = Set(KubeChain.natChains + KubeChain.filterChains)
        let lines = NetfilterTestSupport.stableSave(try NetfilterTestSupport.sh("\(bin)-save")).split(separator: "\n").filter { line in
            !own.contains { line.hasPrefix(":\($0)") || line.hasPrefix("-A \($0) ") || line.hasSuffix("-j \($0)") }
        }
        return try NetfilterTestSupport.sh("ipset save FOREIGN; ipset save KUBE-NOT-OURS") + lines.joined(separator: "\n")
    }

    func testNetNSLegacyCleanup() throws { try run(flavor: .legacy) }
    func testNetNSNftCleanup() throws { try run(flavor: .nft) }

    func testNetNSChainAForeignRuleJumpsToIsKept() throws {
        let sets = try IPSetBackend()
        try sets.apply(KubeSet.allCases.map { .createSet($0.spec(for: .ipv4)) })
        try IPTablesBackend(family: .ipv4, flavor: .legacy).apply(ownOps())
        try NetfilterTestSupport.sh("iptables-legacy -A INPUT -p tcp -j KUBE-NODE-PORT")
        let kernel = try NodeKernel(sets: sets, rules: IPTablesFamilies(families: [.ipv4], flavor: .legacy), sysctlNames: [])
        let cleanup = ProxyCore.Cleanup.plan(observed: try kernel.observe(families: [.ipv4]), nodeAddresses: [])
        XCTAssertEqual(cleanup.kept, [
            "chain KUBE-NODE-PORT (IPv4 filter): rule `-A INPUT -p tcp -j KUBE-NODE-PORT` jumps to it",
            "ipset KUBE-HEALTH-CHECK-NODE-PORT: kept chain KUBE-NODE-PORT matches it",
        ])
        _ = try kernel.apply(cleanup.plan)
        let save = try NetfilterTestSupport.sh("iptables-legacy-save -t filter")
        XCTAssertTrue(save.contains(":KUBE-NODE-PORT "), save)
        XCTAssertTrue(save.contains("-A INPUT -p tcp -j KUBE-NODE-PORT"), save)
        XCTAssertFalse(save.contains(":KUBE-FORWARD "), save)
        XCTAssertEqual(try sets.setNames(), ["KUBE-HEALTH-CHECK-NODE-PORT"])
    }
}
