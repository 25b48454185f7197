import XCTest
@testable import KubeModel

/// Upstream's `--write-config-to` output, rebuilt from its v1alpha1 types and defaulting
/// (kubernetes v1.20.2: cmd/kube-proxy/app, pkg/proxy/apis/config/v1alpha1/defaults.go; the
/// latest: staging/src/k8s.io/kube-proxy/config/v1alpha1/types.go, keys sorted as upstream's
/// YAML writer sorts them).
enum UpstreamConfigs {
    static let writeConfigTo120 = """
        apiVersion: kubeproxy.config.k8s.io/v1alpha1
        bindAddress: 0.0.0.0
        bindAddressHardFail: false
        clientConnection:
          acceptContentTypes: ""
          burst: 10
          contentType: application/vnd.kubernetes.protobuf
          kubeconfig: ""
          qps: 5
        clusterCIDR: ""
        configSyncPeriod: 15m0s
        conntrack:
          maxPerCore: 32768
          min: 131072
          tcpCloseWaitTimeout: 1h0m0s
          tcpEstablishedTimeout: 24h0m0s
        detectLocalMode: ""
        enableProfiling: false
        healthzBindAddress: 0.0.0.0:10256
        hostnameOverride: ""
        iptables:
          masqueradeAll: false
          masqueradeBit: 14
          minSyncPeriod: 1s
          syncPeriod: 30s
        ipvs:
          excludeCIDRs: null
          minSyncPeriod: 0s
          scheduler: ""
          strictARP: false
          syncPeriod: 30s
          tcpFinTimeout: 0s
          tcpTimeout: 0s
          udpTimeout: 0s
        kind: KubeProxyConfiguration
        metricsBindAddress: 127.0.0.1:10249
        mode: ""
        nodePortAddresses: null
        oomScoreAdj: -999
        portRange: ""
        showHiddenMetricsForVersion: ""
        udpIdleTimeout: 250ms
        winkernel:
          enableDSR: false
          networkName: ""
          sourceVip: ""

        """

    static let writeConfigToLatest = """
        apiVersion: kubeproxy.config.k8s.io/v1alpha1
        bindAddress: 0.0.0.0
        bindAddressHardFail: false
        clientConnection:
          acceptContentTypes: ""
          burst: 10
          contentType: application/vnd.kubernetes.protobuf
          kubeconfig: ""
          qps: 5
        clusterCIDR: ""
        configSyncPeriod: 15m0s
        conntrack:
          maxPerCore: 32768
          min: 131072
          tcpBeLiberal: false
          tcpCloseWaitTimeout: 1h0m0s
          tcpEstablishedTimeout: 24h0m0s
          udpStreamTimeout: 0s
          udpTimeout: 0s
        detectLocal:
          bridgeInterface: ""
          interfaceNamePrefix: ""
        detectLocalMode: ""
        enableProfiling: false
        healthzBindAddress: 0.0.0.0:10256
        hostnameOverride: ""
        iptables:
          localhostNodePorts: true
          masqueradeAll: false
          masqueradeBit: 14
          minSyncPeriod: 1s
          syncPeriod: 30s
        ipvs:
          excludeCIDRs: null
          minSyncPeriod: 0s
          scheduler: ""
          strictARP: false
          syncPeriod: 30s
          tcpFinTimeout: 0s
          tcpTimeout: 0s
          udpTimeout: 0s
        kind: KubeProxyConfiguration
        logging:
          flushFrequency: 0
          options:
            json:
              infoBufferSize: "0"
            text:
              infoBufferSize: "0"
          verbosity: 0
        metricsBindAddress: 127.0.0.1:10249
        mode: ""
        nftables:
          masqueradeAll: false
          masqueradeBit: 14
          minSyncPeriod: 1s
          syncPeriod: 30s
        nodePortAddresses: null
        oomScoreAdj: -999
        portRange: ""
        showHiddenMetricsForVersion: ""
        winkernel:
          enableDSR: false
          forwardHealthCheckVip: false
          networkName: ""
          rootHnsEndpointName: ""
          sourceVip: ""

        """
}

final class ProxyConfigEncodingTests: XCTestCase {
    /// Configurations unlike the default in every field the document carries.
    static var varied: [ProxyConfig] {
        var a = ProxyConfig()
        try! a.setClusterCIDRs("10.244.0.0/16,fd00:244::/56", field: "")
        a.scheduler = "mh"; a.strictARP = true
        a.excludeCIDRs = [CIDR("10.100.0.0/16")!, CIDR("fd00::/64")!]
        a.tcpTimeout = 900; a.tcpFinTimeout = 30; a.udpTimeout = 5
        a.masqueradeAll = true; a.masqueradeBit = 0
        a.nodePortAddresses = ["primary"]
        a.hostnameOverride = "node-1.example"
        a.syncPeriod = 90.5; a.minSyncPeriod = 0.25
        a.healthzBindAddress = "[::]:10256"; a.metricsBindAddress = "0.0.0.0:10249"
        a.detectLocalMode = .interfaceNamePrefix; a.interfaceNamePrefix = "veth"; a.bridgeInterface = "cbr0"
        a.kubeconfig = "/var/lib/kube-proxy/kubeconfig.conf"
        a.clientQPS = 0.5; a.clientBurst = 2_147_483_647
        a.contentType = "application/json"; a.acceptContentTypes = "application/json, */*"
        a.configSyncPeriod = 3723.5
        a.conntrack.maxPerCore = 0; a.conntrack.min = 7; a.conntrack.tcpEstablishedTimeout = 0.001
        a.conntrack.tcpCloseWaitTimeout = 0; a.conntrack.tcpBeLiberal = true
        a.conntrack.udpTimeout = 30; a.conntrack.udpStreamTimeout = 1e-9
        a.oomScoreAdj = 1000
        a.bindAddress = "fd00::5"; a.bindAddressHardFail = true; a.enableProfiling = true
        a.featureGates = ["A": true, "B": false, "true": true]
        a.showHiddenMetricsForVersion = "1.30"
        a.logVerbosity = 6; a.logFormat = "json"

        var b = ProxyConfig()
        b.hostnameOverride = "true"
        b.nodePortAddresses = ["10.0.0.0/8", "192.168.0.0/16"]
        b.detectLocalMode = .nodeCIDR
        b.kubeconfig = "a: b # c"
        b.acceptContentTypes = "\"quoted\"\n\ttab <&>"
        b.showHiddenMetricsForVersion = "1.20"
        b.clientQPS = 1e20
        b.logVerbosity = 0
        b.oomScoreAdj = -1000
        b.syncPeriod = GoDuration.maxSeconds.rounded(.down)
        return [ProxyConfig(), a, b]
    }

    func testRoundTrip() throws {
        for c in Self.varied {
            let yaml = c.kubeProxyConfigurationYAML()
            let back = try ProxyConfig.decode(yaml: yaml)
            XCTAssertEqual(back.warnings, [], yaml)
            XCTAssertEqual(back.config, c, yaml)
        }
    }

    /// The default configuration written as upstream writes it (only mode and the effective
    /// values kube-ipvs gives differ from upstream's defaults).
    func testDefaultDocument() {
        XCTAssertEqual(ProxyConfig().kubeProxyConfigurationYAML(), """
            apiVersion: kubeproxy.config.k8s.io/v1alpha1
            bindAddress: 0.0.0.0
            bindAddressHardFail: false
            clientConnection:
              acceptContentTypes: ""
              burst: 10
              contentType: application/vnd.kubernetes.protobuf
              kubeconfig: ""
              qps: 5
            clusterCIDR: ""
            configSyncPeriod: 15m0s
            conntrack:
              maxPerCore: 32768
              min: 131072
              tcpBeLiberal: false
              tcpCloseWaitTimeout: 1h0m0s
              tcpEstablishedTimeout: 24h0m0s
              udpStreamTimeout: 0s
              udpTimeout: 0s
            detectLocal:
              bridgeInterface: ""
              interfaceNamePrefix: ""
            detectLocalMode: ClusterCIDR
            enableProfiling: false
            healthzBindAddress: 0.0.0.0:10256
            hostnameOverride: ""
            iptables:
              localhostNodePorts: true
              masqueradeAll: false
              masqueradeBit: 14
              minSyncPeriod: 1s
              syncPeriod: 30s
            ipvs:
              excludeCIDRs: null
              minSyncPeriod: 1s
              scheduler: rr
              strictARP: false
              syncPeriod: 30s
              tcpFinTimeout: 0s
              tcpTimeout: 0s
              udpTimeout: 0s
            kind: KubeProxyConfiguration
            logging:
              flushFrequency: 5s
              options:
                json:
                  infoBufferSize: "0"
                text:
                  infoBufferSize: "0"
            metricsBindAddress: 127.0.0.1:10249
            mode: ipvs
            nftables:
              masqueradeAll: false
              masqueradeBit: 14
              minSyncPeriod: 1s
              syncPeriod: 30s
            nodePortAddresses: null
            oomScoreAdj: -999
            portRange: ""
            showHiddenMetricsForVersion: ""
            winkernel:
              enableDSR: false
              forwardHealthCheckVip: false
              networkName: ""
              rootHnsEndpointName: ""
              sourceVip: ""

            """)
    }

    func testLists() {
        var c = ProxyConfig()
        c.nodePortAddresses = ["10.0.0.0/8", "fd00::/64"]
        c.featureGates = ["Zeta": false, "Alpha": true]
        let yaml = c.kubeProxyConfigurationYAML()
        XCTAssertTrue(yaml.contains("\nnodePortAddresses:\n- 10.0.0.0/8\n- fd00::/64\n"), yaml)
        XCTAssertTrue(yaml.contains("\nfeatureGates:\n  Alpha: true\n  Zeta: false\n"), yaml)
    }

    /// /configz: upstream's internal KubeProxyConfiguration as Go's encoding/json writes it.
    func testConfigz() throws {
        XCTAssertEqual(ProxyConfig().configzJSON(), """
            {"kubeproxy.config.k8s.io":{"Linux":{"Conntrack":{"MaxPerCore":32768,"Min":131072,"TCPEstablishedTimeout":"24h0m0s",\
            "TCPCloseWaitTimeout":"1h0m0s","TCPBeLiberal":false,"UDPTimeout":"0s","UDPStreamTimeout":"0s"},"MasqueradeAll":false,\
            "OOMScoreAdj":-999},"Windows":{"RunAsService":false},"FeatureGates":{},"ClientConnection":{"Kubeconfig":"",\
            "AcceptContentTypes":"","ContentType":"application/vnd.kubernetes.protobuf","QPS":5,"Burst":10},\
            "Logging":{"format":"text","flushFrequency":"5s","verbosity":0,"options":{"text":{"infoBufferSize":"0"},\
            "json":{"infoBufferSize":"0"}}},"HostnameOverride":"","BindAddress":"0.0.0.0","HealthzBindAddress":"0.0.0.0:10256",\
            "MetricsBindAddress":"127.0.0.1:10249","BindAddressHardFail":false,"EnableProfiling":false,\
            "ShowHiddenMetricsForVersion":"","Mode":"ipvs","IPTables":{"MasqueradeBit":14,"LocalhostNodePorts":true},\
            "IPVS":{"Scheduler":"rr","ExcludeCIDRs":null,"StrictARP":false,"TCPTimeout":"0s","TCPFinTimeout":"0s",\
            "UDPTimeout":"0s"},"Winkernel":{"NetworkName":"","SourceVip":"","EnableDSR":false,"RootHnsEndpointName":"",\
            "ForwardHealthCheckVip":false},"NFTables":{"MasqueradeBit":14},"DetectLocalMode":"ClusterCIDR",\
            "DetectLocal":{"BridgeInterface":"","ClusterCIDRs":null,"InterfaceNamePrefix":""},"NodePortAddresses":null,\
            "SyncPeriod":"30s","MinSyncPeriod":"1s","ConfigSyncPeriod":"15m0s"}}
            """)
        for c in Self.varied {
            let json = try JSONSerialization.jsonObject(with: Data(c.configzJSON().utf8)) as? [String: Any]
            let body = try XCTUnwrap(json?["kubeproxy.config.k8s.io"] as? [String: Any])
            XCTAssertEqual(body["HostnameOverride"] as? String, c.hostnameOverride ?? "")
            XCTAssertEqual((body["ClientConnection"] as? [String: Any])?["AcceptContentTypes"] as? String, c.acceptContentTypes)
        }
        var c = ProxyConfig()
        c.hostnameOverride = "<a&b>"
        XCTAssertTrue(c.configzJSON().contains("\"HostnameOverride\":\"\\u003ca\\u0026b\\u003e\""), "Go escapes HTML characters")
    }

    func testGoFloat() {
        let cases: [(Float, String)] = [(5, "5"), (0.5, "0.5"), (2.5, "2.5"), (0.1, "0.1"), (1e20, "100000000000000000000"),
                                        (1e21, "1e+21"), (1e-7, "1e-7"), (0.000001, "0.000001"), (123.25, "123.25"), (0, "0")]
        for (f, text) in cases { XCTAssertEqual(ProxyConfig.goFloat(f), text, "\(f)") }
    }

    func testGoDurationText() {
        let cases: [(Double, String)] = [
            (0, "0s"), (30, "30s"), (900, "15m0s"), (3600, "1h0m0s"), (86400, "24h0m0s"), (90.5, "1m30.5s"),
            (0.25, "250ms"), (1.5e-3, "1.5ms"), (5e-4, "500µs"), (1e-9, "1ns"), (-60, "-1m0s"), (3723.5, "1h2m3.5s"),
            (GoDuration.maxSeconds, "2562047h47m16.854775807s"),
        ]
        for (seconds, text) in cases {
            XCTAssertEqual(GoDuration.goString(seconds), text, "\(seconds)")
            XCTAssertEqual(GoDuration.parseSigned(text).map { ($0 * 1e9).rounded() }, (seconds * 1e9).rounded(), text)
        }
    }

    func testYAMLScalarQuoting() {
        for s in ["", "true", "no", "~", "null", "0", "-1", "1.5", "1e3", "0x1F", "1:20", "2001-12-14", ".inf", "[::]:10256",
                  "::1", "a: b", "a #b", "- x", "*x", "&x", "!x", "%x", "@x", "`x", "'x", "\"x", "{x", "x:", " x", "x ", "a\nb"] {
            XCTAssertTrue(ProxyConfig.yamlScalar(s).hasPrefix("\""), s)
        }
        for s in ["rr", "0.0.0.0:10256", "10.244.0.0/16", "application/vnd.kubernetes.protobuf", "15m0s", "node-1"] {
            XCTAssertEqual(ProxyConfig.yamlScalar(s), s)
        }
    }
}
