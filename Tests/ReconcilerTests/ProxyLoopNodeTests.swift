import Foundation
import XCTest
import KernelPort
import KubeModel
import ProxyCore
@testable import Reconciler
import TestSupport

/// The node's addresses as a test sets them; counts its reads.
final class FakeAddresses: NodeAddressSource, @unchecked Sendable {
    var addresses: [InterfaceAddress] = []
    var failure: String?
    var reads = 0
    var ipvsInterfaceName: String { "kube-ipvs0" }
    struct Failure: Error, CustomStringConvertible { var description: String }
    func interfaceAddresses() throws -> [InterfaceAddress]? {
        reads += 1
        if let failure { throw Failure(description: failure) }
        return addresses
    }
    static func a(_ link: String, _ ip: String, _ prefix: Int) -> InterfaceAddress {
        InterfaceAddress(interface: link, address: IPAddress(ip)!, prefixLength: prefix)
    }
}

/// ProxyLoop and the node: addresses, families, local endpoints.
final class ProxyLoopNodeTests: XCTestCase {
    func config(_ change: (inout ProxyConfig) -> Void = { _ in }) -> ProxyConfig {
        var c = ProxyConfig()
        c.clusterCIDRs = [CIDR("10.244.0.0/16")!]
        change(&c)
        return c
    }

    func service(_ name: String, ip: String, extra: String = "") -> ServiceResource {
        decode(KubeJSON.service(name, ip: ip, portName: "http", extra: extra))
    }

    func slice(_ name: String, _ eps: [(ip: String, node: String, ready: Bool)], family: String = "IPv4") -> EndpointSliceResource {
        let list = eps.map { KubeJSON.sliceEndpoint($0.ip, node: $0.node, ready: $0.ready, serving: true, terminating: !$0.ready) }
        return decode(KubeJSON.slice(service: name, name: "\(name)-x", list, portName: "http", addressType: family))
    }

    func node(_ addresses: [(type: String, ip: String)]) -> NodeResource { decode(KubeJSON.node(addresses: addresses)) }

    func loop(_ kernel: InMemoryKernel, config: ProxyConfig? = nil,
              services: [ServiceResource], slices: [EndpointSliceResource] = [], node: NodeResource? = nil) async -> ProxyLoop {
        let l = ProxyLoop(kernel: kernel, config: config ?? self.config(), nodeName: "node1")
        await l.replaceServices(services, at: 0)
        await l.replaceEndpointSources(slices, at: 0)
        await l.setNode(node, at: 0)
        await l.step(at: 0)
        return l
    }

    static let eth0 = [FakeAddresses.a("lo", "127.0.0.1", 8), FakeAddresses.a("eth0", "10.0.0.5", 24),
                       FakeAddresses.a("kube-ipvs0", "10.254.0.1", 32)]

    // MARK: - Addresses

    /// The addresses are read at every sync and make up the NodeContext; a change rebuilds every
    /// Service's contribution.
    func testAddressesAreReadEverySyncAndAChangeRecomputesEveryService() async {
        let addresses = FakeAddresses(), kernel = memoryKernel(addresses)
        addresses.addresses = Self.eth0
        let l = await loop(kernel, services: [service("a", ip: "10.254.0.1"), service("b", ip: "10.254.0.2")],
                           slices: [slice("a", [("10.244.1.2", "node1", true)]), slice("b", [("10.244.1.3", "node1", true)])])
        var r = await l.lastResult
        XCTAssertEqual(addresses.reads, 1)
        XCTAssertEqual(r?.nodeAddresses.nodePortAddresses, [IPAddress("10.0.0.5")!])
        XCTAssertEqual(r?.nodeAddresses.localAddresses, [IPAddress("10.0.0.5")!], "not loopback, not kube-ipvs0's")
        XCTAssertEqual(r?.nodeAddressesChanged, false)

        // Same addresses: only the changed Service is recomputed.
        await l.upsertEndpointSource(slice("a", [("10.244.1.2", "node1", true), ("10.244.1.4", "node2", true)]), at: 2)
        await l.step(at: 2)
        r = await l.lastResult
        XCTAssertEqual(addresses.reads, 2)
        XCTAssertEqual(r?.servicesRecomputed, 1)

        // A new address: both Services are recomputed, whatever changed.
        addresses.addresses.append(FakeAddresses.a("eth1", "192.168.1.10", 24))
        await l.upsertEndpointSource(slice("a", [("10.244.1.2", "node1", true)]), at: 4)
        await l.step(at: 4)
        r = await l.lastResult
        XCTAssertEqual(addresses.reads, 3)
        XCTAssertEqual(r?.nodeAddressesChanged, true)
        XCTAssertEqual(r?.servicesRecomputed, 2)
        XCTAssertEqual(r?.nodeAddresses.nodePortAddresses.map(\.description), ["10.0.0.5", "192.168.1.10"])
    }

    /// NodePort virtual servers are kube-ipvs's: a stale one left on a node address (a deleted
    /// NodePort Service while the daemon was down, its port still in KUBE-NODE-PORT-TCP) is deleted;
    /// one on another address is not, nor a hand-made one on a NodePort address whose port no
    /// NodePort uses.
    func testVirtualServersOnNodePortAddressesAreOwned() async {
        let addresses = FakeAddresses(), kernel = memoryKernel(addresses)
        addresses.addresses = Self.eth0 + [FakeAddresses.a("eth1", "192.168.1.10", 24)]
        let stale = VirtualServerKey(address: IPAddress("10.0.0.5")!, proto: .tcp, port: 30080)
        let foreign = VirtualServerKey(address: IPAddress("192.168.1.10")!, proto: .tcp, port: 30080)
        let handMade = VirtualServerKey(address: IPAddress("10.0.0.5")!, proto: .tcp, port: 8443)
        for k in [stale, foreign, handMade] {
            kernel.state.families[.ipv4, default: ObservedFamily()].virtualServers[k] =
                ObservedVirtualServer(server: VirtualServer(key: k, scheduler: "rr"), realServers: [:], stats: [:])
        }
        kernel.state.families[.ipv4]!.ipsets["KUBE-NODE-PORT-TCP"] = ObservedSet(spec: KubeSet.nodePortTCP.spec(for: .ipv4), entries: ["30080"])
        _ = await loop(kernel, config: config { $0.nodePortAddresses = ["10.0.0.0/24"] }, services: [])
        let left = Set(kernel.state.family(.ipv4).virtualServers.keys)
        XCTAssertFalse(left.contains(stale), "a NodePort on a NodePort address: owned, and wanted by no Service")
        XCTAssertTrue(left.contains(foreign), "192.168.1.10 is outside nodePortAddresses: not kube-ipvs's")
        XCTAssertTrue(left.contains(handMade), "port 8443 is no NodePort: hand-made, not kube-ipvs's")
    }

    /// Without an address source (run --dry-run), the Node object's status addresses stand in;
    /// `primary` takes its first InternalIP even when an ExternalIP is listed first.
    func testDryRunUsesTheNodeObjectsAddresses() async {
        let kernel = memoryKernel()
        let n = node([("ExternalIP", "203.0.113.9"), ("InternalIP", "10.0.0.5"), ("Hostname", "node1")])
        var l = await loop(kernel, services: [], node: n)
        var r = await l.lastResult
        XCTAssertEqual(r?.nodeAddresses.nodePortAddresses.map(\.description), ["10.0.0.5", "203.0.113.9"])
        XCTAssertEqual(r?.nodeAddresses.localAddresses, [IPAddress("10.0.0.5")!, IPAddress("203.0.113.9")!])

        l = await loop(kernel, config: config { $0.nodePortAddresses = ["primary"] }, services: [], node: n)
        r = await l.lastResult
        XCTAssertEqual(r?.nodeAddresses.nodePortAddresses.map(\.description), ["10.0.0.5"])

        // The Node's addresses change: the next sync follows.
        await l.setNode(node([("InternalIP", "10.0.0.7")]), at: 3)
        await l.step(at: 3)
        r = await l.lastResult
        XCTAssertEqual(r?.nodeAddresses.nodePortAddresses.map(\.description), ["10.0.0.7"])
        XCTAssertEqual(r?.nodeAddressesChanged, true)

        // No Node object: no address.
        l = await loop(kernel, services: [], node: nil)
        r = await l.lastResult
        XCTAssertEqual(r?.nodeAddresses, NodeAddressSelection())
    }

    /// A failed read keeps the previous addresses and says why.
    func testAFailedReadKeepsThePreviousAddresses() async {
        let addresses = FakeAddresses(), kernel = memoryKernel(addresses)
        addresses.addresses = Self.eth0
        let l = await loop(kernel, services: [service("a", ip: "10.254.0.1")])
        addresses.failure = "RTM_GETADDR: EBUSY"
        await l.upsertService(service("a", ip: "10.254.0.1", extra: #", "sessionAffinity": "ClientIP""#), at: 2)
        await l.step(at: 2)
        let r = await l.lastResult
        XCTAssertEqual(r?.addressError, "RTM_GETADDR: EBUSY")
        XCTAssertNil(r?.error, "the sync itself goes on")
        XCTAssertEqual(r?.nodeAddresses.nodePortAddresses, [IPAddress("10.0.0.5")!])
        XCTAssertEqual(r?.nodeAddressesChanged, false)
    }

    /// With the builder's NodePort support: virtual servers on the node's addresses, not on
    /// kube-ipvs0's; an address added shows at the next sync (the full resync at the latest); a
    /// local externalIP is not bound; a LoadBalancer whose source ranges hold the node's primary IP
    /// lets the node in.
    func testNodePortsExternalIPsAndSourceRangesUseTheNode() async {
        let addresses = FakeAddresses(), kernel = memoryKernel(addresses)
        addresses.addresses = Self.eth0
        let np: ServiceResource = decode("""
        {"metadata": {"name": "np", "namespace": "default"},
         "spec": {"type": "NodePort", "clusterIP": "10.254.0.1", "externalIPs": ["10.0.0.5", "192.0.2.1"],
                  "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080}]}}
        """)
        let lb: ServiceResource = decode("""
        {"metadata": {"name": "lb", "namespace": "default"},
         "spec": {"type": "LoadBalancer", "clusterIP": "10.254.0.2", "loadBalancerSourceRanges": ["10.0.0.0/24"],
                  "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30081}]},
         "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}}
        """)
        let l = await loop(kernel, services: [np, lb],
                           slices: [slice("np", [("10.244.1.2", "node1", true)]), slice("lb", [("10.244.1.3", "node1", true)])],
                           node: node([("InternalIP", "10.0.0.5")]))
        var vs = Set(kernel.state.family(.ipv4).virtualServers.keys)
        let key = { (ip: String, port: UInt16) in VirtualServerKey(address: IPAddress(ip)!, proto: .tcp, port: port) }
        XCTAssertTrue(vs.contains(key("10.0.0.5", 30080)))
        XCTAssertFalse(vs.contains(key("10.254.0.1", 30080)), "kube-ipvs0's addresses are not node addresses")
        XCTAssertFalse(vs.contains(key("127.0.0.1", 30080)))
        let bound = kernel.state.family(.ipv4).boundAddresses
        XCTAssertFalse(bound.contains(IPAddress("10.0.0.5")!), "an externalIP that is a node address is not bound")
        XCTAssertTrue(bound.contains(IPAddress("192.0.2.1")!))
        XCTAssertEqual(kernel.state.family(.ipv4).ipsets["KUBE-LOAD-BALANCER-SOURCE-IP"]?.entries, ["198.51.100.7,tcp:80,198.51.100.7"],
                       "the node's primary IP is inside the source ranges")

        addresses.addresses.append(FakeAddresses.a("eth1", "192.168.1.10", 24))
        await l.step(at: 31)
        vs = Set(kernel.state.family(.ipv4).virtualServers.keys)
        XCTAssertTrue(vs.contains(key("192.168.1.10", 30080)))
        XCTAssertTrue(vs.contains(key("192.168.1.10", 30081)))
    }

    // MARK: - Families

    /// The first IPv6 Service adds the IPv6 family: the kernel is read for it and its sets appear.
    func testAnIPv6ServiceAddsTheFamily() async {
        let kernel = memoryKernel()
        let l = await loop(kernel, services: [service("a", ip: "10.254.0.1")])
        var r = await l.lastResult
        XCTAssertEqual(r?.families, [.ipv4])
        XCTAssertNil(kernel.state.families[.ipv6]?.ipsets["KUBE-6-CLUSTER-IP"])
        let reads = kernel.observeCalls

        await l.upsertService(service("v6", ip: "fd00:254::10"), at: 2)
        await l.step(at: 2)
        r = await l.lastResult
        XCTAssertNil(r?.error)
        XCTAssertEqual(r?.families, [.ipv4, .ipv6])
        XCTAssertEqual(kernel.observeCalls, reads + 1, "the new family is read from the kernel")
        XCTAssertEqual(kernel.state.families[.ipv6]?.ipsets["KUBE-6-CLUSTER-IP"]?.entries, ["fd00:254::10,tcp:80"])
        XCTAssertEqual(r?.servicesRecomputed, 2, "an index is built for one set of families")

        // Nothing changes: no further read.
        await l.upsertService(service("v6", ip: "fd00:254::10", extra: #", "sessionAffinity": "ClientIP""#), at: 4)
        await l.step(at: 4)
        XCTAssertEqual(kernel.observeCalls, reads + 1)
    }

    // MARK: - Local endpoints

    func testLocalEndpointSummaryFollowsEndpoints() async {
        let kernel = memoryKernel()
        let lb = service("lb", ip: "10.254.0.3", extra: #", "type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 31234"#)
        let itp = service("itp", ip: "10.254.0.4", extra: #", "internalTrafficPolicy": "Local""#)
        let l = await loop(kernel, services: [lb, itp, service("plain", ip: "10.254.0.5")],
                           slices: [slice("lb", [("10.244.1.2", "node1", true), ("10.244.1.3", "node1", true), ("10.244.2.2", "node2", true)]),
                                    slice("itp", [("10.244.2.3", "node2", true)]),
                                    slice("plain", [("10.244.2.4", "node2", true)])])
        let lbRef = ObjectRef(namespace: "default", name: "lb")
        var r = await l.lastResult
        XCTAssertEqual(r?.localEndpoints, LocalEndpointSummary(noLocalInternal: 1, noLocalExternal: 0,
                                                               healthChecks: [lbRef: HealthCheckNodePort(port: 31234, localEndpoints: 2)],
                                                               noLocalInternalByFamily: [.ipv4: 1]))

        // An incremental sync updates only what changed. The lb's local pod is terminating: it still
        // takes traffic (no "no local endpoints"), but the health check reports 0 so that the load
        // balancer drains the node.
        await l.upsertEndpointSource(slice("lb", [("10.244.1.2", "node1", false), ("10.244.2.2", "node2", true)]), at: 2)
        await l.step(at: 2)
        r = await l.lastResult
        XCTAssertEqual(r?.servicesRecomputed, 1)
        XCTAssertEqual(r?.localEndpoints, LocalEndpointSummary(noLocalInternal: 1, noLocalExternal: 0,
                                                               healthChecks: [lbRef: HealthCheckNodePort(port: 31234, localEndpoints: 0)],
                                                               noLocalInternalByFamily: [.ipv4: 1]))
        // Then it is gone.
        await l.upsertEndpointSource(slice("lb", [("10.244.2.2", "node2", true)]), at: 3)
        await l.step(at: 3)
        r = await l.lastResult
        XCTAssertEqual(r?.localEndpoints, LocalEndpointSummary(noLocalInternal: 1, noLocalExternal: 1,
                                                               healthChecks: [lbRef: HealthCheckNodePort(port: 31234, localEndpoints: 0)],
                                                               noLocalInternalByFamily: [.ipv4: 1], noLocalExternalByFamily: [.ipv4: 1]))

        // The Service goes: so does its health check.
        await l.deleteService(lb, at: 5)
        await l.step(at: 5)
        r = await l.lastResult
        XCTAssertEqual(r?.localEndpoints, LocalEndpointSummary(noLocalInternal: 1, noLocalInternalByFamily: [.ipv4: 1]))
    }
}
