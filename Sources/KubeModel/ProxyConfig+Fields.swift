// MARK: - The fields of a decoded KubeProxyConfiguration, defaulted and validated as upstream
//
// Upstream defaults a field that is absent, null or zero (`syncPeriod: 0s` is 30s; a null
// `conntrack.maxPerCore` is 32768), then validates; each check here names the field and runs
// before any conversion. kube-ipvs runs only the IPVS proxier, so the IPVS and iptables sections
// (the latter for masqueradeAll and masqueradeBit, as upstream's IPVS proxier) are the ones read.

extension ProxyConfig {
    /// The configuration a type-checked document gives (see `ProxyConfig.schema`).
    init(fields root: ConfigValue) throws {
        self.init()
        func at(_ path: String) -> (ConfigValue, String) {
            var v: ConfigValue? = root
            for key in path.split(separator: ".") { v = v?[String(key)] }
            return (v ?? .null, path)
        }
        func string(_ p: String) throws -> String? { let (v, f) = at(p); return try ConfigTree.string(v, f) }
        func bool(_ p: String) throws -> Bool? { let (v, f) = at(p); return try ConfigTree.bool(v, f) }
        func int32(_ p: String) throws -> Int32? { let (v, f) = at(p); return try ConfigTree.int32(v, f) }
        func duration(_ p: String) throws -> Double? { let (v, f) = at(p); return try ConfigTree.duration(v, f) }
        func strings(_ p: String) throws -> [String]? { let (v, f) = at(p); return try ConfigTree.strings(v, f) }

        if let mode = try string("mode"), !mode.isEmpty, mode != "ipvs" {
            throw ConfigError("mode", "\"\(mode)\": kube-ipvs implements only mode ipvs")
        }
        if let v = try string("clusterCIDR"), !v.isEmpty { try setClusterCIDRs(v, field: "clusterCIDR") }
        if let v = try string("hostnameOverride"), !v.isEmpty { hostnameOverride = v }
        if let v = try string("healthzBindAddress"), !v.isEmpty { healthzBindAddress = v }
        if let v = try string("metricsBindAddress"), !v.isEmpty { metricsBindAddress = v }
        if let list = try strings("nodePortAddresses") { try setNodePortAddresses(list, field: "nodePortAddresses") }
        if let v = try string("detectLocalMode"), !v.isEmpty {
            guard let m = DetectLocalMode(rawValue: v) else {
                throw ConfigError("detectLocalMode", "unknown mode \"\(v)\" (ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix)")
            }
            detectLocalMode = m
        }
        if let v = try string("detectLocal.bridgeInterface"), !v.isEmpty {
            bridgeInterface = try Self.interfaceName(v, field: "detectLocal.bridgeInterface")
        }
        if let v = try string("detectLocal.interfaceNamePrefix"), !v.isEmpty {
            interfaceNamePrefix = try Self.interfaceName(v, field: "detectLocal.interfaceNamePrefix")
        }

        // clientConnection: 0 and "" mean upstream's defaults.
        if let v = try string("clientConnection.kubeconfig"), !v.isEmpty { kubeconfig = v }
        if let v = try string("clientConnection.acceptContentTypes") { acceptContentTypes = v }
        if let v = try string("clientConnection.contentType"), !v.isEmpty { contentType = v }
        let (qpsValue, qpsField) = at("clientConnection.qps")
        if let v = try ConfigTree.float32(qpsValue, qpsField), v != 0 { try setClientQPS(Double(v), field: qpsField) }
        if let v = try int32("clientConnection.burst"), v != 0 { try setClientBurst(Int64(v), field: "clientConnection.burst") }

        // The IPVS proxier's periods; 0 means the default (kube-ipvs's 1s for minSyncPeriod).
        if let v = try duration("ipvs.syncPeriod"), v != 0 {
            guard v > 0 else { throw ConfigError("ipvs.syncPeriod", "\(GoDuration.goString(v)) must be greater than 0") }
            syncPeriod = v
        }
        if let v = try duration("ipvs.minSyncPeriod"), v != 0 { minSyncPeriod = try Self.nonNegative(v, field: "ipvs.minSyncPeriod") }
        if let v = try string("ipvs.scheduler"), !v.isEmpty { try setScheduler(v, field: "ipvs.scheduler") }
        if let v = try bool("ipvs.strictARP") { strictARP = v }
        if let list = try strings("ipvs.excludeCIDRs") {
            excludeCIDRs = try list.enumerated().map { i, s in
                guard let cidr = CIDR(s.trimmingSpaces) else { throw ConfigError("ipvs.excludeCIDRs[\(i)]", "\"\(s)\" is not a valid CIDR") }
                return cidr
            }
        }
        if let v = try duration("ipvs.tcpTimeout") { tcpTimeout = try Self.ipvsTimeout(v, field: "ipvs.tcpTimeout") }
        if let v = try duration("ipvs.tcpFinTimeout") { tcpFinTimeout = try Self.ipvsTimeout(v, field: "ipvs.tcpFinTimeout") }
        if let v = try duration("ipvs.udpTimeout") { udpTimeout = try Self.ipvsTimeout(v, field: "ipvs.udpTimeout") }
        if let v = try int32("iptables.masqueradeBit") { try setMasqueradeBit(Int(v), field: "iptables.masqueradeBit") }
        if let v = try bool("iptables.masqueradeAll") { masqueradeAll = v }

        // conntrack: null means upstream's default, 0 leaves the kernel's value.
        if let v = try int32("conntrack.maxPerCore") { try setConntrackMaxPerCore(Int64(v), field: "conntrack.maxPerCore") }
        if let v = try int32("conntrack.min") { try setConntrackMin(Int64(v), field: "conntrack.min") }
        if let v = try duration("conntrack.tcpEstablishedTimeout") {
            conntrack.tcpEstablishedTimeout = try Self.nonNegative(v, field: "conntrack.tcpEstablishedTimeout")
        }
        if let v = try duration("conntrack.tcpCloseWaitTimeout") {
            conntrack.tcpCloseWaitTimeout = try Self.nonNegative(v, field: "conntrack.tcpCloseWaitTimeout")
        }
        if let v = try bool("conntrack.tcpBeLiberal") { conntrack.tcpBeLiberal = v }
        if let v = try duration("conntrack.udpTimeout") { conntrack.udpTimeout = try Self.nonNegative(v, field: "conntrack.udpTimeout") }
        if let v = try duration("conntrack.udpStreamTimeout") {
            conntrack.udpStreamTimeout = try Self.nonNegative(v, field: "conntrack.udpStreamTimeout")
        }
        if let v = try int32("oomScoreAdj") { try setOOMScoreAdj(Int64(v), field: "oomScoreAdj") }
        if let v = try duration("configSyncPeriod"), v != 0 { try setConfigSyncPeriod(v, field: "configSyncPeriod") }

        if let v = try string("bindAddress"), !v.isEmpty { try setBindAddress(v, field: "bindAddress") }
        if let v = try bool("bindAddressHardFail") { bindAddressHardFail = v }
        if let v = try bool("enableProfiling") { enableProfiling = v }
        let (gates, gatesField) = at("featureGates")
        if let v = try ConfigTree.boolMap(gates, gatesField) { featureGates = v }
        if let v = try string("showHiddenMetricsForVersion") { try setShowHiddenMetricsForVersion(v, field: "showHiddenMetricsForVersion") }
        let (verbosity, verbosityField) = at("logging.verbosity")
        if let v = try ConfigTree.uint32(verbosity, verbosityField) { try setLogVerbosity(Int64(v), field: verbosityField) }
        if let v = try string("logging.format"), !v.isEmpty { try setLogFormat(v, field: "logging.format") }
    }

    // MARK: - Validating setters shared by the file and the flags

    /// A duration that must not be negative (upstream: "must be greater than or equal to 0").
    public static func nonNegative(_ seconds: Double, field: String) throws -> Double {
        guard seconds.isFinite, seconds >= 0 else {
            throw ConfigError(field, "\(GoDuration.goString(seconds)) must be greater than or equal to 0")
        }
        return seconds
    }

    /// conntrack.maxPerCore: 0 (leave nf_conntrack_max alone) to Int32.max.
    public mutating func setConntrackMaxPerCore(_ value: Int64, field: String) throws {
        conntrack.maxPerCore = try Self.nonNegativeInt32(value, field: field)
    }

    /// conntrack.min: 0 to Int32.max.
    public mutating func setConntrackMin(_ value: Int64, field: String) throws {
        conntrack.min = try Self.nonNegativeInt32(value, field: field)
    }

    /// oomScoreAdj: -1000 to 1000, as the kernel's oom_score_adj.
    public mutating func setOOMScoreAdj(_ value: Int64, field: String) throws {
        guard (-1000...1000).contains(value), let v = Int32(exactly: value) else {
            throw ConfigError(field, "\(value) is out of range (-1000-1000)")
        }
        oomScoreAdj = v
    }

    /// clientConnection.qps: a finite, non-negative number that fits a 32-bit float.
    public mutating func setClientQPS(_ value: Double, field: String) throws {
        guard value.isFinite, value >= 0, value <= Double(Float.greatestFiniteMagnitude) else {
            throw ConfigError(field, "\(value) must be a finite number greater than or equal to 0")
        }
        clientQPS = Float(value)
    }

    /// clientConnection.burst: 0 to Int32.max.
    public mutating func setClientBurst(_ value: Int64, field: String) throws {
        clientBurst = try Self.nonNegativeInt32(value, field: field)
    }

    /// configSyncPeriod: greater than 0 (the informers' resync period).
    public mutating func setConfigSyncPeriod(_ seconds: Double, field: String) throws {
        guard seconds.isFinite, seconds > 0 else { throw ConfigError(field, "\(GoDuration.goString(seconds)) must be greater than 0") }
        configSyncPeriod = seconds
    }

    /// bindAddress: an IP address (upstream reads it sloppily: leading zeros allowed).
    public mutating func setBindAddress(_ text: String, field: String) throws {
        guard IPAddress(sloppy: text) != nil else { throw ConfigError(field, "\"\(text)\" is not an IP address") }
        bindAddress = text
    }

    /// showHiddenMetricsForVersion: empty, or a `MAJOR.MINOR` version such as `1.30`.
    public mutating func setShowHiddenMetricsForVersion(_ text: String, field: String) throws {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let ok = text.isEmpty || (parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.count <= 9 && $0.allSatisfy { $0.isASCII && $0.isNumber } })
        guard ok else { throw ConfigError(field, "\"\(text)\" is not a version like 1.30") }
        showHiddenMetricsForVersion = text
    }

    /// logging.verbosity (klog's -v): 0 to UInt32.max.
    public mutating func setLogVerbosity(_ value: Int64, field: String) throws {
        guard value >= 0, value <= Int64(UInt32.max), let v = Int(exactly: value) else {
            throw ConfigError(field, "\(value) is out of range (0-\(UInt32.max))")
        }
        logVerbosity = v
    }

    /// logging.format: `text` or `json`, the formats kube-proxy has.
    public mutating func setLogFormat(_ text: String, field: String) throws {
        guard text == "text" || text == "json" else { throw ConfigError(field, "\"\(text)\" is not a log format (text or json)") }
        logFormat = text
    }

    private static func nonNegativeInt32(_ value: Int64, field: String) throws -> Int32 {
        guard value >= 0 else { throw ConfigError(field, "\(value) must be greater than or equal to 0") }
        guard let v = Int32(exactly: value) else { throw ConfigError(field, "\(value) is out of range (0-\(Int32.max))") }
        return v
    }
}
