// MARK: - Configuration (KubeProxyConfiguration, kubeproxy.config.k8s.io/v1alpha1)
//
// Field names are upstream's so that an operator's existing file loads unchanged: decoding is in
// ProxyConfig+Decoding.swift, the fields in ProxyConfig+Fields.swift, the document kube-ipvs
// writes (--write-config-to, /configz) in ProxyConfig+Encoding.swift.

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
    static func interfaceName(_ v: String, field: String) throws -> String {
        let ok = v.utf8.count <= 15 && v != "." && v != ".." && v.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "._-@+".utf8.contains(b)
        }
        guard ok else { throw ConfigError(field, "\"\(v)\" is not an interface name (at most 15 of a-z, A-Z, 0-9 and .-_@+)") }
        return v
    }
}
