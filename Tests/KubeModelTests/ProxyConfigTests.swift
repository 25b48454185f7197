import XCTest
@testable import KubeModel

final class ProxyConfigTests: XCTestCase {
    func testUpstreamFieldsAreRead() throws {
        let c = try ProxyConfig.parse(yaml: """
        apiVersion: kubeproxy.config.k8s.io/v1alpha1
        kind: KubeProxyConfiguration
        mode: ipvs
        clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
        hostnameOverride: node1
        masqueradeAll: true
        nodePortAddresses: [192.168.0.0/16, "fd00::/64"]
        detectLocalMode: BridgeInterface
        detectLocal: {bridgeInterface: cbr0}
        syncPeriod: 1m0s
        minSyncPeriod: 500ms
        clientConnection: {kubeconfig: /etc/kubeconfig, qps: 5}
        iptables: {masqueradeBit: 15}
        ipvs:
          scheduler: mh
          strictARP: true
          excludeCIDRs: [10.100.0.0/16]
          tcpTimeout: 15m0s
          tcpFinTimeout: 30s
          udpTimeout: 5s
        conntrack: {maxPerCore: 32768}
        featureGates: {Anything: true}
        """)
        XCTAssertEqual(c.clusterCIDRs.map(\.description), ["10.244.0.0/16", "fd00:10:244::/56"])
        XCTAssertEqual(c.hostnameOverride, "node1")
        XCTAssertTrue(c.masqueradeAll)
        XCTAssertEqual(c.nodePortAddresses, ["192.168.0.0/16", "fd00::/64"])
        XCTAssertEqual(c.detectLocalMode, .bridgeInterface)
        XCTAssertEqual(c.bridgeInterface, "cbr0")
        XCTAssertEqual(c.syncPeriod, 60)
        XCTAssertEqual(c.minSyncPeriod, 0.5)
        XCTAssertEqual(c.kubeconfig, "/etc/kubeconfig")
        XCTAssertEqual(c.masqueradeBit, 15)
        XCTAssertEqual(c.masqueradeMarkHex, "0x8000")
        XCTAssertEqual(c.scheduler, "mh")
        XCTAssertTrue(c.strictARP)
        XCTAssertEqual(c.excludeCIDRs.map(\.description), ["10.100.0.0/16"])
        XCTAssertEqual([c.tcpTimeout, c.tcpFinTimeout, c.udpTimeout], [900, 30, 5])
    }

    func testDefaults() throws {
        let c = try ProxyConfig.parse(yaml: "kind: KubeProxyConfiguration\n")
        XCTAssertEqual(c.scheduler, "rr")
        XCTAssertEqual(c.masqueradeMarkHex, "0x4000")
        XCTAssertEqual(c.healthzBindAddress, "0.0.0.0:10256")
        XCTAssertEqual(c.metricsBindAddress, "127.0.0.1:10249")
        XCTAssertEqual(c.syncPeriod, 30)
    }

    func testErrorsNameTheField() {
        let cases: [(String, String)] = [
            ("clusterCidr: 10.0.0.0/8", "clusterCidr: unknown field"),
            ("ipvs: {schedular: rr}", "ipvs.schedular: unknown field"),
            ("clusterCIDR: 10.0.0.0/33", "clusterCIDR: \"10.0.0.0/33\" is not a valid CIDR"),
            ("iptables: {masqueradeBit: 32}", "iptables.masqueradeBit: 32 is out of range (0-31)"),
            ("ipvs: {tcpTimeout: soon}", "ipvs.tcpTimeout: \"soon\" is not a duration (like 30s, 1m0s, 500ms)"),
            ("ipvs: {strictARP: maybe}", "ipvs.strictARP: \"maybe\" is not true or false"),
            ("ipvs: {scheduler: \"r r\"}", "ipvs.scheduler: \"r r\" is not an IPVS scheduler name (rr, wrr, lc, wlc, sh, mh, ...)"),
            ("mode: iptables", "mode: \"iptables\": kube-ipvs implements only mode ipvs"),
            ("kind: Deployment", "kind: \"Deployment\" is not KubeProxyConfiguration"),
            ("nodePortAddresses: [foo]", "nodePortAddresses[0]: \"foo\" is not a CIDR or \"primary\""),
            ("nodePortAddresses: [10.0.0.0/8, primary]", "nodePortAddresses[1]: can't use both \"primary\" and CIDRs"),
            ("nodePortAddresses: [primary, primary]", "nodePortAddresses[0]: can't use both \"primary\" and CIDRs"),
            ("detectLocalMode: Magic", "detectLocalMode: unknown mode \"Magic\" (ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix)"),
        ]
        for (yaml, message) in cases {
            XCTAssertThrowsError(try ProxyConfig.parse(yaml: yaml), yaml) { e in
                XCTAssertEqual("\(e)", message)
            }
        }
    }

    func testGoDurations() {
        XCTAssertEqual(GoDuration.parse("1h2m3.5s"), 3723.5)
        XCTAssertEqual(GoDuration.parse("500ms"), 0.5)
        XCTAssertEqual(GoDuration.parse("0"), 0)
        XCTAssertEqual(GoDuration.parse("2m"), 120)
        XCTAssertNil(GoDuration.parse("5"))
        XCTAssertNil(GoDuration.parse("s"))
        XCTAssertNil(GoDuration.parse(""))
    }
}
