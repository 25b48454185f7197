import Foundation
import XCTest
import KubeModel
@testable import ProxyCore

/// NodePort and local addresses from the node's links, as upstream kube-proxy's IPVS mode chooses them.
final class NodeAddressSelectionTests: XCTestCase {
    /// A node with loopback, two IPv4 links (one with two addresses), IPv6 global and link-local
    /// addresses, a docker bridge, and kube-ipvs0 holding two ClusterIPs, one of which (10.0.0.5)
    /// is also a real address of eth0 (kubernetes#114815).
    static let node: [InterfaceAddress] = [
        a("lo", "127.0.0.1", 8), a("lo", "::1", 128),
        a("eth0", "10.0.0.5", 24), a("eth0", "10.0.0.6", 24), a("eth0", "2001:db8::5", 64), a("eth0", "fe80::1", 64),
        a("eth1", "192.168.1.10", 24), a("eth1", "169.254.3.4", 16),
        a("docker0", "172.17.0.1", 16),
        a("kube-ipvs0", "10.96.0.1", 32), a("kube-ipvs0", "10.0.0.5", 32), a("kube-ipvs0", "fd00:96::1", 128),
    ]

    static func a(_ link: String, _ ip: String, _ prefix: Int) -> InterfaceAddress {
        InterfaceAddress(interface: link, address: IPAddress(ip)!, prefixLength: prefix)
    }

    static let v4: Set<IPFamily> = [.ipv4]
    static let dual: Set<IPFamily> = [.ipv4, .ipv6]

    struct Case {
        var name: String
        var nodePortAddresses: [String] = []
        var nodeIPs: [String] = ["10.0.0.5", "2001:db8::5"]
        var families: Set<IPFamily> = NodeAddressSelectionTests.dual
        var nodePort: [String]
    }

    let localDual = ["10.0.0.5", "10.0.0.6", "169.254.3.4", "172.17.0.1", "192.168.1.10", "2001:db8::5"]

    func testTable() {
        let cases: [Case] = [
            // Default: every address except loopback, IPv6 link-local and kube-ipvs0's (IPv4
            // link-local stays, as upstream's isValidForSet keeps it).
            Case(name: "all, dual-stack",
                 nodePort: ["10.0.0.5", "10.0.0.6", "169.254.3.4", "172.17.0.1", "192.168.1.10", "2001:db8::5"]),
            Case(name: "all, IPv4 only", families: Self.v4,
                 nodePort: ["10.0.0.5", "10.0.0.6", "169.254.3.4", "172.17.0.1", "192.168.1.10"]),
            // CIDRs select per family; a family without a CIDR keeps every address of its own.
            Case(name: "IPv4 CIDR, IPv6 all", nodePortAddresses: ["10.0.0.0/24"],
                 nodePort: ["10.0.0.5", "10.0.0.6", "2001:db8::5"]),
            Case(name: "both families' CIDRs", nodePortAddresses: ["192.168.0.0/16", "2001:db8::/32"],
                 nodePort: ["192.168.1.10", "2001:db8::5"]),
            Case(name: "two CIDRs, host prefix", nodePortAddresses: ["10.0.0.6/32", "172.16.0.0/12"], families: Self.v4,
                 nodePort: ["10.0.0.6", "172.17.0.1"]),
            Case(name: "a CIDR matching nothing", nodePortAddresses: ["203.0.113.0/24"], families: Self.v4, nodePort: []),
            // Loopback never, even when a CIDR covers it.
            Case(name: "loopback excluded", nodePortAddresses: ["127.0.0.0/8", "::1/128"], nodePort: []),
            // A CIDR can select an IPv6 link-local address (upstream matches every link's addresses).
            Case(name: "explicit link-local", nodePortAddresses: ["fe80::/10"], families: [.ipv6], nodePort: ["fe80::1"]),
            // 0.0.0.0/0 means all, whatever else is listed.
            Case(name: "zero CIDR", nodePortAddresses: ["10.0.0.0/24", "0.0.0.0/0"], families: Self.v4,
                 nodePort: ["10.0.0.5", "10.0.0.6", "169.254.3.4", "172.17.0.1", "192.168.1.10"]),
            // kube-ipvs0's addresses are never NodePort addresses (upstream would take 10.96.0.1 here).
            Case(name: "kube-ipvs0 excluded with CIDRs", nodePortAddresses: ["10.0.0.0/8"], families: Self.v4,
                 nodePort: ["10.0.0.5", "10.0.0.6"]),
            // primary: the Node's first IP of each family, as host prefixes.
            Case(name: "primary, dual", nodePortAddresses: ["primary"], nodePort: ["10.0.0.5", "2001:db8::5"]),
            Case(name: "primary, first InternalIP wins", nodePortAddresses: ["primary"], nodeIPs: ["192.168.1.10", "10.0.0.5"],
                 families: Self.v4, nodePort: ["192.168.1.10"]),
            // primary with an IPv4-only Node: IPv6 has no CIDR, so every IPv6 address (upstream).
            Case(name: "primary, IPv4 Node, dual families", nodePortAddresses: ["primary"], nodeIPs: ["10.0.0.6"],
                 nodePort: ["10.0.0.6", "2001:db8::5"]),
            // primary without any Node IP (or only loopback): every address (upstream's empty list).
            Case(name: "primary, no Node IP", nodePortAddresses: ["primary"], nodeIPs: [], families: Self.v4,
                 nodePort: ["10.0.0.5", "10.0.0.6", "169.254.3.4", "172.17.0.1", "192.168.1.10"]),
            Case(name: "primary, loopback Node IP", nodePortAddresses: ["primary"], nodeIPs: ["127.0.0.1"], families: Self.v4,
                 nodePort: ["10.0.0.5", "10.0.0.6", "169.254.3.4", "172.17.0.1", "192.168.1.10"]),
            // primary naming an address the node does not have: none.
            Case(name: "primary, absent IP", nodePortAddresses: ["primary"], nodeIPs: ["198.51.100.7"], families: Self.v4, nodePort: []),
        ]
        for c in cases {
            let s = NodeAddressSelection.select(addresses: Self.node, ipvsInterface: "kube-ipvs0", nodePortAddresses: c.nodePortAddresses,
                                                nodeIPs: c.nodeIPs.map { IPAddress($0)! }, families: c.families)
            XCTAssertEqual(s.nodePortAddresses.map(\.description), c.nodePort, c.name)
            let local = localDual.filter { c.families.contains(IPAddress($0)!.family) }
            XCTAssertEqual(s.localAddresses, Set(local.map { IPAddress($0)! }), c.name)
        }
    }

    /// Local addresses: kube-ipvs0 is skipped link by link, so an address also on eth0 is local
    /// (an externalIP equal to it is not bound on kube-ipvs0), but a ClusterIP only on kube-ipvs0 is not.
    func testLocalAddressesSkipOnlyKubeIPVS0sCopies() {
        let s = NodeAddressSelection.select(addresses: Self.node, ipvsInterface: "kube-ipvs0", nodePortAddresses: [],
                                            nodeIPs: [], families: Self.dual)
        XCTAssertTrue(s.localAddresses.contains(IPAddress("10.0.0.5")!))
        XCTAssertFalse(s.localAddresses.contains(IPAddress("10.96.0.1")!))
        XCTAssertFalse(s.localAddresses.contains(IPAddress("fd00:96::1")!))
        XCTAssertFalse(s.localAddresses.contains(IPAddress("127.0.0.1")!))
        XCTAssertFalse(s.localAddresses.contains(IPAddress("fe80::1")!))
        // Another name for the VIP link.
        let other = NodeAddressSelection.select(addresses: Self.node, ipvsInterface: "docker0", nodePortAddresses: [],
                                                nodeIPs: [], families: Self.v4)
        XCTAssertTrue(other.localAddresses.contains(IPAddress("10.96.0.1")!))
        XCTAssertFalse(other.localAddresses.contains(IPAddress("172.17.0.1")!))
    }

    /// Addresses listed twice (on two links) appear once; the result is sorted.
    func testDeduplicatedAndSorted() {
        let s = NodeAddressSelection.select(addresses: [Self.a("b", "10.0.0.2", 24), Self.a("a", "10.0.0.1", 24), Self.a("c", "10.0.0.2", 32)],
                                            ipvsInterface: "kube-ipvs0", nodePortAddresses: [], nodeIPs: [], families: Self.v4)
        XCTAssertEqual(s.nodePortAddresses.map(\.description), ["10.0.0.1", "10.0.0.2"])
    }

    func testPrimaryIPsAsGetNodeHostIPs() {
        func p(_ ips: [String]) -> [String] { NodeAddressSelection.primaryIPs(ips.map { IPAddress($0)! }).map(\.description) }
        XCTAssertEqual(p([]), [])
        XCTAssertEqual(p(["10.0.0.1", "10.0.0.2"]), ["10.0.0.1"])
        XCTAssertEqual(p(["10.0.0.1", "10.0.0.2", "fd00::1", "fd00::2"]), ["10.0.0.1", "fd00::1"])
        XCTAssertEqual(p(["fd00::1", "10.0.0.1"]), ["fd00::1", "10.0.0.1"])
        XCTAssertEqual(NodeAddressSelection.nodePortCIDRs(["primary"], nodeIPs: [IPAddress("10.0.0.1")!, IPAddress("fd00::1")!]).map(\.description),
                       ["10.0.0.1/32", "fd00::1/128"])
        XCTAssertEqual(NodeAddressSelection.nodePortCIDRs(["10.1.2.3/16"], nodeIPs: []).map(\.description), ["10.1.0.0/16"])
    }

    /// The Node object's preference order: InternalIPs, then ExternalIPs; other types ignored.
    func testNodeHostIPsPreferenceOrder() throws {
        let node = try JSONDecoder().decode(NodeResource.self, from: Data("""
        {"metadata": {"name": "n"}, "status": {"addresses": [
          {"type": "ExternalIP", "address": "203.0.113.9"}, {"type": "Hostname", "address": "n"},
          {"type": "InternalIP", "address": "10.0.0.5"}, {"type": "InternalIP", "address": "fd00::5"},
          {"type": "InternalIP", "address": "not-an-ip"}]}}
        """.utf8))
        XCTAssertEqual(node.hostIPsInPreferenceOrder.map(\.description), ["10.0.0.5", "fd00::5", "203.0.113.9"])
    }
}
