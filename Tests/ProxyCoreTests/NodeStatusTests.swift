import Foundation
import XCTest
import KubeModel
@testable import ProxyCore

/// `NodeStatus`: labels, drift, the text layout and the JSON shape of `kube-ipvs status`.
final class NodeStatusTests: XCTestCase {
    let nodeIPs: Set<IPAddress> = [Fx.ip(CleanupTests.nodeIP)]

    /// The programmed node of CleanupTests with counters on one real server.
    func node() -> ObservedState {
        var n = CleanupTests.node()
        let key = Fx.vsKey("10.254.10.128", 80)
        n.families[.ipv4]!.virtualServers[key]!.stats[RealServerKey(address: Fx.ip("10.244.1.2"), port: 8080)] =
            RealServerStats(activeConnections: 3, inactiveConnections: 7, persistentConnections: 1)
        return n
    }

    func status(_ observed: ObservedState, desired: DesiredState? = CleanupTests.desired()) -> NodeStatus {
        NodeStatus.build(observed: observed, desired: desired, services: desired == nil ? nil : 3, nodeAddresses: nodeIPs)
    }

    func entry(_ s: NodeStatus, _ key: VirtualServerKey) -> VirtualServerStatus? {
        s.virtualServers.first { $0.server.key == key }
    }

    func testLabelsAndZeroDriftWhenInStep() {
        let s = status(node())
        XCTAssertEqual(s.drift?.operations, [])
        XCTAssertEqual(entry(s, Fx.vsKey("10.254.10.128", 80))?.servicePort, "default/web-service:80")
        XCTAssertEqual(entry(s, Fx.vsKey("10.254.10.128", 80))?.state, .wanted)
        XCTAssertEqual(entry(s, Fx.vsKey(CleanupTests.nodeIP, 30080))?.servicePort, "default/np:http")
        XCTAssertEqual(entry(s, Fx.vsKey(CleanupTests.nodeIP, 30053, .udp))?.servicePort, "default/np:dns")
        XCTAssertEqual(entry(s, Fx.vsKey("10.9.9.9", 80))?.state, .notOwned)
        XCTAssertEqual(entry(s, Fx.vsKey(CleanupTests.nodeIP, 8080))?.state, .notOwned)
        XCTAssertEqual(s.virtualServers.count, 9 + 3)
        let rs = entry(s, Fx.vsKey("10.254.10.128", 80))!.realServers
        XCTAssertEqual(rs.map(\.stats), [RealServerStats(activeConnections: 3, inactiveConnections: 7, persistentConnections: 1)])
    }

    func testDriftListsWhatSyncWouldDo() {
        var n = node()
        let web = Fx.vsKey("10.254.10.128", 80)
        // Someone deleted a real server and added a virtual server on a Service address.
        n.families[.ipv4]!.virtualServers[web]!.realServers = [:]
        let strayKey = Fx.vsKey("10.254.10.128", 443)
        n.families[.ipv4]!.virtualServers[strayKey] = ObservedVirtualServer(server: VirtualServer(key: strayKey, scheduler: "rr"))
        // And a whole Service's virtual server is gone.
        n.families[.ipv4]!.virtualServers[Fx.vsKey("10.254.20.2", 80)] = nil
        let s = status(n)
        XCTAssertEqual(entry(s, strayKey)?.state, .stale)
        XCTAssertEqual(entry(s, Fx.vsKey("10.254.20.2", 80))?.state, .missing)
        XCTAssertEqual(entry(s, Fx.vsKey("10.254.20.2", 80))?.servicePort, "default/ext:80")
        let ops = s.drift!.operations.map(\.operation)
        XCTAssertEqual(ops.count, 4, "\(ops)")
        XCTAssertTrue(ops.contains(.addRealServer(web, RealServer(key: RealServerKey(address: Fx.ip("10.244.1.2"), port: 8080)))))
        XCTAssertTrue(ops.contains(.addVirtualServer(VirtualServer(key: Fx.vsKey("10.254.20.2", 80), scheduler: "rr"))))
        XCTAssertTrue(ops.contains(.deleteVirtualServer(strayKey)))

        let text = s.text(title: "t")
        XCTAssertTrue(text.contains("Drift: 4 operations (ipvs 4) that sync would apply\n"), text)
        XCTAssertTrue(text.contains("  ipvsadm -a -t 10.254.10.128:80 -r 10.244.1.2:8080 -m -w 1   # default/web-service\n"), text)
        XCTAssertTrue(text.contains("  ipvsadm -D -t 10.254.10.128:443\n"), text)
        XCTAssertTrue(text.contains("TCP  10.254.10.128:443 rr  [stale]\n"), text)
        XCTAssertTrue(text.contains("TCP  10.254.20.2:80 rr  [missing: default/ext:80]\n"), text)
    }

    func testExcludedStaleServerIsLabelled() {
        var n = node()
        let stray = Fx.vsKey("10.254.10.128", 443)
        n.families[.ipv4]!.virtualServers[stray] = ObservedVirtualServer(server: VirtualServer(key: stray, scheduler: "rr"))
        var d = CleanupTests.desired()
        d.excludeCIDRs = [CIDR("10.254.10.128/32")!]
        let s = status(n, desired: d)
        XCTAssertEqual(entry(s, stray)?.state, .excluded)
        XCTAssertEqual(s.drift?.operations, [])
    }

    func testWithoutSourceOnlyOwnershipAndUnknownDrift() {
        let s = status(node(), desired: nil)
        XCTAssertNil(s.drift)
        XCTAssertEqual(entry(s, Fx.vsKey("10.254.10.128", 80))?.state, .owned)
        XCTAssertEqual(entry(s, Fx.vsKey(CleanupTests.nodeIP, 30080))?.state, .owned)
        XCTAssertEqual(entry(s, Fx.vsKey("10.9.9.9", 80))?.state, .notOwned)
        XCTAssertNil(entry(s, Fx.vsKey("10.254.10.128", 80))?.servicePort)
        XCTAssertTrue(s.text(title: "t").hasSuffix("Drift: unknown (no -f manifests and no --kubeconfig: nothing says what the node should hold)\n"))
    }

    func testTextLayoutFollowsIpvsadm() {
        var n = ObservedState()
        var f = ObservedFamily()
        let key = Fx.vsKey("10.254.10.128", 80)
        f.boundAddresses = [key.address]
        let rk = RealServerKey(address: Fx.ip("10.244.1.2"), port: 8080)
        f.virtualServers[key] = ObservedVirtualServer(
            server: VirtualServer(key: key, scheduler: "rr", flags: [.persistent], timeout: 10800),
            realServers: [rk: RealServer(key: rk)], stats: [rk: RealServerStats(activeConnections: 2, inactiveConnections: 5)])
        n.families[.ipv4] = f
        let text = NodeStatus.build(observed: n, desired: nil, services: nil, nodeAddresses: []).text(title: "T")
        XCTAssertEqual(text, """
            T
            Prot LocalAddress:Port Scheduler Flags
              -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
            TCP  10.254.10.128:80 rr persistent 10800  [owned]
              -> 10.244.1.2:8080              Masq    1      2          5

            Drift: unknown (no -f manifests and no --kubeconfig: nothing says what the node should hold)

            """)
    }

    func testInStepText() {
        let text = status(node()).text(title: "T")
        XCTAssertTrue(text.hasSuffix("\nDrift: none; the node is in step with 3 Service(s)\n"), text)
        XCTAssertTrue(text.contains("TCP  10.254.10.128:80 rr  [default/web-service:80]\n  -> 10.244.1.2:8080              Masq    1      3          7\n"), text)
        XCTAssertTrue(text.contains("TCP  10.9.9.9:80 wlc  [not owned]\n"), text)
    }

    func testJSONShape() throws {
        var n = node()
        n.families[.ipv4]!.virtualServers[Fx.vsKey("10.254.20.2", 80)] = nil
        let doc = NodeStatusDocument(status: status(n), node: "node1", source: "manifests", errors: ["Service default/x: spec.ports[0].port: missing"])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(doc)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(Set(obj.keys), ["node", "source", "services", "virtualServers", "drift", "errors"])
        XCTAssertEqual(obj["node"] as? String, "node1")
        XCTAssertEqual(obj["services"] as? Int, 3)
        let servers = try XCTUnwrap(obj["virtualServers"] as? [[String: Any]])
        let web = try XCTUnwrap(servers.first { $0["address"] as? String == "10.254.10.128" && $0["port"] as? Int == 80 })
        XCTAssertEqual(web["protocol"] as? String, "TCP")
        XCTAssertEqual(web["scheduler"] as? String, "rr")
        XCTAssertEqual(web["state"] as? String, "wanted")
        XCTAssertEqual(web["service"] as? String, "default/web-service:80")
        XCTAssertEqual(web["ownership"] as? String, "address on kube-ipvs0")
        XCTAssertEqual(web["flags"] as? [String], [])
        XCTAssertNil(web["persistenceTimeout"])
        let rs = try XCTUnwrap((web["realServers"] as? [[String: Any]])?.first)
        XCTAssertEqual(rs["address"] as? String, "10.244.1.2")
        XCTAssertEqual(rs["port"] as? Int, 8080)
        XCTAssertEqual(rs["forwarding"] as? String, "masq")
        XCTAssertEqual(rs["weight"] as? Int, 1)
        XCTAssertEqual(rs["activeConnections"] as? Int, 3)
        XCTAssertEqual(rs["inactiveConnections"] as? Int, 7)
        XCTAssertEqual(rs["persistentConnections"] as? Int, 1)
        let foreign = try XCTUnwrap(servers.first { $0["address"] as? String == "10.9.9.9" })
        XCTAssertEqual(foreign["state"] as? String, "not owned")
        XCTAssertNil(foreign["service"])
        XCTAssertNil(foreign["ownership"])
        let drift = try XCTUnwrap(obj["drift"] as? [String: Any])
        XCTAssertEqual(drift["inStep"] as? Bool, false)
        XCTAssertEqual(drift["summary"] as? [String: Int], ["total": 2, "ipvs": 2])
        let ops = try XCTUnwrap(drift["operations"] as? [[String: Any]])
        XCTAssertEqual(ops.map { $0["op"] as? String }, ["addVirtualServer", "addRealServer"])
        XCTAssertEqual(ops.first?["owner"] as? String, "default/ext")

        // Without a source the drift is null, not absent.
        let none = NodeStatusDocument(status: status(node(), desired: nil), node: "node1", source: "none")
        let text = String(decoding: try encoder.encode(none), as: UTF8.self)
        XCTAssertTrue(text.contains("\"drift\":null"), text)
    }
}
