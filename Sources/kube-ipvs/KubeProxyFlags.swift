/// Every flag kube-proxy has had from 1.20 to the latest release (its own, klog's and
/// component-base's logging flags), and what kube-ipvs does with each. kube-ipvs runs with the
/// arguments of an existing kube-proxy DaemonSet, so none of them may stop it from starting.
struct KubeProxyFlag: Sendable {
    /// The value a flag takes, as pflag parses it.
    enum ValueType: String, Sendable {
        case bool, string, int32, float32, duration, ip, ipPort, stringList, mapStringBool, portRange, level
        /// pflag's bool flags take no separate value: `--flag` is true, `--flag=false` false.
        var isBool: Bool { self == .bool }
        /// Repeated list flags accumulate (pflag's StringSlice, MapStringBool, klog's vmodule).
        var accumulates: Bool { self == .stringList || self == .mapStringBool }
    }

    /// What kube-ipvs does with the flag.
    enum Effect: Sendable, Equatable {
        /// An option of `kube-ipvs run` under the same name; it changes the effective configuration.
        case implemented
        /// Accepted (its value type checked) with one warning line giving the reason.
        case ignored(String)
        /// Handled before parsing: `--cleanup`, `--version`, `--proxy-mode`.
        case special
    }

    let name: String
    let type: ValueType
    let effect: Effect
    /// The kube-proxy releases that have the flag, when not all of 1.20 to the latest.
    let versions: String?
    /// One line for docs/migration.md: what the flag does in kube-ipvs.
    let note: String

    init(_ name: String, _ type: ValueType, _ effect: Effect, _ versions: String? = nil, _ note: String = "") {
        self.name = name; self.type = type; self.effect = effect; self.versions = versions; self.note = note
    }
}

enum KubeProxyFlags {
    /// Reasons shared by several ignored flags.
    private static let klogFile = "kube-ipvs logs to standard error only, one line per message; run it under a supervisor (the container runtime) to keep logs"
    private static let klogFormat = "kube-ipvs's log lines have one fixed format"

    /// The table, in the order of docs/migration.md.
    static let all: [KubeProxyFlag] = [
        // Configuration and commands
        .init("config", .string, .implemented, nil, "KubeProxyConfiguration file; flags given beside it win over its fields"),
        .init("write-config-to", .string, .implemented, nil, "writes the effective configuration (file merged with flags) as KubeProxyConfiguration YAML and exits 0"),
        .init("cleanup", .bool, .special, nil, "runs `kube-ipvs cleanup` with the same --config and --ipvs-exclude-cidrs"),
        .init("cleanup-ipvs", .bool, .ignored("--cleanup always removes the IPVS virtual servers kube-ipvs owns"), "1.20"),
        .init("init-only", .bool, .implemented, "1.28+", "node preparation that needs full privileges, then exit (see docs/operations.md)"),
        .init("version", .bool, .special, nil, "prints kube-ipvs's version and exits (`--version=raw` too)"),
        .init("proxy-mode", .string, .special, nil, "`ipvs` or empty: accepted with a warning (kube-ipvs is always IPVS mode); any other mode is an error"),
        .init("feature-gates", .mapStringBool, .implemented, nil, "parsed into featureGates; one warning per gate, as kube-ipvs has one fixed feature set"),
        // API access
        .init("kubeconfig", .string, .implemented, nil, "clientConnection.kubeconfig"),
        .init("master", .string, .implemented, nil, "overrides the kubeconfig's server URL; without a kubeconfig, the API server at that URL without credentials"),
        .init("kube-api-content-type", .string, .implemented, nil, "clientConnection.contentType: lists and watches ask for protobuf (the default) or JSON; the answer is read in either"),
        .init("kube-api-qps", .float32, .implemented, nil, "clientConnection.qps: client-side rate limit of API requests"),
        .init("kube-api-burst", .int32, .implemented, nil, "clientConnection.burst"),
        .init("config-sync-period", .duration, .implemented, nil, "configSyncPeriod (kube-ipvs's full resync every syncPeriod re-reads the kernel; its caches need no informer resync)"),
        .init("hostname-override", .string, .implemented, nil, "hostnameOverride: this node's name"),
        // Addresses and servers
        .init("bind-address", .ip, .implemented, nil, "bindAddress: the node's primary IP when not unspecified"),
        .init("bind-address-hard-fail", .bool, .implemented, nil, "bindAddressHardFail"),
        .init("healthz-bind-address", .ipPort, .implemented, nil, "healthzBindAddress; a bare IP gets port 10256 (or --healthz-port); empty disables"),
        .init("metrics-bind-address", .ipPort, .implemented, nil, "metricsBindAddress; a bare IP gets port 10249 (or --metrics-port); empty disables"),
        .init("healthz-port", .int32, .implemented, nil, "deprecated: the port a bare-IP --healthz-bind-address gets; 0 disables the server"),
        .init("metrics-port", .int32, .implemented, nil, "deprecated: the port a bare-IP --metrics-bind-address gets; 0 disables the server"),
        .init("show-hidden-metrics-for-version", .string, .implemented, nil, "showHiddenMetricsForVersion"),
        .init("profiling", .bool, .ignored("kube-ipvs serves no /debug/pprof handler")),
        // IPVS mode
        .init("ipvs-scheduler", .string, .implemented, nil, "ipvs.scheduler"),
        .init("ipvs-sync-period", .duration, .implemented, nil, "syncPeriod"),
        .init("ipvs-min-sync-period", .duration, .implemented, nil, "minSyncPeriod"),
        .init("ipvs-exclude-cidrs", .stringList, .implemented, nil, "ipvs.excludeCIDRs"),
        .init("ipvs-strict-arp", .bool, .implemented, nil, "ipvs.strictARP"),
        .init("ipvs-tcp-timeout", .duration, .implemented, nil, "ipvs.tcpTimeout"),
        .init("ipvs-tcpfin-timeout", .duration, .implemented, nil, "ipvs.tcpFinTimeout"),
        .init("ipvs-udp-timeout", .duration, .implemented, nil, "ipvs.udpTimeout"),
        .init("iptables-masquerade-bit", .int32, .implemented, nil, "iptables.masqueradeBit (IPVS mode marks with it too)"),
        .init("masquerade-all", .bool, .implemented, nil, "masqueradeAll"),
        .init("iptables-sync-period", .duration, .ignored("IPVS mode syncs every --ipvs-sync-period (older kube-proxy releases also took /healthz's staleness limit, twice this, from it; kube-ipvs takes it from syncPeriod)")),
        .init("iptables-min-sync-period", .duration, .ignored("in IPVS mode kube-proxy uses --ipvs-min-sync-period; this one applies to iptables mode only")),
        .init("iptables-localhost-nodeports", .bool, .ignored("applies to iptables mode only; IPVS mode never accepts NodePorts on localhost"), "1.27+"),
        .init("nodeport-addresses", .stringList, .implemented, nil, "nodePortAddresses (CIDRs, or `primary` from 1.29)"),
        .init("cluster-cidr", .string, .implemented, nil, "clusterCIDR (dual-stack pair allowed)"),
        .init("detect-local-mode", .string, .implemented, nil, "detectLocalMode"),
        .init("pod-bridge-interface", .string, .implemented, "1.23+", "detectLocal.bridgeInterface"),
        .init("pod-interface-name-prefix", .string, .implemented, "1.23+", "detectLocal.interfaceNamePrefix"),
        // Node tuning
        .init("oom-score-adj", .int32, .implemented, nil, "oomScoreAdj (-1000..1000)"),
        .init("conntrack-max-per-core", .int32, .implemented, nil, "conntrack.maxPerCore"),
        .init("conntrack-min", .int32, .implemented, nil, "conntrack.min"),
        .init("conntrack-tcp-timeout-established", .duration, .implemented, nil, "conntrack.tcpEstablishedTimeout"),
        .init("conntrack-tcp-timeout-close-wait", .duration, .implemented, nil, "conntrack.tcpCloseWaitTimeout"),
        .init("conntrack-tcp-be-liberal", .bool, .implemented, "1.29+", "conntrack.tcpBeLiberal"),
        .init("conntrack-udp-timeout", .duration, .implemented, "1.29+", "conntrack.udpTimeout"),
        .init("conntrack-udp-timeout-stream", .duration, .implemented, "1.29+", "conntrack.udpStreamTimeout"),
        // Userspace mode and Windows
        .init("proxy-port-range", .portRange, .ignored("it configured the userspace proxy mode, which IPVS mode never used")),
        .init("udp-timeout", .duration, .ignored("it configured the userspace proxy mode, which IPVS mode never used"), "1.20 to 1.30"),
        .init("windows-service", .bool, .ignored("Windows only"), "Windows builds"),
        // Logging (component-base)
        .init("v", .int32, .implemented, nil, "logging.verbosity: 0-3 info, 4-5 debug, 6+ trace (`-v=N`, `-v N` too)"),
        .init("vmodule", .stringList, .ignored("kube-ipvs has no per-file verbosity; --v sets the level of every message")),
        .init("logging-format", .string, .implemented, "1.26+", "logging.format: text, or json (one JSON object per line)"),
        .init("log-flush-frequency", .duration, .ignored("kube-ipvs writes every log line at once")),
        .init("log-json-split-stream", .bool, .ignored("kube-ipvs writes every log line to standard error"), "1.26+"),
        .init("log-json-info-buffer-size", .string, .ignored("kube-ipvs does not buffer log lines"), "1.26+"),
        .init("log-text-split-stream", .bool, .ignored("kube-ipvs writes every log line to standard error"), "1.28+"),
        .init("log-text-info-buffer-size", .string, .ignored("kube-ipvs does not buffer log lines"), "1.28+"),
        // klog's flags (removed from Kubernetes components in 1.26)
        .init("add-dir-header", .bool, .ignored(klogFormat), "1.20 to 1.25"),
        .init("alsologtostderr", .bool, .ignored(klogFile), "1.20 to 1.25"),
        .init("log-backtrace-at", .string, .ignored("kube-ipvs prints no stack traces into its log"), "1.20 to 1.25"),
        .init("log-dir", .string, .ignored(klogFile), "1.20 to 1.25"),
        .init("log-file", .string, .ignored(klogFile), "1.20 to 1.25"),
        .init("log-file-max-size", .string, .ignored(klogFile), "1.20 to 1.25"),
        .init("logtostderr", .bool, .ignored("kube-ipvs always logs to standard error"), "1.20 to 1.25"),
        .init("one-output", .bool, .ignored(klogFile), "1.20 to 1.25"),
        .init("skip-headers", .bool, .ignored(klogFormat), "1.20 to 1.25"),
        .init("skip-log-headers", .bool, .ignored(klogFile), "1.20 to 1.25"),
        .init("stderrthreshold", .level, .ignored("kube-ipvs writes every message at or above --v's level to standard error"), "1.20 to 1.25"),
    ]

    /// The table by flag name.
    static let byName: [String: KubeProxyFlag] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    /// The flag `name` names once pflag's word-separator normalisation (`_` to `-`) is applied.
    static func lookup(_ name: String) -> KubeProxyFlag? {
        byName[name] ?? byName[name.replacing("_", with: "-")]
    }
}

extension KubeProxyFlags {
    /// The ignored flags as `--a, --b, ...`, for `run --help`.
    static var ignoredList: String {
        all.filter { if case .ignored = $0.effect { return true }; return false }.map { "--" + $0.name }.joined(separator: ", ")
    }
}
