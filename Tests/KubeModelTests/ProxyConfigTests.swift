import XCTest
@testable import KubeModel

/// `body` as a whole KubeProxyConfiguration document (apiVersion and kind are required).
func configDocument(_ body: String) -> String {
    "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n" + body
}

final class ProxyConfigTests: XCTestCase {
    func testUpstreamFieldsAreRead() throws {
        let c = try ProxyConfig.parse(yaml: """
        apiVersion: kubeproxy.config.k8s.io/v1alpha1
        kind: KubeProxyConfiguration
        mode: ipvs
        clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
        hostnameOverride: node1
        nodePortAddresses: [192.168.0.0/16, "fd00::/64"]
        detectLocalMode: BridgeInterface
        detectLocal: {bridgeInterface: cbr0}
        clientConnection: {kubeconfig: /etc/kubeconfig, qps: 5}
        iptables: {masqueradeBit: 15, masqueradeAll: true}
        ipvs:
          syncPeriod: 1m0s
          minSyncPeriod: 500ms
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
        let c = try ProxyConfig.parse(yaml: configDocument(""))
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
            ("apiVersion: kubeproxy.config.k8s.io/v1alpha2", "apiVersion: \"kubeproxy.config.k8s.io/v1alpha2\" is not kubeproxy.config.k8s.io/v1alpha1"),
            ("nodePortAddresses: [foo]", "nodePortAddresses[0]: \"foo\" is not a CIDR or \"primary\""),
            ("nodePortAddresses: [10.0.0.0/8, primary]", "nodePortAddresses[1]: can't use both \"primary\" and CIDRs"),
            ("nodePortAddresses: [primary, primary]", "nodePortAddresses[0]: can't use both \"primary\" and CIDRs"),
            ("detectLocalMode: Magic", "detectLocalMode: unknown mode \"Magic\" (ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix)"),
        ]
        for (yaml, message) in cases {
            XCTAssertThrowsError(try ProxyConfig.parse(yaml: configDocument(yaml)), yaml) { e in
                XCTAssertEqual("\(e)", message)
            }
        }
    }

    /// Every number and duration is range-checked with an error naming the field; none traps.
    func testNumericFieldsAtTheirEdges() throws {
        func parse(_ yaml: String) throws -> ProxyConfig { try ProxyConfig.parse(yaml: configDocument(yaml)) }
        XCTAssertEqual(try parse("ipvs: {tcpTimeout: 0s}").tcpTimeout, 0)
        XCTAssertEqual(try parse("ipvs: {tcpTimeout: 2147483s}").tcpTimeout, 2_147_483)
        XCTAssertEqual(try parse("ipvs: {udpTimeout: 1.9s}").udpTimeout, 1, "fractions are dropped")
        let huge = "1" + String(repeating: "0", count: 400) + "s"
        let errors: [(String, String)] = [
            ("ipvs: {tcpTimeout: 2147484s}", "ipvs.tcpTimeout: 2147484s is out of range (0s-2147483s, the most the kernel accepts)"),
            ("ipvs: {tcpFinTimeout: 5000000000s}", "ipvs.tcpFinTimeout: 5000000000s is out of range (0s-2147483s, the most the kernel accepts)"),
            ("ipvs: {udpTimeout: \(huge)}", "ipvs.udpTimeout: \"\(huge)\" is not a duration (like 30s, 1m0s, 500ms)"),
            ("ipvs: {syncPeriod: 1000000000000s}", "ipvs.syncPeriod: \"1000000000000s\" is not a duration (like 30s, 1m0s, 500ms)"),
            ("ipvs: {syncPeriod: 2562048h}", "ipvs.syncPeriod: \"2562048h\" is not a duration (like 30s, 1m0s, 500ms)"),
            ("ipvs: {minSyncPeriod: NaNs}", "ipvs.minSyncPeriod: \"NaNs\" is not a duration (like 30s, 1m0s, 500ms)"),
            ("ipvs: {syncPeriod: infs}", "ipvs.syncPeriod: \"infs\" is not a duration (like 30s, 1m0s, 500ms)"),
            ("ipvs: {syncPeriod: -1s}", "ipvs.syncPeriod: -1s must be greater than 0"),
            ("ipvs: {minSyncPeriod: -1s}", "ipvs.minSyncPeriod: -1s must be greater than or equal to 0"),
            ("ipvs: {tcpTimeout: -1s}", "ipvs.tcpTimeout: -1s is out of range (0s-2147483s, the most the kernel accepts)"),
            ("iptables: {masqueradeBit: -1}", "iptables.masqueradeBit: -1 is out of range (0-31)"),
            ("iptables: {masqueradeBit: 99999999999999999999}", "iptables.masqueradeBit: \"99999999999999999999\" is not an integer"),
            ("iptables: {masqueradeBit: 4294967296}", "iptables.masqueradeBit: 4294967296 is out of range (-2147483648-2147483647)"),
            ("detectLocal: {bridgeInterface: \"cbr0\\nEOF\"}", "detectLocal.bridgeInterface: \"cbr0\nEOF\" is not an interface name (at most 15 of a-z, A-Z, 0-9 and .-_@+)"),
            ("detectLocal: {interfaceNamePrefix: veth-with-a-long-name}", "detectLocal.interfaceNamePrefix: \"veth-with-a-long-name\" is not an interface name (at most 15 of a-z, A-Z, 0-9 and .-_@+)"),
        ]
        for (yaml, message) in errors {
            XCTAssertThrowsError(try parse(yaml), yaml) { XCTAssertEqual("\($0)", message, yaml) }
        }
        // The longest duration Go has (int64 nanoseconds) is accepted; Swift's sleep takes it.
        XCTAssertEqual(try parse("ipvs: {syncPeriod: 2562047h}").syncPeriod, 2_562_047 * 3600)
        XCTAssertEqual(try parse("ipvs: {syncPeriod: 0s}").syncPeriod, 30, "0 is the default, as upstream")
        XCTAssertEqual(try parse("iptables: {masqueradeBit: 0}").masqueradeMark, 1)
        XCTAssertEqual(try parse("iptables: {masqueradeBit: 31}").masqueradeMark, 0x8000_0000)
        XCTAssertEqual(try parse("detectLocal: {bridgeInterface: cbr0}").bridgeInterface, "cbr0")
        for seconds in [-1, .nan, .infinity, -.infinity, 2_147_484, 1e300] {
            XCTAssertThrowsError(try ProxyConfig.ipvsTimeout(seconds, field: "f"), "\(seconds)")
        }
        var c = ProxyConfig()
        for bit in [-1, 32, Int.max, Int.min] {
            c.masqueradeBit = bit
            XCTAssertEqual(c.masqueradeMark, 0, "\(bit)")
        }
    }

    /// The longest duration `parse` returns is one Swift's Duration and Task.sleep take (the
    /// daemon sleeps up to syncPeriod): neither traps.
    func testLongestDurationIsOneSwiftCanSleep() async {
        let sleeper = Task { try? await Task.sleep(for: .seconds(GoDuration.maxSeconds)) }
        sleeper.cancel()
        await sleeper.value
        XCTAssertEqual(Duration.seconds(GoDuration.maxSeconds).components.seconds, 9_223_372_036)
    }

    func testGoDurations() {
        XCTAssertEqual(GoDuration.parse("1h2m3.5s"), 3723.5)
        XCTAssertEqual(GoDuration.parse("500ms"), 0.5)
        XCTAssertEqual(GoDuration.parse("0"), 0)
        XCTAssertEqual(GoDuration.parse("2m"), 120)
        XCTAssertNil(GoDuration.parse("5"))
        XCTAssertNil(GoDuration.parse("s"))
        XCTAssertNil(GoDuration.parse(""))
        XCTAssertNil(GoDuration.parse("1e3s"))
        XCTAssertNil(GoDuration.parse("٣s"), "digits of other scripts")
        XCTAssertEqual(GoDuration.parse("9223372036s"), 9_223_372_036)
        XCTAssertNil(GoDuration.parse("9223372037s"), "beyond int64 nanoseconds, as Go")
    }
}
