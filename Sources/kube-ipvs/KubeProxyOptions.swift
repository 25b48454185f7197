import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel

/// kube-proxy's flags that only `run` has: API access, the node tuning, the servers' addresses,
/// logging. Values are text and checked here, so that an error names the flag and its range.
struct KubeProxyOptions: ParsableArguments {
    @Option(name: .customLong("master"), help: "API server URL; overrides the kubeconfig's server (without a kubeconfig: that server, no credentials).")
    var master: String?

    @Option(name: .customLong("kube-api-qps"), help: "Requests per second to the API server, client-side limit (clientConnection.qps; default 5).")
    var kubeAPIQPS: String?

    @Option(name: .customLong("kube-api-burst"), help: "Requests allowed at once above the QPS limit (clientConnection.burst; default 10).")
    var kubeAPIBurst: String?

    @Option(name: .customLong("kube-api-content-type"), help: "clientConnection.contentType: what lists and watches ask for; application/vnd.kubernetes.protobuf (default) or application/json.")
    var kubeAPIContentType: String?

    @Option(name: .customLong("config-sync-period"), help: "configSyncPeriod, e.g. 15m (recorded; the syncPeriod resync re-reads the kernel).")
    var configSyncPeriod: String?

    @Option(name: .customLong("bind-address"), help: "The node's primary IP when not 0.0.0.0 or :: (bindAddress).")
    var bindAddress: String?

    @Flag(name: .customLong("bind-address-hard-fail"), help: "Exit when the healthz or metrics port cannot be bound (bindAddressHardFail).")
    var bindAddressHardFail = false

    @Option(name: .customLong("healthz-port"), help: "Deprecated: port a bare-IP healthz bind address gets (default 10256); 0 disables /healthz.")
    var healthzPort: String?

    @Option(name: .customLong("metrics-port"), help: "Deprecated: port a bare-IP metrics bind address gets (default 10249); 0 disables /metrics.")
    var metricsPort: String?

    @Option(name: .customLong("show-hidden-metrics-for-version"), help: "Previous minor version (like 1.30) whose hidden metrics to show (showHiddenMetricsForVersion).")
    var showHiddenMetricsForVersion: String?

    @Option(name: .customLong("feature-gates"), help: "Gates as A=true,B=false (featureGates); each is reported, none changes kube-ipvs.")
    var featureGates: String?

    @Option(name: .customLong("pod-bridge-interface"), help: "Pod bridge, for detect-local-mode BridgeInterface (detectLocal.bridgeInterface).")
    var podBridgeInterface: String?

    @Option(name: .customLong("pod-interface-name-prefix"), help: "Pod interface prefix, for detect-local-mode InterfaceNamePrefix (detectLocal.interfaceNamePrefix).")
    var podInterfaceNamePrefix: String?

    @Option(name: .customLong("oom-score-adj"), help: "oom_score_adj of the process, -1000 to 1000 (oomScoreAdj; default -999).")
    var oomScoreAdj: String?

    @Option(name: .customLong("conntrack-max-per-core"), help: "nf_conntrack_max per CPU; 0 leaves the limit alone (conntrack.maxPerCore; default 32768).")
    var conntrackMaxPerCore: String?

    @Option(name: .customLong("conntrack-min"), help: "Least nf_conntrack_max (conntrack.min; default 131072).")
    var conntrackMin: String?

    @Option(name: .customLong("conntrack-tcp-timeout-established"), help: "Established TCP conntrack timeout; 0 leaves it alone (default 24h0m0s).")
    var conntrackTCPEstablished: String?

    @Option(name: .customLong("conntrack-tcp-timeout-close-wait"), help: "CLOSE_WAIT TCP conntrack timeout; 0 leaves it alone (default 1h0m0s).")
    var conntrackTCPCloseWait: String?

    @Flag(name: .customLong("conntrack-tcp-be-liberal"), help: "Set nf_conntrack_tcp_be_liberal to 1 (conntrack.tcpBeLiberal).")
    var conntrackTCPBeLiberal = false

    @Option(name: .customLong("conntrack-udp-timeout"), help: "Unreplied UDP conntrack timeout; 0 leaves it alone (conntrack.udpTimeout).")
    var conntrackUDPTimeout: String?

    @Option(name: .customLong("conntrack-udp-timeout-stream"), help: "Assured UDP conntrack timeout; 0 leaves it alone (conntrack.udpStreamTimeout).")
    var conntrackUDPStreamTimeout: String?

    @Option(name: .customLong("logging-format"), help: "text (default) or json: one JSON object per log line (logging.format).")
    var loggingFormat: String?

    @Option(name: .customLong("write-config-to"), help: "Write the effective configuration (file and flags) as KubeProxyConfiguration YAML to this file and exit.")
    var writeConfigTo: String?

    /// Sets the fields of `c` the flags give; an error names the flag.
    func apply(to c: inout ProxyConfig) throws {
        // Empty is pflag's default: not given.
        if let v = master, !v.isEmpty { c.master = v }
        if let v = kubeAPIQPS {
            guard let q = Float(v), q.isFinite, q >= 0 else { throw ConfigError("--kube-api-qps", "\"\(v)\" is not a number of requests per second (0 or more)") }
            c.clientQPS = q
        }
        if let v = kubeAPIBurst { c.clientBurst = try Self.int32(v, "--kube-api-burst", 0...Int32.max) }
        if let v = kubeAPIContentType { c.contentType = v }
        if let v = configSyncPeriod {
            guard let d = GoDuration.parse(v), d > 0 else { throw ConfigError("--config-sync-period", "\"\(v)\" is not a positive duration (like 15m0s)") }
            c.configSyncPeriod = d
        }
        if let v = bindAddress {
            guard IPAddress(v) != nil else { throw ConfigError("--bind-address", "\"\(v)\" is not an IP address") }
            c.bindAddress = v
        }
        if bindAddressHardFail { c.bindAddressHardFail = true }
        if let v = showHiddenMetricsForVersion { c.showHiddenMetricsForVersion = v }
        if let v = featureGates { c.featureGates.merge(try Self.featureGates(v)) { $1 } }
        if let v = podBridgeInterface, !v.isEmpty {
            c.bridgeInterface = try ProxyConfig.interfaceName(v, field: "--pod-bridge-interface")
        }
        if let v = podInterfaceNamePrefix, !v.isEmpty {
            c.interfaceNamePrefix = try ProxyConfig.interfaceName(v, field: "--pod-interface-name-prefix")
        }
        if let v = oomScoreAdj { c.oomScoreAdj = try Self.int32(v, "--oom-score-adj", -1000...1000) }
        if let v = conntrackMaxPerCore { c.conntrack.maxPerCore = try Self.int32(v, "--conntrack-max-per-core", 0...Int32.max) }
        if let v = conntrackMin { c.conntrack.min = try Self.int32(v, "--conntrack-min", 0...Int32.max) }
        if let v = conntrackTCPEstablished { c.conntrack.tcpEstablishedTimeout = try Self.duration(v, "--conntrack-tcp-timeout-established") }
        if let v = conntrackTCPCloseWait { c.conntrack.tcpCloseWaitTimeout = try Self.duration(v, "--conntrack-tcp-timeout-close-wait") }
        if conntrackTCPBeLiberal { c.conntrack.tcpBeLiberal = true }
        if let v = conntrackUDPTimeout { c.conntrack.udpTimeout = try Self.duration(v, "--conntrack-udp-timeout") }
        if let v = conntrackUDPStreamTimeout { c.conntrack.udpStreamTimeout = try Self.duration(v, "--conntrack-udp-timeout-stream") }
        if let v = loggingFormat {
            guard v == "text" || v == "json" else { throw ConfigError("--logging-format", "\"\(v)\" is not text or json") }
            c.logFormat = v
        }
    }

    /// The address a server binds after the flags: `address` (the flag's, else the file's or the
    /// default) with kube-proxy's treatment of the deprecated port flag: a bare IP gets `port`
    /// (default `defaultPort`), and port 0 disables the server (empty address).
    static func bindAddress(_ address: String, portFlag: String?, defaultPort: Int32, flag: String) throws -> String {
        let port = try portFlag.map { v in try int32(v, flag, 0...65535) } ?? defaultPort
        if port == 0 { return "" }
        if IPAddress(address) != nil { return address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)" }
        return address
    }

    /// `A=true,B=false` as pflag's MapStringBool reads it (spaces around keys and values allowed).
    static func featureGates(_ text: String) throws -> [String: Bool] {
        var out: [String: Bool] = [:]
        for pair in text.split(separator: ",") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace() }
            guard kv.count == 2, !kv[0].isEmpty else { throw ConfigError("--feature-gates", "missing bool value for \"\(pair)\"") }
            guard let b = KubeProxyArgv.goBool(kv[1]) else { throw ConfigError("--feature-gates", "invalid value of \(kv[0]): \(kv[1])") }
            out[kv[0]] = b
        }
        return out
    }

    private static func int32(_ v: String, _ flag: String, _ range: ClosedRange<Int32>) throws -> Int32 {
        guard let i = Int32(v), range.contains(i) else { throw ConfigError(flag, "\"\(v)\" is not an integer in \(range.lowerBound)...\(range.upperBound)") }
        return i
    }

    private static func duration(_ v: String, _ flag: String) throws -> Double {
        guard let d = GoDuration.parse(v), d >= 0 else { throw ConfigError(flag, "\"\(v)\" is not a duration (like 1h0m0s, 30s; 0 leaves the kernel's value)") }
        return d
    }
}
