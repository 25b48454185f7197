import Yams

// MARK: - Configuration (KubeProxyConfiguration, kubeproxy.config.k8s.io/v1alpha1)
//
// Field names are upstream's so that an operator's existing file loads unchanged. Unknown fields
// are an error naming the field (upstream's strict decoding does the same). Fields kube-ipvs does
// not act on are accepted and listed in docs/configuration.md.

/// How kube-ipvs tells pod traffic from the rest (detectLocalMode).
public enum DetectLocalMode: String, Sendable, Hashable {
    case clusterCIDR = "ClusterCIDR"
    case nodeCIDR = "NodeCIDR"
    case bridgeInterface = "BridgeInterface"
    case interfaceNamePrefix = "InterfaceNamePrefix"
}

/// kube-proxy's conntrack settings (conntrack.*): sizing of nf_conntrack_max and the timeouts it
/// sets on the node. 0 (or false) leaves the kernel's value alone, as upstream.
public struct ConntrackConfig: Sendable, Hashable {
    /// nf_conntrack_max = max(maxPerCore x CPUs, min); maxPerCore 0 leaves it alone.
    public var maxPerCore: Int32 = 32768
    public var min: Int32 = 131072
    /// Seconds.
    public var tcpEstablishedTimeout: Double = 86400
    public var tcpCloseWaitTimeout: Double = 3600
    public var tcpBeLiberal: Bool = false
    public var udpTimeout: Double = 0
    public var udpStreamTimeout: Double = 0
    public init() {}
}

/// The settings the core and the daemon use, after the file and the flags are merged.
public struct ProxyConfig: Sendable, Hashable {
    /// Pod network CIDRs (one per family); empty when unknown.
    public var clusterCIDRs: [CIDR] = []
    /// Default IPVS scheduler for every virtual server.
    public var scheduler: String = "rr"
    public var strictARP: Bool = false
    /// Virtual servers on addresses inside these CIDRs are never deleted (ipvs.excludeCIDRs).
    public var excludeCIDRs: [CIDR] = []
    /// IPVS timeouts in seconds; 0 leaves the kernel's value alone.
    public var tcpTimeout: UInt32 = 0
    public var tcpFinTimeout: UInt32 = 0
    public var udpTimeout: UInt32 = 0
    public var masqueradeAll: Bool = false
    /// Bit of the packet mark used for masquerading (iptables.masqueradeBit), 0-31.
    public var masqueradeBit: Int = 14
    /// nodePortAddresses: CIDRs, or the word `primary`; empty means every local address.
    public var nodePortAddresses: [String] = []
    public var hostnameOverride: String? = nil
    /// Full resync period in seconds.
    public var syncPeriod: Double = 30
    /// Minimum time between syncs in seconds.
    public var minSyncPeriod: Double = 1
    public var healthzBindAddress: String = "0.0.0.0:10256"
    public var metricsBindAddress: String = "127.0.0.1:10249"
    public var detectLocalMode: DetectLocalMode = .clusterCIDR
    public var bridgeInterface: String? = nil
    public var interfaceNamePrefix: String? = nil
    /// clientConnection.kubeconfig.
    public var kubeconfig: String? = nil
    /// The API server's URL when it differs from the kubeconfig's (`--master`; no file field).
    public var master: String? = nil
    /// clientConnection.{qps,burst,contentType,acceptContentTypes} (upstream's defaults).
    public var clientQPS: Float = 5
    public var clientBurst: Int32 = 10
    public var contentType: String = "application/vnd.kubernetes.protobuf"
    public var acceptContentTypes: String = ""
    /// Informer resync period in seconds (configSyncPeriod; default 15m).
    public var configSyncPeriod: Double = 900
    /// The node's conntrack table sizing and timeouts (conntrack.*, or linux.conntrack.*).
    public var conntrack = ConntrackConfig()
    /// oom_score_adj of the proxy process (oomScoreAdj, or linux.oomScoreAdj); nil leaves it alone.
    public var oomScoreAdj: Int32? = -999
    /// bindAddress: the node's IP when not unspecified (upstream's primary-family choice).
    public var bindAddress: String = "0.0.0.0"
    public var bindAddressHardFail: Bool = false
    public var enableProfiling: Bool = false
    /// featureGates as given (upstream's gate names); kube-ipvs acts on none of them today.
    public var featureGates: [String: Bool] = [:]
    public var showHiddenMetricsForVersion: String = ""
    /// logging.verbosity (klog's -v) and logging.format ("text" or "json"), when given.
    public var logVerbosity: Int? = nil
    public var logFormat: String? = nil

    public init() {}

    /// The mark kube-ipvs sets on packets to masquerade, `1 << masqueradeBit` (the setter keeps the
    /// bit in 0-31; a value set directly out of that range gives no mark rather than a trap).
    public var masqueradeMark: UInt32 {
        guard let bit = UInt32(exactly: masqueradeBit), bit < 32 else { return 0 }
        return UInt32(1) << bit
    }

    /// Longest IPVS timeout in seconds: the kernel refuses more than INT_MAX / HZ, which is
    /// 2147483 s (24 days) at the highest HZ, 1000.
    public static let maxIPVSTimeout: UInt32 = 2_147_483

    /// The mark as iptables prints it: `0x4000`.
    public var masqueradeMarkHex: String { "0x" + String(masqueradeMark, radix: 16) }
}

/// A configuration problem, naming the field.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var message: String
    public init(_ field: String, _ message: String) { self.field = field; self.message = message }
    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

extension ProxyConfig {
    /// Known fields of KubeProxyConfiguration; a nested schema for sections, nil for opaque values.
    private static let schema: [String: Set<String>?] = [
        "apiVersion": nil, "kind": nil, "featureGates": nil, "hostnameOverride": nil, "bindAddress": nil,
        "healthzBindAddress": nil, "metricsBindAddress": nil, "bindAddressHardFail": nil, "enableProfiling": nil,
        "showHiddenMetricsForVersion": nil, "mode": nil, "detectLocalMode": nil, "clusterCIDR": nil,
        "nodePortAddresses": nil, "oomScoreAdj": nil, "configSyncPeriod": nil, "portRange": nil, "udpIdleTimeout": nil, "logging": nil,
        "syncPeriod": nil, "minSyncPeriod": nil, "windowsRunAsService": nil, "winkernel": nil, "windows": nil,
        "masqueradeAll": nil, "linux": ["masqueradeAll", "conntrack", "oomScoreAdj"],
        "clientConnection": ["kubeconfig", "acceptContentTypes", "contentType", "qps", "burst"],
        "iptables": ["masqueradeBit", "masqueradeAll", "localhostNodePorts", "syncPeriod", "minSyncPeriod"],
        "ipvs": ["syncPeriod", "minSyncPeriod", "scheduler", "excludeCIDRs", "strictARP", "tcpTimeout", "tcpFinTimeout", "udpTimeout"],
        "nftables": ["masqueradeBit", "masqueradeAll", "syncPeriod", "minSyncPeriod"],
        "detectLocal": ["bridgeInterface", "interfaceNamePrefix"],
        "conntrack": ["maxPerCore", "min", "tcpEstablishedTimeout", "tcpCloseWaitTimeout", "tcpBeLiberal", "udpTimeout", "udpStreamTimeout"],
    ]

    /// Parses a KubeProxyConfiguration document; unknown fields and bad values throw `ConfigError`.
    public static func parse(yaml text: String) throws -> ProxyConfig {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw ConfigError("", "not valid YAML: \(ManifestLoader.describe(error))")
        }
        guard let rootNode = node, let rootMapping = rootNode.mapping else {
            if node == nil { return ProxyConfig() }
            throw ConfigError("", "not a KubeProxyConfiguration object")
        }
        for (k, v) in rootMapping {
            guard let key = k.string else { throw ConfigError("", "non-string key") }
            guard let entry = schema[key] else { throw ConfigError(key, "unknown field") }
            if let section = entry {
                guard let m = v.mapping else {
                    if case .scalar(let s) = v, s.string.isEmpty || s.string == "null" { continue }
                    throw ConfigError(key, "expected a map")
                }
                for (sk, _) in m {
                    guard let sub = sk.string, section.contains(sub) else { throw ConfigError("\(key).\(sk.string ?? "?")", "unknown field") }
                }
            }
        }
        let root = rootNode
        if let kind = root["kind"]?.string, kind != "KubeProxyConfiguration" {
            throw ConfigError("kind", "\"\(kind)\" is not KubeProxyConfiguration")
        }
        if let api = root["apiVersion"]?.string, !api.hasPrefix("kubeproxy.config.k8s.io/") {
            throw ConfigError("apiVersion", "\"\(api)\" is not kubeproxy.config.k8s.io/v1alpha1")
        }

        var c = ProxyConfig()
        if let mode = try string(root, "mode"), !mode.isEmpty, mode != "ipvs" {
            throw ConfigError("mode", "\"\(mode)\": kube-ipvs implements only mode ipvs")
        }
        if let v = try string(root, "clusterCIDR") { try c.setClusterCIDRs(v, field: "clusterCIDR") }
        if let v = try string(root, "hostnameOverride"), !v.isEmpty { c.hostnameOverride = v }
        if let v = try string(root, "healthzBindAddress"), !v.isEmpty { c.healthzBindAddress = v }
        if let v = try string(root, "metricsBindAddress"), !v.isEmpty { c.metricsBindAddress = v }
        if let v = try bool(root, "masqueradeAll") { c.masqueradeAll = v }
        if let list = try strings(root, "nodePortAddresses") { try c.setNodePortAddresses(list, field: "nodePortAddresses") }
        if let v = try string(root, "detectLocalMode"), !v.isEmpty {
            guard let m = DetectLocalMode(rawValue: v) else {
                throw ConfigError("detectLocalMode", "unknown mode \"\(v)\" (ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix)")
            }
            c.detectLocalMode = m
        }
        if let d = root["detectLocal"] {
            if let v = try string(d, "bridgeInterface", prefix: "detectLocal."), !v.isEmpty {
                c.bridgeInterface = try interfaceName(v, field: "detectLocal.bridgeInterface")
            }
            if let v = try string(d, "interfaceNamePrefix", prefix: "detectLocal."), !v.isEmpty {
                c.interfaceNamePrefix = try interfaceName(v, field: "detectLocal.interfaceNamePrefix")
            }
        }
        if let cc = root["clientConnection"], let v = try string(cc, "kubeconfig", prefix: "clientConnection."), !v.isEmpty {
            c.kubeconfig = v
        }
        // 0 (kubeadm writes `0s`) means the default, as upstream's defaulting reads it.
        if let v = try duration(root, "syncPeriod"), v > 0 { c.syncPeriod = v }
        if let v = try duration(root, "minSyncPeriod") { c.minSyncPeriod = v }
        if let linux = root["linux"], let v = try bool(linux, "masqueradeAll", prefix: "linux."), v { c.masqueradeAll = true }
        if let ipt = root["iptables"] {
            if let v = try int(ipt, "masqueradeBit", prefix: "iptables.") { try c.setMasqueradeBit(v, field: "iptables.masqueradeBit") }
            if let v = try bool(ipt, "masqueradeAll", prefix: "iptables."), v { c.masqueradeAll = true }
        }
        if let ipvs = root["ipvs"] {
            if let v = try string(ipvs, "scheduler", prefix: "ipvs."), !v.isEmpty { try c.setScheduler(v, field: "ipvs.scheduler") }
            if let v = try bool(ipvs, "strictARP", prefix: "ipvs.") { c.strictARP = v }
            if let list = try strings(ipvs, "excludeCIDRs", prefix: "ipvs.") {
                c.excludeCIDRs = try list.enumerated().map { i, s in
                    guard let cidr = CIDR(s.trimmingSpaces) else { throw ConfigError("ipvs.excludeCIDRs[\(i)]", "\"\(s)\" is not a valid CIDR") }
                    return cidr
                }
            }
            if let v = try duration(ipvs, "tcpTimeout", prefix: "ipvs.") { c.tcpTimeout = try ProxyConfig.ipvsTimeout(v, field: "ipvs.tcpTimeout") }
            if let v = try duration(ipvs, "tcpFinTimeout", prefix: "ipvs.") { c.tcpFinTimeout = try ProxyConfig.ipvsTimeout(v, field: "ipvs.tcpFinTimeout") }
            if let v = try duration(ipvs, "udpTimeout", prefix: "ipvs.") { c.udpTimeout = try ProxyConfig.ipvsTimeout(v, field: "ipvs.udpTimeout") }
            if let v = try duration(ipvs, "syncPeriod", prefix: "ipvs."), v > 0 { c.syncPeriod = v }
            if let v = try duration(ipvs, "minSyncPeriod", prefix: "ipvs."), v > 0 { c.minSyncPeriod = v }
        }
        return c
    }

    // MARK: - Setters shared by the file and the flags (each validates)

    /// Sets clusterCIDRs from `10.244.0.0/16` or a dual-stack `v4,v6` list.
    public mutating func setClusterCIDRs(_ text: String, field: String) throws {
        var out: [CIDR] = []
        for part in text.split(separator: ",") {
            guard let c = CIDR(part.trimmingSpaces), part.contains("/") else {
                throw ConfigError(field, "\"\(part)\" is not a valid CIDR")
            }
            if out.contains(where: { $0.family == c.family }) { throw ConfigError(field, "at most one CIDR per family") }
            out.append(c)
        }
        clusterCIDRs = out
    }

    public mutating func setScheduler(_ name: String, field: String) throws {
        // Kernel scheduler module names are ip_vs_<name>; keep to that alphabet.
        guard !name.isEmpty, name.utf8.count <= 15, name.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) }) else {
            throw ConfigError(field, "\"\(name)\" is not an IPVS scheduler name (rr, wrr, lc, wlc, sh, mh, ...)")
        }
        scheduler = name
    }

    /// An IPVS timeout in whole seconds (fractions dropped, as kube-proxy does) from a duration in
    /// seconds; out of 0...maxIPVSTimeout (or not finite) is an error naming `field`.
    public static func ipvsTimeout(_ seconds: Double, field: String) throws -> UInt32 {
        guard seconds.isFinite, seconds >= 0, seconds < Double(maxIPVSTimeout) + 1,
              let whole = UInt32(exactly: seconds.rounded(.towardZero)) else {
            throw ConfigError(field, "\(GoDuration.format(seconds)) is out of range (0s-\(GoDuration.format(Double(maxIPVSTimeout))), the most the kernel accepts)")
        }
        return whole
    }

    public mutating func setMasqueradeBit(_ bit: Int, field: String) throws {
        guard bit >= 0 && bit <= 31 else { throw ConfigError(field, "\(bit) is out of range (0-31)") }
        masqueradeBit = bit
    }

    /// nodePortAddresses: CIDRs, or `primary` alone (upstream's validation: "can't use both 'primary' and CIDRs").
    public mutating func setNodePortAddresses(_ list: [String], field: String) throws {
        let list = list.map { $0.trimmingSpaces }
        for (i, s) in list.enumerated() {
            if s == "primary" {
                guard list.count == 1 else { throw ConfigError("\(field)[\(i)]", "can't use both \"primary\" and CIDRs") }
                continue
            }
            guard CIDR(s) != nil, s.contains("/") else {
                throw ConfigError("\(field)[\(i)]", "\"\(s)\" is not a CIDR or \"primary\"")
            }
        }
        nodePortAddresses = list
    }

    /// A Linux interface name (or prefix): at most 15 bytes of letters, digits and `.-_@+`. It goes
    /// into iptables rules (`-i NAME`), where a space or a newline would change the rule.
    public static func interfaceName(_ v: String, field: String) throws -> String {
        let ok = v.utf8.count <= 15 && v != "." && v != ".." && v.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "._-@+".utf8.contains(b)
        }
        guard ok else { throw ConfigError(field, "\"\(v)\" is not an interface name (at most 15 of a-z, A-Z, 0-9 and .-_@+)") }
        return v
    }

    // MARK: - Typed field readers

    private static func scalar(_ node: Node, _ key: String, _ prefix: String) throws -> Node.Scalar? {
        guard let v = node[key] else { return nil }
        guard case .scalar(let s) = v else { throw ConfigError(prefix + key, "expected a single value") }
        if s.string == "null" || s.string == "~" || (s.string.isEmpty && s.style == .plain) { return nil }
        return s
    }

    static func string(_ node: Node, _ key: String, prefix: String = "") throws -> String? {
        try scalar(node, key, prefix)?.string
    }

    static func bool(_ node: Node, _ key: String, prefix: String = "") throws -> Bool? {
        guard let s = try scalar(node, key, prefix) else { return nil }
        switch s.string { case "true", "True", "TRUE": return true; case "false", "False", "FALSE": return false
        default: throw ConfigError(prefix + key, "\"\(s.string)\" is not true or false") }
    }

    static func int(_ node: Node, _ key: String, prefix: String = "") throws -> Int? {
        guard let s = try scalar(node, key, prefix) else { return nil }
        guard let i = Int(s.string) else { throw ConfigError(prefix + key, "\"\(s.string)\" is not an integer") }
        return i
    }

    static func strings(_ node: Node, _ key: String, prefix: String = "") throws -> [String]? {
        guard let v = node[key] else { return nil }
        if case .scalar(let s) = v, s.string == "null" || s.string.isEmpty { return nil }
        guard let seq = v.sequence else { throw ConfigError(prefix + key, "expected a list") }
        return try seq.enumerated().map { i, n in
            guard let s = n.string else { throw ConfigError("\(prefix)\(key)[\(i)]", "expected a string") }
            return s
        }
    }

    static func duration(_ node: Node, _ key: String, prefix: String = "") throws -> Double? {
        guard let s = try scalar(node, key, prefix) else { return nil }
        guard let d = GoDuration.parse(s.string) else {
            throw ConfigError(prefix + key, "\"\(s.string)\" is not a duration (like 30s, 1m0s, 500ms)")
        }
        return d
    }
}

/// Go's time.Duration text (`1h2m3.5s`, `500ms`, `0`), in seconds.
public enum GoDuration {
    /// Longest duration Go represents (int64 nanoseconds, about 292 years); Go refuses longer text
    /// as "invalid duration", and so does `parse`: every value it returns is finite and within
    /// what Swift's Duration and Task.sleep take.
    public static let maxSeconds = Double(Int64.max) / 1e9

    /// Seconds, or nil for text that is not a duration or is out of Go's range.
    public static func parse(_ text: String) -> Double? {
        if text == "0" { return 0 }
        var total = 0.0
        var s = Substring(text)
        guard !s.isEmpty else { return nil }
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        while !s.isEmpty {
            // ASCII digits only: Character.isNumber also takes other scripts' digits and fractions.
            let num = s.prefix { ($0.isASCII && $0.isNumber) || $0 == "." }
            guard !num.isEmpty, let value = Double(num), value.isFinite else { return nil }
            s = s.dropFirst(num.count)
            guard let unit = units.first(where: { s.hasPrefix($0.0) && !(($0.0 == "m") && s.hasPrefix("ms")) }) else { return nil }
            s = s.dropFirst(unit.0.count)
            total += value * unit.1
            guard total.isFinite, total <= maxSeconds else { return nil }
        }
        return total
    }

    /// `90s`, `1.5s`, or the value as Go would not print it (`inf`) for error texts.
    public static func format(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "\(seconds)s" }
        if seconds == seconds.rounded(), abs(seconds) < 1e15 { return "\(Int64(seconds))s" }
        return "\(seconds)s"
    }
}
