import Foundation
import KubeModel
import XCTest
@testable import ProxyCore

/// Golden plans: each `Scenarios/NAME.yaml` (a KubeProxyConfiguration, then Services, EndpointSlices
/// and the Node) is planned against an empty node and rendered as the dry-run prints it; the result
/// must equal `Golden/NAME.sh`. Comment lines `# nodePortAddresses: ...` and `# localAddresses: ...`
/// stand for what the daemon reads from the node's interfaces.
///
/// Regenerate after a deliberate change: `KUBE_IPVS_UPDATE_GOLDEN=1 swift test --filter ScenarioTests`,
/// then review the diff.
final class ScenarioTests: XCTestCase {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    struct Rendered { var text: String; var desired: DesiredState; var warnings: [String] }

    static func render(_ name: String) throws -> Rendered {
        let text = try String(contentsOf: dir.appendingPathComponent("Scenarios/\(name).yaml"), encoding: .utf8)
        func addresses(_ key: String) -> [IPAddress] {
            text.split(separator: "\n").first { $0.hasPrefix("# \(key):") }.map {
                $0.dropFirst(key.count + 3).split(separator: " ").map { IPAddress(String($0))! }
            } ?? []
        }
        let configDoc = text.components(separatedBy: "\n---\n")[0]
        let config = try ProxyConfig.parse(yaml: configDoc)
        let loaded = ManifestLoader().parse(text: text, source: name)
        XCTAssertEqual(loaded.diagnostics, [], "\(name): every object is valid")
        let nodeInfo = loaded.snapshot.nodes.first { $0.name == "node1" }
        let node = NodeContext(name: "node1", zone: nodeInfo?.zone, nodePortAddresses: addresses("nodePortAddresses"),
                               localAddresses: Set(addresses("localAddresses")), podCIDRs: nodeInfo?.podCIDRs ?? [],
                               nodeIPs: nodeInfo?.addresses ?? [])
        let desired = DesiredStateBuilder.build(snapshot: loaded.snapshot, config: config, node: node)
        let plan = Planner.plan(desired: desired, observed: .emptyNode)
        let counts = desired.counts
        let title = ["scenario \(name): \(loaded.snapshot.services.count) Service(s), \(counts.virtualServers) virtual server(s), \(counts.realServers) real server(s)"]
        return Rendered(text: ShellRenderer.render(plan, title: title), desired: desired, warnings: loaded.warnings.map(\.description))
    }

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Rendered {
        let r = try Self.render(name)
        let golden = Self.dir.appendingPathComponent("Golden/\(name).sh")
        if ProcessInfo.processInfo.environment["KUBE_IPVS_UPDATE_GOLDEN"] == "1" {
            try r.text.write(to: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        XCTAssertEqual(r.text, expected, "\(name): the plan differs from Golden/\(name).sh (KUBE_IPVS_UPDATE_GOLDEN=1 regenerates)",
                       file: file, line: line)
        return r
    }

    func testNodePort() throws {
        let r = try check("nodeport")
        XCTAssertTrue(r.text.contains("ipvsadm -A -t 192.168.50.1:30080 -s rr"))
        XCTAssertTrue(r.text.contains("ipvsadm -A -u 10.0.2.15:30053 -s rr"))
        XCTAssertTrue(r.text.contains("ipset add KUBE-NODE-PORT-SCTP-HASH 192.168.50.1,sctp:30868"))
        XCTAssertFalse(r.text.contains("ip addr add 192.168.50.1"), "node addresses are not bound on kube-ipvs0")
    }

    func testExternalTrafficPolicyLocal() throws {
        let r = try check("external-traffic-local")
        let f = r.desired.family(.ipv4)
        func rs(_ a: String, _ p: UInt16) -> [String] {
            (f.virtualServers[VirtualServerKey(address: IPAddress(a)!, proto: .tcp, port: p)]?.realServers.map { $0.key.address.description } ?? []).sorted()
        }
        XCTAssertEqual(rs("192.168.50.1", 30080), ["10.244.1.2"], "NodePort: local endpoint only")
        XCTAssertEqual(rs("192.168.60.10", 80), ["10.244.1.2"], "LoadBalancer: local endpoint only")
        XCTAssertEqual(rs("192.168.70.5", 80), ["10.244.1.2"], "externalIP: local endpoint only")
        XCTAssertEqual(rs("10.96.0.10", 80), ["10.244.1.2", "10.244.2.2"], "ClusterIP: every endpoint")
        XCTAssertEqual(rs("192.168.50.1", 30081), ["10.244.2.3", "10.244.3.3"], "no local endpoint: fall back to all")
        XCTAssertEqual(f.sets["KUBE-HEALTH-CHECK-NODE-PORT"]?.entries.keys.sorted(), ["32000"])
        XCTAssertEqual(f.sets["KUBE-NODE-PORT-LOCAL-TCP"]?.entries.keys.sorted(), ["30080", "30081"])
        XCTAssertEqual(f.sets["KUBE-EXTERNAL-IP-LOCAL"]?.entries.keys.sorted(), ["192.168.70.5,tcp:80"])
        XCTAssertEqual(f.sets["KUBE-EXTERNAL-IP"]?.entries.keys.sorted(), [])
    }

    func testLoadBalancerSourceRanges() throws {
        let r = try check("loadbalancer-source-ranges")
        let f = r.desired.family(.ipv4)
        XCTAssertEqual(f.sets["KUBE-LOAD-BALANCER-SOURCE-CIDR"]?.entries.keys.sorted(),
                       ["192.168.60.10,tcp:443,198.51.100.7", "192.168.60.10,tcp:443,203.0.113.0/24", "192.168.60.20,tcp:80,192.168.50.0/24"])
        XCTAssertEqual(f.sets["KUBE-LOAD-BALANCER-SOURCE-IP"]?.entries.keys.sorted(), ["192.168.60.20,tcp:80,192.168.60.20"])
        XCTAssertNil(f.boundAddresses[IPAddress("192.168.60.11")!], "ipMode Proxy is skipped")
        XCTAssertTrue(r.text.contains("-A KUBE-IPVS-OUT-FILTER -s 192.168.60.10/32 -m ipvs --vproto 6 --vaddr 192.168.60.10/32 --vport 443 -j DROP"))
        XCTAssertFalse(r.text.contains("--vaddr 192.168.60.20"), "the node may reach a LoadBalancer whose ranges include it")
        XCTAssertEqual(r.desired.family(.ipv4).virtualServers.keys.filter { $0.address == IPAddress("192.168.50.1")! }.map(\.port), [30090],
                       "partner (allocateLoadBalancerNodePorts=false) has no NodePort")
    }

    func testExternalIPs() throws {
        let r = try check("external-ips")
        let f = r.desired.family(.ipv4)
        XCTAssertNotNil(f.boundAddresses[IPAddress("192.168.70.5")!])
        XCTAssertNil(f.boundAddresses[IPAddress("192.168.50.1")!], "a local address is not bound again")
        XCTAssertNotNil(f.virtualServers[VirtualServerKey(address: IPAddress("192.168.50.1")!, proto: .tcp, port: 8000)])
    }

    func testEndpointSelection() throws {
        let r = try check("endpoint-selection")
        let f = r.desired.family(.ipv4)
        func rs(_ a: String) -> [String] {
            (f.virtualServers[VirtualServerKey(address: IPAddress(a)!, proto: .tcp, port: 80)]?.realServers.map { $0.key.address.description } ?? ["<no VS>"]).sorted()
        }
        XCTAssertEqual(rs("10.96.1.1"), ["10.244.1.2"])
        XCTAssertEqual(rs("10.96.1.2"), [])
        XCTAssertEqual(rs("10.96.1.3"), ["10.244.2.4"])
        XCTAssertEqual(rs("10.96.1.4"), ["10.244.2.6"])
        XCTAssertEqual(rs("10.96.1.5"), ["10.244.1.7"])
        let sticky = f.virtualServers[VirtualServerKey(address: IPAddress("10.96.1.6")!, proto: .tcp, port: 80)]!.server
        XCTAssertTrue(sticky.flags.contains(.persistent))
        XCTAssertEqual(sticky.timeout, 600)
    }

    func testDualStack() throws {
        let r = try check("dual-stack")
        XCTAssertTrue(r.text.contains("ipset add KUBE-6-CLUSTER-IP fd00:96::10,tcp:80"))
        XCTAssertTrue(r.text.contains("ip addr add fd00:96::10/128 dev kube-ipvs0"))
        XCTAssertTrue(r.text.contains("ipvsadm -A -t [fd00:50::1]:30080 -s rr"))
        XCTAssertTrue(r.text.contains("ipvsadm -a -t [fd00:50::1]:30080 -r [fd00:244:0:1::2]:8080 -m"))
        XCTAssertTrue(r.text.contains("ip6tables"))
    }

    func testSchedulerAnnotations() throws {
        let r = try check("schedulers")
        let f = r.desired.family(.ipv4)
        func vs(_ a: String) -> VirtualServer { f.virtualServers[VirtualServerKey(address: IPAddress(a)!, proto: .tcp, port: 80)]!.server }
        XCTAssertEqual(vs("10.96.2.1").scheduler, "mh")
        XCTAssertEqual(vs("10.96.2.1").flags, [.sched1, .sched2])
        XCTAssertEqual(vs("10.96.2.2").scheduler, "sh")
        XCTAssertEqual(vs("10.96.2.2").flags, [.sched2])
        XCTAssertEqual(vs("10.96.2.3").flags, [.sched2], "mh without flags: mh-port, as upstream")
        XCTAssertEqual(vs("10.96.2.4").scheduler, "wlc", "an unknown scheduler falls back to the configured one")
        XCTAssertEqual(vs("10.96.2.5").scheduler, "lc")
        XCTAssertTrue(r.text.contains("ipvsadm -A -t 10.96.2.1:80 -s mh -b mh-fallback,mh-port"))
        XCTAssertTrue(r.text.contains("modprobe ip_vs_mh"))
        XCTAssertEqual(r.warnings.count, 1)
        XCTAssertTrue(r.warnings.first?.contains("apps/typo: metadata.annotations[kube-ipvs.io/scheduler]: unknown IPVS scheduler \"round-robin\"") ?? false,
                      "\(r.warnings)")
    }

    func testSkippedServicesAndOptions() throws {
        let r = try check("skipped-and-options")
        XCTAssertEqual(r.desired.family(.ipv4).virtualServers.keys.map(\.address.description), ["10.96.3.3"])
        XCTAssertTrue(r.text.contains("sysctl -w net.ipv4.conf.all.arp_ignore=1"))
        XCTAssertTrue(r.text.contains("! -i veth+ -m comment"))
        XCTAssertTrue(r.text.contains("0x20"))
    }
}
