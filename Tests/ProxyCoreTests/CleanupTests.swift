import Foundation
import XCTest
import KubeModel
@testable import ProxyCore

/// `Cleanup.plan` and `VirtualServerOwnership`: what cleanup removes from a node, and what it leaves.
final class CleanupTests: XCTestCase {
    static let nodeIP = "192.168.50.10"

    /// The seed plus a NodePort Service (TCP 30080, UDP 30053), an SCTP NodePort and an externalIP
    /// that is a node address, programmed in memory on a node whose address is 192.168.50.10.
    static func desired() -> DesiredState {
        var np = Fx.service("np", ip: "10.254.20.1", ports: [
            ServicePortInfo(name: "http", proto: .tcp, port: 80, nodePort: 30080),
            ServicePortInfo(name: "dns", proto: .udp, port: 53, nodePort: 30053),
            ServicePortInfo(name: "sctp", proto: .sctp, port: 99, nodePort: 30099),
        ])
        np.type = .nodePort
        var ext = Fx.service("ext", ip: "10.254.20.2")
        ext.externalIPs = [Fx.ip(nodeIP)]
        let snap = ClusterSnapshot(services: [Fx.service("web-service", ip: "10.254.10.128"), np, ext],
                                   endpointSets: [Fx.endpoints("web-service", [Fx.ep("10.244.1.2")]),
                                                  Fx.endpoints("np", port: 8080, portName: "http", [Fx.ep("10.244.1.5")]),
                                                  Fx.endpoints("ext", [Fx.ep("10.244.1.6")])])
        let node = NodeContext(name: "node1", nodePortAddresses: [Fx.ip(nodeIP)], localAddresses: [Fx.ip(nodeIP)])
        return Fx.desired(snap, node: node)
    }

    /// The programmed node plus foreign state: hand-made virtual servers, a foreign KUBE-ish set,
    /// kubelet's chains and a foreign rule in INPUT.
    static func node() -> ObservedState {
        var node = ObservedState.emptyNode
        node.apply(Planner.plan(desired: desired(), observed: node))
        var v4 = node.families[.ipv4]!
        for key in [Fx.vsKey("10.9.9.9", 80), Fx.vsKey(nodeIP, 8080), Fx.vsKey("192.168.60.1", 30080)] {
            v4.virtualServers[key] = ObservedVirtualServer(server: VirtualServer(key: key, scheduler: "wlc"))
        }
        v4.ipsets["KUBE-SOMETHING-ELSE"] = ObservedSet(spec: IPSetSpec(name: "KUBE-SOMETHING-ELSE", type: .hashIP, family: .ipv4, comment: ""))
        v4.tables[.filter]!.kubeChains["KUBE-FIREWALL"] = ["-m comment --comment \"kubernetes firewall for dropping marked packets\" -m mark --mark 0x8000/0x8000 -j DROP"]
        v4.tables[.filter]!.kubeChains["KUBE-KUBELET-CANARY"] = []
        v4.tables[.filter]!.builtinChains["INPUT", default: []].append("-j KUBE-FIREWALL")
        v4.tables[.filter]!.builtinChains["INPUT", default: []].append("-s 10.1.0.0/16 -j ACCEPT")
        v4.tables[.nat]!.kubeChains["KUBE-MARK-DROP"] = ["-j MARK --set-xmark 0x8000/0x8000"]
        node.families[.ipv4] = v4
        return node
    }

    func plan(_ node: ObservedState, exclude: [CIDR] = []) -> CleanupPlan {
        Cleanup.plan(observed: node, nodeAddresses: [Fx.ip(Self.nodeIP)], excludeCIDRs: exclude)
    }

    func testOwnershipRules() {
        let fam = Self.node().family(.ipv4)
        let nodeIPs: Set<IPAddress> = [Fx.ip(Self.nodeIP)]
        func why(_ key: VirtualServerKey) -> VirtualServerOwnership? { VirtualServerOwnership.of(key, in: fam, nodeAddresses: nodeIPs) }
        XCTAssertEqual(why(Fx.vsKey("10.254.10.128", 80)), .boundAddress)
        XCTAssertEqual(why(Fx.vsKey(Self.nodeIP, 30080)), .nodePort("KUBE-NODE-PORT-TCP"))
        XCTAssertEqual(why(Fx.vsKey(Self.nodeIP, 30053, .udp)), .nodePort("KUBE-NODE-PORT-UDP"))
        XCTAssertEqual(why(Fx.vsKey(Self.nodeIP, 30099, .sctp)), .serviceSet("KUBE-NODE-PORT-SCTP-HASH"))
        // The externalIP is a node address: not bound on kube-ipvs0, but in KUBE-EXTERNAL-IP.
        XCTAssertEqual(why(Fx.vsKey(Self.nodeIP, 80)), .serviceSet("KUBE-EXTERNAL-IP"))
        // Hand-made: another address, a node address with a port no NodePort uses, a NodePort port on a non-node address.
        XCTAssertNil(why(Fx.vsKey("10.9.9.9", 80)))
        XCTAssertNil(why(Fx.vsKey(Self.nodeIP, 8080)))
        XCTAssertNil(why(Fx.vsKey("192.168.60.1", 30080)))
        // The NodePort's port under the other protocol is not a NodePort.
        XCTAssertNil(why(Fx.vsKey(Self.nodeIP, 30080, .udp)))
    }

    func testRemovesEverythingOwnedAndNothingElse() {
        let before = Self.node()
        let cleanup = plan(before)
        var after = before
        after.apply(cleanup.plan)

        let v4 = after.family(.ipv4)
        XCTAssertEqual(Set(v4.virtualServers.keys), [Fx.vsKey("10.9.9.9", 80), Fx.vsKey(Self.nodeIP, 8080), Fx.vsKey("192.168.60.1", 30080)])
        XCTAssertEqual(Set(v4.ipsets.keys), ["KUBE-SOMETHING-ELSE"])
        XCTAssertEqual(Set(v4.tables[.filter]!.kubeChains.keys), ["KUBE-FIREWALL", "KUBE-KUBELET-CANARY"])
        XCTAssertEqual(Set(v4.tables[.nat]!.kubeChains.keys), ["KUBE-MARK-DROP"])
        XCTAssertEqual(v4.tables[.filter]!.builtinChains["INPUT"], ["-j KUBE-FIREWALL", "-s 10.1.0.0/16 -j ACCEPT"])
        for chain in ["PREROUTING", "OUTPUT", "POSTROUTING"] { XCTAssertEqual(v4.tables[.nat]!.builtinChains[chain] ?? [], [], chain) }
        XCTAssertEqual(v4.tables[.filter]!.builtinChains["FORWARD"] ?? [], [])
        XCTAssertEqual(v4.tables[.filter]!.builtinChains["OUTPUT"] ?? [], [])
        XCTAssertFalse(after.dummyLinkExists)
        XCTAssertEqual(v4.boundAddresses, [])
        XCTAssertEqual(cleanup.kept, [])

        let c = cleanup.counts
        XCTAssertEqual(c.virtualServers, 5 + 3 + 1)  // 5 ClusterIP ports, TCP/UDP/SCTP NodePorts, the externalIP
        XCTAssertEqual(c.jumps, KubeChain.jumps.count)
        XCTAssertEqual(c.chains, KubeChain.natChains.count + KubeChain.filterChains.count)
        XCTAssertEqual(c.sets, KubeSet.allCases.count)
        XCTAssertEqual(c.links, 1)
        XCTAssertEqual(cleanup.summary, "9 virtual server(s), 9 jump rule(s), 11 chain(s), 17 ipset(s) and the kube-ipvs0 link")
    }

    func testOrderIsVirtualServersJumpsChainsSetsLink() {
        let kinds = plan(Self.node()).plan.operations.map { p -> String in
            switch p.operation {
            case .deleteVirtualServer: return "vs"
            case .deleteJump: return "jump"
            case .deleteChains: return "chains"
            case .destroySet: return "set"
            case .deleteDummyLink: return "link"
            default: return "other"
            }
        }
        var collapsed: [String] = []
        for k in kinds where collapsed.last != k { collapsed.append(k) }
        // nat jumps, nat chains, then filter jumps, filter chains.
        XCTAssertEqual(collapsed, ["vs", "jump", "chains", "jump", "chains", "set", "link"])
    }

    func testSecondCleanupFindsNothing() {
        var node = Self.node()
        node.apply(plan(node).plan)
        let again = plan(node)
        XCTAssertTrue(again.plan.isEmpty, "\(again.plan.operations)")
        XCTAssertEqual(again.summary, "0 virtual server(s), 0 jump rule(s), 0 chain(s), 0 ipset(s) and no link")
    }

    func testEveryCopyOfAJumpIsDeleted() {
        var node = Self.node()
        let j = KubeChain.jumps.first { $0.chain == "PREROUTING" }!
        node.families[.ipv4]!.tables[.nat]!.builtinChains["PREROUTING"]!.append(j.ruleText)
        let cleanup = plan(node)
        node.apply(cleanup.plan)
        XCTAssertEqual(node.family(.ipv4).tables[.nat]!.builtinChains["PREROUTING"], [])
        XCTAssertEqual(cleanup.counts.jumps, KubeChain.jumps.count + 1)
    }

    func testExcludeCIDRsKeepVirtualServers() {
        let cleanup = plan(Self.node(), exclude: [CIDR("10.254.10.0/24")!])
        XCTAssertFalse(cleanup.plan.operations.contains { $0.operation == .deleteVirtualServer(Fx.vsKey("10.254.10.128", 80)) })
        XCTAssertEqual(cleanup.kept, ["virtual server 10.254.10.128:80/TCP (address on kube-ipvs0): inside excludeCIDRs 10.254.10.0/24"])
        XCTAssertEqual(cleanup.counts.virtualServers, 8)
    }

    func testChainAForeignRuleJumpsToIsKeptWithWhatItReaches() {
        var node = Self.node()
        // Someone else's rule sends INPUT traffic to KUBE-NODE-PORT (filter) without kube-ipvs's comment.
        node.families[.ipv4]!.tables[.filter]!.builtinChains["INPUT"]!.append("-p tcp -j KUBE-NODE-PORT")
        // And a foreign rule matches KUBE-CLUSTER-IP.
        node.families[.ipv4]!.tables[.filter]!.builtinChains["INPUT"]!.append("-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT")
        let cleanup = plan(node)
        var after = node
        after.apply(cleanup.plan)
        let filter = after.family(.ipv4).tables[.filter]!
        XCTAssertNotNil(filter.kubeChains["KUBE-NODE-PORT"])
        XCTAssertNil(filter.kubeChains["KUBE-FORWARD"])
        // KUBE-NODE-PORT (filter) matches KUBE-HEALTH-CHECK-NODE-PORT: that set stays too.
        let sets = Set(after.family(.ipv4).ipsets.keys)
        XCTAssertEqual(sets, ["KUBE-SOMETHING-ELSE", "KUBE-CLUSTER-IP", "KUBE-HEALTH-CHECK-NODE-PORT"])
        XCTAssertEqual(cleanup.kept.count, 3, cleanup.kept.joined(separator: "\n"))
        XCTAssertTrue(cleanup.kept.contains("chain KUBE-NODE-PORT (IPv4 filter): rule `-A INPUT -p tcp -j KUBE-NODE-PORT` jumps to it"))
        // The nat table's KUBE-NODE-PORT is another chain: removed.
        XCTAssertNil(after.family(.ipv4).tables[.nat]!.kubeChains["KUBE-NODE-PORT"])
    }

    func testIPv6FamilyIsCleanedToo() {
        var v6 = ObservedFamily()
        let vip = Fx.ip("fd00::10")
        let key = VirtualServerKey(address: vip, proto: .tcp, port: 80)
        v6.boundAddresses = [vip]
        v6.virtualServers[key] = ObservedVirtualServer(server: VirtualServer(key: key, scheduler: "rr"))
        let foreign = VirtualServerKey(address: Fx.ip("fd00::99"), proto: .tcp, port: 80)
        v6.virtualServers[foreign] = ObservedVirtualServer(server: VirtualServer(key: foreign, scheduler: "rr"))
        v6.ipsets["KUBE-6-CLUSTER-IP"] = ObservedSet(spec: KubeSet.clusterIP.spec(for: .ipv6))
        v6.tables[.nat] = ObservedTable(kubeChains: ["KUBE-SERVICES": []], builtinChains: ["PREROUTING": [KubeChain.jumps[1].ruleText]])
        let node = ObservedState(dummyLinkExists: true, families: [.ipv6: v6])
        let ops = Cleanup.plan(observed: node, nodeAddresses: []).plan.operations.map(\.operation)
        XCTAssertEqual(ops, [
            .deleteVirtualServer(key),
            .deleteJump(family: .ipv6, KubeChain.jumps[1]),
            .deleteChains(family: .ipv6, table: .nat, chains: ["KUBE-SERVICES"]),
            .destroySet(KubeSet.clusterIP.spec(for: .ipv6)),
            .deleteDummyLink(name: "kube-ipvs0"),
        ])
    }

    func testDryRunShellForm() {
        let text = ShellRenderer.render(plan(Self.node()).plan, title: ["cleanup"], staleHeading: "Virtual servers kube-ipvs owns")
        XCTAssertTrue(text.contains("# Virtual servers kube-ipvs owns\nipvsadm -D -t 10.254.10.128:80\n"), text)
        XCTAssertTrue(text.contains("ipvsadm -D --sctp-service 192.168.50.10:30099\n"), text)
        XCTAssertTrue(text.contains("""
            iptables-restore --noflush <<'EOF'
            *nat
            -D OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
            -D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
            -D POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
            -F KUBE-SERVICES
            -F KUBE-POSTROUTING
            -F KUBE-NODE-PORT
            -F KUBE-LOAD-BALANCER
            -F KUBE-MARK-MASQ
            -X KUBE-SERVICES
            -X KUBE-POSTROUTING
            -X KUBE-NODE-PORT
            -X KUBE-LOAD-BALANCER
            -X KUBE-MARK-MASQ
            COMMIT
            EOF
            """), text)
        XCTAssertTrue(text.contains("ipset destroy KUBE-CLUSTER-IP\n"), text)
        XCTAssertTrue(text.hasSuffix("ip link del kube-ipvs0\n"), text)
        XCTAssertFalse(text.contains("KUBE-FIREWALL"))
        XCTAssertFalse(text.contains("KUBE-SOMETHING-ELSE"))
        XCTAssertFalse(text.contains("10.9.9.9"))
    }
}
