import XCTest
import KubeModel
@testable import ProxyCore

final class DesiredStateIndexTests: XCTestCase {
    struct World {
        var services: [ObjectRef: ServiceInfo] = [:]
        var endpoints: [ObjectRef: EndpointSetInfo] = [:]
        var snapshot: ClusterSnapshot {
            ClusterSnapshot(services: services.keys.sorted().map { services[$0]! },
                            endpointSets: endpoints.keys.sorted().map { endpoints[$0]! })
        }
    }

    /// A node with NodePort addresses and a primary address, so every Service kind contributes.
    static let richNode = NodeContext(name: "node1", nodePortAddresses: [Fx.ip("192.168.50.1"), Fx.ip("10.0.2.15")],
                                      localAddresses: [Fx.ip("192.168.50.1"), Fx.ip("10.0.2.15")], nodeIPs: [Fx.ip("192.168.50.1")])

    func contribution(_ w: World, _ ref: ObjectRef, node: NodeContext = Fx.node) -> ServiceContribution? {
        guard let svc = w.services[ref] else { return nil }
        let eps = w.endpoints[ref].map { [$0] } ?? []
        if case .success(let c) = DesiredStateBuilder.contribution(service: svc, endpoints: eps, config: Fx.seedConfig, node: node) { return c }
        return nil
    }

    /// Random add/change/remove sequences: the index, the scoped plan and the in-memory kernel always
    /// agree with a full rebuild and a full plan.
    func testIncrementalUpdatesMatchAFullRebuild() {
        var rng = SplitMix(seed: 42)
        var w = World()
        let node = Self.richNode
        var index = DesiredStateIndex(config: Fx.seedConfig, node: node, families: [.ipv4])
        var kernel = ObservedState.emptyNode
        kernel.apply(Planner.plan(desired: index.state, observed: kernel))
        for step in 0..<400 {
            let i = Int(rng.next() % 30)
            let ref = ObjectRef(namespace: "ns\(i % 3)", name: "svc-\(i)")
            switch rng.next() % 4 {
            case 0:  // remove the Service
                w.services[ref] = nil
            case 1:  // change endpoints
                let n = Int(rng.next() % 4)
                w.endpoints[ref] = Fx.endpoints(ref.name, ns: ref.namespace, (0..<n).map { _ in
                    Fx.ep("10.244.\(i).\(Int(rng.next() % 6) + 2)", node: rng.next() % 2 == 0 ? "node1" : "node2") })
            default:  // add or change the Service (sometimes sharing an address with another)
                let ipIndex = rng.next() % 5 == 0 ? (i + 1) % 30 : i
                let port = UInt16(80 + rng.next() % 2)
                var svc = Fx.service(ref.name, ns: ref.namespace, ip: "10.254.0.\(ipIndex + 1)",
                                     ports: [ServicePortInfo(name: "", proto: rng.next() % 4 == 0 ? .udp : .tcp, port: port,
                                                             nodePort: UInt16(30000 + ipIndex))],
                                     affinity: rng.next() % 3 == 0 ? 100 : nil)
                // Every kind: NodePort, LoadBalancer (shared ingress IPs, source ranges with and without
                // the node), externalIPs, externalTrafficPolicy=Local, a scheduler annotation.
                svc.type = [ServiceType.clusterIP, .nodePort, .loadBalancer][Int(rng.next() % 3)]
                if svc.type == .loadBalancer {
                    svc.loadBalancerIPs = [Fx.ip("192.168.60.\(rng.next() % 4 + 1)")]
                    switch rng.next() % 3 {
                    case 0: svc.loadBalancerSourceRanges = [CIDR("203.0.113.0/24")!]
                    case 1: svc.loadBalancerSourceRanges = [CIDR("192.168.50.0/24")!]
                    default: break
                    }
                    if rng.next() % 2 == 0 { svc.healthCheckNodePort = UInt16(32000 + ipIndex) }
                }
                if rng.next() % 3 == 0 { svc.externalIPs = [Fx.ip(rng.next() % 2 == 0 ? "192.168.70.\(rng.next() % 3 + 1)" : "192.168.50.1")] }
                if rng.next() % 2 == 0 { svc.externalTrafficPolicy = .local }
                if rng.next() % 4 == 0 { svc.scheduler = "mh" }
                w.services[ref] = svc
            }
            let scope = index.replace(owner: ref.description, with: contribution(w, ref, node: node))
            index.refreshNodeWide()
            let full = DesiredStateBuilder.build(snapshot: w.snapshot, config: Fx.seedConfig, node: node)
            XCTAssertEqual(index.state.families[.ipv4]!.virtualServers.mapValues(\.server), full.families[.ipv4]!.virtualServers.mapValues(\.server), "step \(step)")
            XCTAssertEqual(index.state.families[.ipv4]!.virtualServers.mapValues(\.realServers),
                           full.families[.ipv4]!.virtualServers.mapValues(\.realServers), "step \(step)")
            XCTAssertEqual(Set(index.state.families[.ipv4]!.boundAddresses.keys), Set(full.families[.ipv4]!.boundAddresses.keys), "step \(step)")
            XCTAssertEqual(index.state.families[.ipv4]!.sets.mapValues { Set($0.entries.keys) }, full.families[.ipv4]!.sets.mapValues { Set($0.entries.keys) }, "step \(step)")
            XCTAssertEqual(index.state.families[.ipv4]!.tables, full.families[.ipv4]!.tables, "step \(step)")
            XCTAssertEqual(index.state.modules, full.modules)

            let scoped = Planner.plan(desired: index.state, observed: kernel, scope: scope)
            let whole = Planner.plan(desired: index.state, observed: kernel)
            XCTAssertEqual(Set(scoped.operations.map(\.operation)), Set(whole.operations.map(\.operation)), "step \(step)")
            kernel.apply(scoped)
            XCTAssertEqual(Planner.plan(desired: full, observed: kernel).operations, [], "step \(step)")
        }
    }

    func testOneEndpointChangeIsOneScopedOperation() {
        let node = Self.richNode
        var index = DesiredStateIndex(config: Fx.seedConfig, node: node, families: [.ipv4])
        var services: [ServiceInfo] = []
        for i in 0..<1000 {
            let svc = Fx.service("svc-\(i)", ip: "10.254.\(i / 250).\(i % 250 + 1)")
            services.append(svc)
            let eps = Fx.endpoints(svc.ref.name, (0..<10).map { Fx.ep("10.244.\(i % 250).\($0 + 2)") })
            if case .success(let c) = DesiredStateBuilder.contribution(service: svc, endpoints: [eps], config: Fx.seedConfig, node: Fx.node) {
                index.replace(owner: c.owner, with: c)
            }
        }
        index.refreshNodeWide()
        var kernel = ObservedState.emptyNode
        kernel.apply(Planner.plan(desired: index.state, observed: kernel))

        let svc = services[500]
        // The same ten endpoints plus one new one.
        let eps = Fx.endpoints(svc.ref.name, (0..<10).map { Fx.ep("10.244.\(500 % 250).\($0 + 2)") } + [Fx.ep("10.244.250.2")])
        guard case .success(let c) = DesiredStateBuilder.contribution(service: svc, endpoints: [eps], config: Fx.seedConfig, node: Fx.node) else {
            return XCTFail("no contribution")
        }
        let scope = index.replace(owner: c.owner, with: c)
        index.refreshNodeWide()
        XCTAssertEqual(scope.virtualServers.count, 1)
        let plan = Planner.plan(desired: index.state, observed: kernel, scope: scope)
        XCTAssertEqual(plan.operations.map(\.operation), [
            .addRealServer(Fx.vsKey("10.254.2.1", 80), RealServer(key: RealServerKey(address: Fx.ip("10.244.250.2"), port: 8080))),
        ])
    }

    func testSharedAddressStaysWhileAnyClaimantRemains() {
        let node = Self.richNode
        var index = DesiredStateIndex(config: Fx.seedConfig, node: node, families: [.ipv4])
        let shared = Fx.ip("192.0.2.10")
        func c(_ owner: String, port: UInt16) -> ServiceContribution {
            var c = ServiceContribution(owner: owner)
            c.boundAddresses = [shared]
            c.virtualServers = [DesiredVirtualServer(server: VirtualServer(key: VirtualServerKey(address: shared, proto: .tcp, port: port), scheduler: "rr"),
                                                     realServers: [], servicePort: "\(owner):\(port)", owner: owner)]
            c.setMembers = [SetMember(.externalIP, .ipv4, IPSetEntry.ipPort(shared, .tcp, port))]
            return c
        }
        index.replace(owner: "a/one", with: c("a/one", port: 80))
        index.replace(owner: "b/two", with: c("b/two", port: 443))
        XCTAssertEqual(index.state.families[.ipv4]!.boundAddresses[shared], "a/one")
        let scope = index.replace(owner: "a/one", with: nil)
        XCTAssertEqual(index.state.families[.ipv4]!.boundAddresses[shared], "b/two", "the next claimant takes the address over")
        XCTAssertEqual(index.state.families[.ipv4]!.sets["KUBE-IPVS-IPS"]!.entries["192.0.2.10"], "b/two")
        XCTAssertEqual(index.state.families[.ipv4]!.virtualServers.keys.map(\.port), [443])
        XCTAssertTrue(scope.addresses.contains(shared))
        index.replace(owner: "b/two", with: nil)
        XCTAssertEqual(index.state.families[.ipv4]!.boundAddresses, [:])
        XCTAssertEqual(index.state.families[.ipv4]!.sets["KUBE-IPVS-IPS"]!.entries, [:])
    }
}

/// A small deterministic generator, so that a failing sequence can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
