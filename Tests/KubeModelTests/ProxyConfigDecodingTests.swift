import XCTest
@testable import KubeModel

/// Upstream's loader: strict, then lenient with one warning; type errors and bad values stay errors.
final class ProxyConfigDecodingTests: XCTestCase {
    func decode(_ body: String) throws -> ConfigDecoding { try ProxyConfig.decode(yaml: configDocument(body)) }

    func testUnknownFieldsAreOneWarningAndTheRestIsApplied() throws {
        let d = try decode("""
            metadata: {name: kube-proxy}
            ipvs: {schedular: wrr, scheduler: lc}
            linux: {conntrack: {maxPerCore: 1}}
            resourceContainer: /kube-proxy
            conntrack: {max: 0, maxPerCore: 0}
            """)
        XCTAssertEqual(d.config.scheduler, "lc")
        XCTAssertEqual(d.config.conntrack.maxPerCore, 0, "conntrack.maxPerCore, not the unknown linux.conntrack")
        XCTAssertEqual(d.warnings, ["Using lenient decoding as strict decoding failed: strict decoding error: "
            + "unknown field \"conntrack.max\", unknown field \"ipvs.schedular\", unknown field \"linux\", "
            + "unknown field \"metadata\", unknown field \"resourceContainer\""])
        XCTAssertThrowsError(try ProxyConfig.parse(yaml: configDocument("ipvs: {schedular: wrr}"))) {
            XCTAssertEqual("\($0)", "ipvs.schedular: unknown field")
        }
    }

    func testDuplicateFieldsWarnAndTheLastWins() throws {
        let d = try decode("""
            mode: iptables
            ipvs:
              scheduler: rr
              strictARP: true
              scheduler: sh
            mode: ipvs
            clientConnection: {"burst": 3, burst: 7}
            """)
        XCTAssertEqual(d.config.scheduler, "sh")
        XCTAssertTrue(d.config.strictARP)
        XCTAssertEqual(d.config.clientBurst, 7)
        XCTAssertEqual(d.warnings, ["Using lenient decoding as strict decoding failed: strict decoding error: "
            + "duplicate field \"mode\", duplicate field \"ipvs.scheduler\", duplicate field \"clientConnection.burst\""])
        XCTAssertThrowsError(try ProxyConfig.parse(yaml: configDocument("mode: ipvs\nmode: ipvs\n"))) {
            XCTAssertEqual("\($0)", "mode: duplicate field")
        }
    }

    func testNoWarningForAFileInUpstreamsShape() throws {
        XCTAssertEqual(try decode("ipvs: {scheduler: wrr}").warnings, [])
    }

    /// A wrong type is an error even beside unknown fields (upstream's strict error is then not a
    /// strict-decoding one, so there is no lenient retry); so are apiVersion and kind.
    func testTypeErrorsAndTheHeaderAreHardErrors() {
        let cases: [(String, String)] = [
            (configDocument("unknownField: 1\nconntrack: {maxPerCore: \"5\"}"), "conntrack.maxPerCore: \"5\" is not an integer"),
            (configDocument("bindAddressHardFail: \"true\""), "bindAddressHardFail: \"true\" is not true or false"),
            (configDocument("ipvs: [rr]"), "ipvs: expected a map"),
            (configDocument("nodePortAddresses: 10.0.0.0/8"), "nodePortAddresses: expected a list"),
            (configDocument("featureGates: {Foo: maybe}"), "featureGates.Foo: \"maybe\" is not true or false"),
            (configDocument("featureGates: Foo=true"), "featureGates: expected a map of names to true or false"),
            (configDocument("clientConnection: {qps: fast}"), "clientConnection.qps: \"fast\" is not a number"),
            (configDocument("logging: {verbosity: -1}"), "logging.verbosity: -1 is out of range (0-4294967295)"),
            (configDocument("logging: {vmodule: [{filePattern: proxier*, verbosity: x}]}"), "logging.vmodule[0].verbosity: \"x\" is not an integer"),
            (configDocument("logging: {flushFrequency: often}"), "logging.flushFrequency: \"often\" is not a duration (like 30s, 1m0s, 500ms)"),
            (configDocument("udpIdleTimeout: 250"), "udpIdleTimeout: \"250\" is not a duration (like 30s, 1m0s, 500ms)"),
            (configDocument("winkernel: {enableDSR: 1}"), "winkernel.enableDSR: \"1\" is not true or false"),
            (configDocument("windowsRunAsService: sure"), "windowsRunAsService: \"sure\" is not true or false"),
            (configDocument("hostnameOverride: {a: b}"), "hostnameOverride: expected a single value"),
            ("kind: KubeProxyConfiguration\n", "apiVersion: missing (kubeproxy.config.k8s.io/v1alpha1)"),
            ("apiVersion: kubeproxy.config.k8s.io/v1alpha1\n", "kind: missing (KubeProxyConfiguration)"),
            ("apiVersion: componentconfig/v1alpha1\nkind: KubeProxyConfiguration\n", "apiVersion: \"componentconfig/v1alpha1\" is not kubeproxy.config.k8s.io/v1alpha1"),
            ("", "empty file: expected apiVersion: kubeproxy.config.k8s.io/v1alpha1 and kind: KubeProxyConfiguration"),
            ("- a\n", "not a KubeProxyConfiguration object"),
        ]
        for (yaml, message) in cases {
            XCTAssertThrowsError(try ProxyConfig.decode(yaml: yaml), yaml) { XCTAssertEqual("\($0)", message, yaml) }
        }
    }

    /// Fields kube-ipvs does not act on are still type-checked, and accepted when well-typed.
    func testIgnoredFieldsAreAcceptedWhenWellTyped() throws {
        let d = try decode("""
            portRange: 30000-32767
            udpIdleTimeout: 250ms
            windowsRunAsService: false
            winkernel: {networkName: "", sourceVip: "", enableDSR: false, rootHnsEndpointName: "", forwardHealthCheckVip: false}
            nftables: {masqueradeAll: true, masqueradeBit: 10, syncPeriod: 5s, minSyncPeriod: 1s}
            iptables: {localhostNodePorts: false, syncPeriod: 5s, minSyncPeriod: 0s}
            logging:
              format: json
              flushFrequency: 5000000000
              verbosity: 4
              vmodule: [{filePattern: "proxier*", verbosity: 5}]
              options: {json: {infoBufferSize: "0", splitStream: true}, text: {infoBufferSize: 64Ki}}
            """)
        XCTAssertEqual(d.warnings, [])
        XCTAssertFalse(d.config.masqueradeAll, "nftables.masqueradeAll is nftables mode's")
        XCTAssertEqual(d.config.masqueradeBit, 14, "nftables.masqueradeBit is nftables mode's")
        XCTAssertEqual(d.config.syncPeriod, 30, "iptables.syncPeriod is iptables mode's")
        XCTAssertEqual(d.config.logVerbosity, 4)
        XCTAssertEqual(d.config.logFormat, "json")
    }

    /// The pre-seeded fields: read, defaulted as upstream, and each range-checked naming the field.
    func testSettingsFieldsAreRead() throws {
        let c = try decode("""
            conntrack:
              maxPerCore: 0
              min: 5
              tcpEstablishedTimeout: 2h
              tcpCloseWaitTimeout: 60s
              tcpBeLiberal: true
              udpTimeout: 30s
              udpStreamTimeout: 5m
            oomScoreAdj: -1000
            clientConnection: {qps: 2.5, burst: 20, contentType: application/json, acceptContentTypes: "application/json,*/*"}
            configSyncPeriod: 1m
            bindAddress: 10.0.0.5
            bindAddressHardFail: true
            enableProfiling: true
            featureGates: {TopologyAwareHints: true, ServiceInternalTrafficPolicy: no}
            showHiddenMetricsForVersion: "1.30"
            logging: {verbosity: 2, format: text}
            """).config
        XCTAssertEqual(c.conntrack.maxPerCore, 0)
        XCTAssertEqual(c.conntrack.min, 5)
        XCTAssertEqual(c.conntrack.tcpEstablishedTimeout, 7200)
        XCTAssertEqual(c.conntrack.tcpCloseWaitTimeout, 60)
        XCTAssertTrue(c.conntrack.tcpBeLiberal)
        XCTAssertEqual(c.conntrack.udpTimeout, 30)
        XCTAssertEqual(c.conntrack.udpStreamTimeout, 300)
        XCTAssertEqual(c.oomScoreAdj, -1000)
        XCTAssertEqual(c.clientQPS, 2.5)
        XCTAssertEqual(c.clientBurst, 20)
        XCTAssertEqual(c.contentType, "application/json")
        XCTAssertEqual(c.acceptContentTypes, "application/json,*/*")
        XCTAssertEqual(c.configSyncPeriod, 60)
        XCTAssertEqual(c.bindAddress, "10.0.0.5")
        XCTAssertTrue(c.bindAddressHardFail)
        XCTAssertTrue(c.enableProfiling)
        XCTAssertEqual(c.featureGates, ["TopologyAwareHints": true, "ServiceInternalTrafficPolicy": false])
        XCTAssertEqual(c.showHiddenMetricsForVersion, "1.30")
        XCTAssertEqual(c.logVerbosity, 2)
        XCTAssertEqual(c.logFormat, "text")
    }

    /// null, absent and zero mean upstream's defaults where upstream defaults them.
    func testNullAndZeroAreUpstreamsDefaults() throws {
        let c = try decode("""
            conntrack: {maxPerCore: null, min: null, tcpEstablishedTimeout: null, tcpCloseWaitTimeout: null}
            oomScoreAdj: null
            clientConnection: {qps: 0, burst: 0, contentType: ""}
            configSyncPeriod: 0s
            bindAddress: ""
            """).config
        XCTAssertEqual(c, ProxyConfig())
        XCTAssertEqual(c.oomScoreAdj, -999)
        XCTAssertEqual(c.conntrack.maxPerCore, 32768)
        XCTAssertEqual(c.conntrack.tcpEstablishedTimeout, 86400)
        XCTAssertEqual(c.clientQPS, 5)
        XCTAssertEqual(c.configSyncPeriod, 900)
    }

    func testEveryNewFieldIsRangeChecked() {
        let cases: [(String, String)] = [
            ("conntrack: {maxPerCore: -1}", "conntrack.maxPerCore: -1 must be greater than or equal to 0"),
            ("conntrack: {maxPerCore: 2147483648}", "conntrack.maxPerCore: 2147483648 is out of range (-2147483648-2147483647)"),
            ("conntrack: {min: -5}", "conntrack.min: -5 must be greater than or equal to 0"),
            ("conntrack: {tcpEstablishedTimeout: -1s}", "conntrack.tcpEstablishedTimeout: -1s must be greater than or equal to 0"),
            ("conntrack: {tcpCloseWaitTimeout: -1m}", "conntrack.tcpCloseWaitTimeout: -1m0s must be greater than or equal to 0"),
            ("conntrack: {udpTimeout: -30s}", "conntrack.udpTimeout: -30s must be greater than or equal to 0"),
            ("conntrack: {udpStreamTimeout: -2h}", "conntrack.udpStreamTimeout: -2h0m0s must be greater than or equal to 0"),
            ("conntrack: {tcpBeLiberal: \"yes\"}", "conntrack.tcpBeLiberal: \"yes\" is not true or false"),
            ("oomScoreAdj: 1001", "oomScoreAdj: 1001 is out of range (-1000-1000)"),
            ("oomScoreAdj: -1001", "oomScoreAdj: -1001 is out of range (-1000-1000)"),
            ("clientConnection: {qps: -1}", "clientConnection.qps: -1.0 must be a finite number greater than or equal to 0"),
            ("clientConnection: {qps: 1e39}", "clientConnection.qps: 1e39 is out of range for a 32-bit float"),
            ("clientConnection: {qps: .inf}", "clientConnection.qps: \".inf\" is not a number"),
            ("clientConnection: {burst: -1}", "clientConnection.burst: -1 must be greater than or equal to 0"),
            ("clientConnection: {contentType: [a]}", "clientConnection.contentType: expected a single value"),
            ("configSyncPeriod: -15m", "configSyncPeriod: -15m0s must be greater than 0"),
            ("bindAddress: node1", "bindAddress: \"node1\" is not an IP address"),
            ("bindAddressHardFail: 1", "bindAddressHardFail: \"1\" is not true or false"),
            ("enableProfiling: enabled", "enableProfiling: \"enabled\" is not true or false"),
            ("showHiddenMetricsForVersion: v1.30", "showHiddenMetricsForVersion: \"v1.30\" is not a version like 1.30"),
            ("logging: {verbosity: 4294967296}", "logging.verbosity: 4294967296 is out of range (0-4294967295)"),
            ("logging: {format: xml}", "logging.format: \"xml\" is not a log format (text or json)"),
        ]
        for (yaml, message) in cases {
            XCTAssertThrowsError(try decode(yaml), yaml) { XCTAssertEqual("\($0)", message, yaml) }
        }
    }

    /// `kube-proxy --write-config-to` of 1.20 (from its v1alpha1 types and defaults): no warning.
    func testUpstream120DefaultConfigLoadsWithoutWarning() throws {
        let d = try ProxyConfig.decode(yaml: UpstreamConfigs.writeConfigTo120)
        XCTAssertEqual(d.warnings, [])
        XCTAssertEqual(d.config, ProxyConfig(), "every value is the default (ipvs.minSyncPeriod 0s is kube-ipvs's 1s)")
    }

    /// The latest release's `--write-config-to` and kubeadm's file: no warning.
    func testLatestDefaultConfigsLoadWithoutWarning() throws {
        let d = try ProxyConfig.decode(yaml: UpstreamConfigs.writeConfigToLatest)
        XCTAssertEqual(d.warnings, [])
        XCTAssertEqual(d.config.logVerbosity, 0)
        var expected = ProxyConfig()
        expected.logVerbosity = 0
        XCTAssertEqual(d.config, expected)
        let kubeadm = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../deploy/kubeadm-kube-proxy-config.conf").standardized, encoding: .utf8)
        let k = try ProxyConfig.decode(yaml: kubeadm)
        XCTAssertEqual(k.warnings, [])
        XCTAssertTrue(k.config.strictARP)
    }
}
