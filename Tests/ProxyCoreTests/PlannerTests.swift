import XCTest
import KubeModel
@testable import ProxyCore

final class PlannerTests: XCTestCase {
    /// The in-memory kernel after applying the seed's plan to an empty node.
    func programmedSeedNode() -> ObservedState {
        var node = ObservedState.emptyNode
        node.apply(Planner.plan(desired: Fx.desired(Fx.seedSnapshot()), observed: node))
        return node
    }

    func testSecondSyncPlansNothing() {
        let node = programmedSeedNode()
        let again = Planner.plan(desired: Fx.desired(Fx.seedSnapshot()), observed: node)
        XCTAssertEqual(again.operations, [])
    }

    func testSeedPlanOnEmptyNode() {
        let plan = Planner.plan(desired: Fx.desired(Fx.seedSnapshot()), observed: .emptyNode)
        let counts = plan.countsByKind
        XCTAssertEqual(counts[.ipvs], 3)
        XCTAssertEqual(counts[.prerequisite], 9)
        XCTAssertEqual(counts[.link], 2)
        XCTAssertEqual(counts[.ipset], 17 + 2)
        XCTAssertEqual(counts[.iptables], 2 + 9)
        let owned = plan.operations.filter { $0.owner == "default/web-service" }.map(\.operation)
        XCTAssertEqual(owned.first, .addAddress(Fx.ip("10.254.10.128")))
        XCTAssertEqual(owned.count, 6)
    }

    func testOneEndpointAddedOrRemovedIsOneOperation() {
        let node = programmedSeedNode()
        let three = Planner.plan(desired: Fx.desired(Fx.seedSnapshot(endpoints: ["10.244.1.2", "10.244.1.3", "10.244.1.4"])), observed: node)
        XCTAssertEqual(three.operations.map(\.operation), [
            .addRealServer(Fx.vsKey("10.254.10.128", 80), RealServer(key: RealServerKey(address: Fx.ip("10.244.1.4"), port: 8080))),
        ])
        let one = Planner.plan(desired: Fx.desired(Fx.seedSnapshot(endpoints: ["10.244.1.2"])), observed: node)
        XCTAssertEqual(one.operations.map(\.operation), [
            .deleteRealServer(Fx.vsKey("10.254.10.128", 80), RealServerKey(address: Fx.ip("10.244.1.3"), port: 8080)),
        ])
        XCTAssertEqual(one.operations.first?.owner, "default/web-service")
    }

    func testRepairsExactlyWhatWasRemovedByHand() {
        let desired = Fx.desired(Fx.seedSnapshot())
        let key = Fx.vsKey("10.254.10.128", 80)
        var node = programmedSeedNode()
        node.families[.ipv4]!.virtualServers[key]!.realServers[RealServerKey(address: Fx.ip("10.244.1.3"), port: 8080)] = nil
        node.families[.ipv4]!.ipsets["KUBE-CLUSTER-IP"]!.entries.removeAll()
        node.families[.ipv4]!.boundAddresses.removeAll()
        node.families[.ipv4]!.tables[.nat]!.kubeChains["KUBE-MARK-MASQ"] = []
        let plan = Planner.plan(desired: desired, observed: node)
        XCTAssertEqual(Set(plan.operations.map { ShellRenderer.command($0.operation) }), [
            "iptables-restore --noflush # nat: KUBE-MARK-MASQ",
            "ip addr add 10.254.10.128/32 dev kube-ipvs0",
            "ipset add KUBE-CLUSTER-IP 10.254.10.128,tcp:80",
            "ipvsadm -a -t 10.254.10.128:80 -r 10.244.1.3:8080 -m -w 1",
        ])
        node.apply(plan)
        XCTAssertEqual(Planner.plan(desired: desired, observed: node).operations, [])
    }

    func testOnlyOwnedStateIsRemoved() {
        var node = programmedSeedNode()
        // A hand-made virtual server on another address, a foreign set and a stale Service of ours.
        let foreign = Fx.vsKey("192.0.2.1", 80)
        node.families[.ipv4]!.virtualServers[foreign] = ObservedVirtualServer(server: VirtualServer(key: foreign, scheduler: "wlc"))
        node.families[.ipv4]!.ipsets["OTHER"] = ObservedSet(spec: IPSetSpec(name: "OTHER", type: .hashIP, family: .ipv4, comment: ""), entries: ["1.1.1.1"])
        let stale = Fx.vsKey("10.254.0.99", 443)
        node.apply(.addAddress(Fx.ip("10.254.0.99")))
        node.apply(.addVirtualServer(VirtualServer(key: stale, scheduler: "rr")))
        node.apply(.addSetEntry(set: "KUBE-CLUSTER-IP", entry: "10.254.0.99,tcp:443"))
        let plan = Planner.plan(desired: Fx.desired(Fx.seedSnapshot()), observed: node)
        XCTAssertEqual(plan.operations.map(\.operation), [
            .deleteVirtualServer(stale),
            .deleteSetEntry(set: "KUBE-CLUSTER-IP", entry: "10.254.0.99,tcp:443"),
            .deleteAddress(Fx.ip("10.254.0.99")),
        ])
        XCTAssertTrue(plan.operations.allSatisfy { $0.owner == nil })
        var excluded = Fx.desired(Fx.seedSnapshot())
        excluded.excludeCIDRs = [CIDR("10.254.0.0/24")!]
        XCTAssertFalse(Planner.plan(desired: excluded, observed: node).operations.contains { $0.operation == .deleteVirtualServer(stale) })
    }

    func testChangedServiceSettingsAreEdits() {
        let node = programmedSeedNode()
        var config = Fx.seedConfig
        config.scheduler = "wrr"
        // wrr's module is in the baseline set, so the only change is the edit of the virtual server.
        let plan = Planner.plan(desired: Fx.desired(Fx.seedSnapshot(), config: config), observed: node)
        XCTAssertEqual(plan.operations.map(\.operation), [
            .updateVirtualServer(VirtualServer(key: Fx.vsKey("10.254.10.128", 80), scheduler: "wrr")),
        ])
        config.scheduler = "lc"
        let lc = Planner.plan(desired: Fx.desired(Fx.seedSnapshot(), config: config), observed: node)
        XCTAssertEqual(lc.operations.map(\.operation), [
            .loadModule("ip_vs_lc"),
            .updateVirtualServer(VirtualServer(key: Fx.vsKey("10.254.10.128", 80), scheduler: "lc")),
        ])
    }

    /// A set of another type is recreated and refilled, and the chains whose rules match it are
    /// rewritten: the kernel backend empties them first, since kube-ipvs's own rules would keep the
    /// old set busy for ever.
    func testIncompatibleSetIsRecreatedAndRefilled() {
        var node = programmedSeedNode()
        node.families[.ipv4]!.ipsets["KUBE-CLUSTER-IP"]!.spec.type = .hashIP
        let desired = Fx.desired(Fx.seedSnapshot())
        let plan = Planner.plan(desired: desired, observed: node)
        let chains = { (t: IPTablesTable, n: String) in desired.families[.ipv4]!.tables[t]!.chains.filter { $0.name == n } }
        XCTAssertEqual(plan.operations.map(\.operation), [
            .recreateSet(KubeSet.clusterIP.spec(for: .ipv4)),
            .writeChains(family: .ipv4, table: .nat, chains: chains(.nat, "KUBE-SERVICES")),
            .writeChains(family: .ipv4, table: .filter, chains: chains(.filter, "KUBE-IPVS-FILTER")),
            .addSetEntry(set: "KUBE-CLUSTER-IP", entry: "10.254.10.128,tcp:80"),
        ])
    }

    func testPlanIsDeterministic() {
        var services: [ServiceInfo] = []
        var sets: [EndpointSetInfo] = []
        for i in 0..<200 {
            services.append(Fx.service("svc-\(i)", ns: "ns\(i % 7)", ip: "10.254.\(i / 250).\(i % 250 + 1)"))
            sets.append(Fx.endpoints("svc-\(i)", ns: "ns\(i % 7)", (0..<5).map { Fx.ep("10.244.\(i % 200).\($0 + 2)") }))
        }
        let a = Planner.plan(desired: Fx.desired(ClusterSnapshot(services: services, endpointSets: sets)), observed: .emptyNode)
        var g = SystemRandomNumberGenerator()
        let b = Planner.plan(desired: Fx.desired(ClusterSnapshot(services: services.shuffled(using: &g), endpointSets: sets.shuffled(using: &g))),
                             observed: .emptyNode)
        XCTAssertEqual(a, b)
        XCTAssertEqual(ShellRenderer.render(a), ShellRenderer.render(b))
        let owners = a.operations.compactMap(\.owner)
        XCTAssertEqual(owners, owners.sorted(), "Service groups come in namespace/name order")
    }

    func testKnownModulesAndSysctlsAreNotRepeated() {
        var node = programmedSeedNode()
        node.loadedModules = nil
        node.sysctls = [:]
        let plan = Planner.plan(desired: Fx.desired(Fx.seedSnapshot()), observed: node)
        XCTAssertEqual(plan.countsByKind, [.prerequisite: 9])
    }
}
