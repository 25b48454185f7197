// MARK: - The configuration as upstream writes it
//
// `kubeProxyConfigurationYAML()` is what `kube-proxy --write-config-to` writes: the v1alpha1
// document of the latest release, every field with its effective value, keys sorted, durations
// as Go prints them. `configzJSON()` is the body of upstream's /configz: component-base's
// configz marshals the internal (unversioned) KubeProxyConfiguration, whose fields have no JSON
// tags, so its keys are the Go field names in declaration order (`Linux`, `ClientConnection`,
// ...), except `Logging`, a versioned type with tags. Decoding the YAML gives back the same
// ProxyConfig (for a nil oomScoreAdj: null, which upstream and kube-ipvs read as -999).

/// A value of an encoded document, in the order it is written.
private indirect enum Encoded {
    case string(String)
    /// A number, a bool or null, written as is.
    case literal(String)
    case list([Encoded])
    case map([(String, Encoded)])
    case nullOr([Encoded]?)

    static func bool(_ b: Bool) -> Encoded { .literal(b ? "true" : "false") }
    static func int<T: BinaryInteger>(_ i: T) -> Encoded { .literal(String(i)) }
    static func duration(_ seconds: Double) -> Encoded { .string(GoDuration.goString(seconds)) }
    static func strings(_ list: [String]) -> Encoded { .nullOr(list.isEmpty ? nil : list.map(Encoded.string)) }
}

extension ProxyConfig {
    /// The KubeProxyConfiguration v1alpha1 YAML document of this configuration (`--write-config-to`).
    public func kubeProxyConfigurationYAML() -> String {
        var out = ""
        Self.writeYAML(.map(v1alpha1Document()), indent: "", into: &out)
        return out
    }

    /// The exact body of `/configz`: `{"kubeproxy.config.k8s.io":{...}}`, upstream's internal shape.
    public func configzJSON() -> String {
        var out = ""
        Self.writeJSON(.map([("kubeproxy.config.k8s.io", .map(internalDocument()))]), into: &out)
        return out
    }

    private var clusterCIDRText: String { clusterCIDRs.map(\.description).joined(separator: ",") }

    private var conntrackFields: [(String, Encoded)] {
        [("maxPerCore", .int(conntrack.maxPerCore)), ("min", .int(conntrack.min)),
         ("tcpEstablishedTimeout", .duration(conntrack.tcpEstablishedTimeout)),
         ("tcpCloseWaitTimeout", .duration(conntrack.tcpCloseWaitTimeout)), ("tcpBeLiberal", .bool(conntrack.tcpBeLiberal)),
         ("udpTimeout", .duration(conntrack.udpTimeout)), ("udpStreamTimeout", .duration(conntrack.udpStreamTimeout))]
    }

    /// logging as kube-ipvs runs it: klog's 5s flush, the format and verbosity when set.
    private var loggingFields: [(String, Encoded)] {
        var fields: [(String, Encoded)] = []
        if let logFormat { fields.append(("format", .string(logFormat))) }
        fields.append(("flushFrequency", .string("5s")))
        if let logVerbosity { fields.append(("verbosity", .int(logVerbosity))) }
        fields.append(("options", logOptions))
        return fields
    }

    private var logOptions: Encoded {
        let buffer: Encoded = .map([("infoBufferSize", .string("0"))])
        return .map([("text", buffer), ("json", buffer)])
    }

    private var oomScoreAdjValue: Encoded { oomScoreAdj.map { .int($0) } ?? .literal("null") }

    private func v1alpha1Document() -> [(String, Encoded)] {
        let gates: [(String, Encoded)] = featureGates.keys.sorted().map { ($0, .bool(featureGates[$0]!)) }
        var doc: [(String, Encoded)] = [
            ("apiVersion", .string(Self.configAPIVersion)), ("kind", .string("KubeProxyConfiguration")),
            ("bindAddress", .string(bindAddress)), ("bindAddressHardFail", .bool(bindAddressHardFail)),
            ("clientConnection", .map([("acceptContentTypes", .string(acceptContentTypes)), ("burst", .int(clientBurst)),
                                       ("contentType", .string(contentType)), ("kubeconfig", .string(kubeconfig ?? "")),
                                       ("qps", .literal(Self.goFloat(clientQPS)))])),
            ("clusterCIDR", .string(clusterCIDRText)), ("configSyncPeriod", .duration(configSyncPeriod)),
            ("conntrack", .map(conntrackFields)),
            ("detectLocal", .map([("bridgeInterface", .string(bridgeInterface ?? "")), ("interfaceNamePrefix", .string(interfaceNamePrefix ?? ""))])),
            ("detectLocalMode", .string(detectLocalMode.rawValue)), ("enableProfiling", .bool(enableProfiling)),
            ("healthzBindAddress", .string(healthzBindAddress)), ("hostnameOverride", .string(hostnameOverride ?? "")),
            // iptables: the mark and masqueradeAll, which the IPVS proxier takes from there; its
            // periods and localhostNodePorts are iptables mode's, written with their defaults.
            ("iptables", .map([("localhostNodePorts", .bool(true)), ("masqueradeAll", .bool(masqueradeAll)), ("masqueradeBit", .int(masqueradeBit)),
                               ("minSyncPeriod", .duration(1)), ("syncPeriod", .duration(30))])),
            ("ipvs", .map([("excludeCIDRs", .strings(excludeCIDRs.map(\.description))), ("minSyncPeriod", .duration(minSyncPeriod)),
                           ("scheduler", .string(scheduler)), ("strictARP", .bool(strictARP)), ("syncPeriod", .duration(syncPeriod)),
                           ("tcpFinTimeout", .duration(Double(tcpFinTimeout))), ("tcpTimeout", .duration(Double(tcpTimeout))),
                           ("udpTimeout", .duration(Double(udpTimeout)))])),
            ("logging", .map(loggingFields)),
            ("metricsBindAddress", .string(metricsBindAddress)), ("mode", .string("ipvs")),
            ("nftables", .map([("masqueradeAll", .bool(false)), ("masqueradeBit", .int(14)), ("minSyncPeriod", .duration(1)), ("syncPeriod", .duration(30))])),
            ("nodePortAddresses", .strings(nodePortAddresses)), ("oomScoreAdj", oomScoreAdjValue), ("portRange", .string("")),
            ("showHiddenMetricsForVersion", .string(showHiddenMetricsForVersion)),
            ("winkernel", .map([("enableDSR", .bool(false)), ("forwardHealthCheckVip", .bool(false)), ("networkName", .string("")),
                                ("rootHnsEndpointName", .string("")), ("sourceVip", .string(""))])),
        ]
        // featureGates is `omitempty` upstream.
        if !gates.isEmpty { doc.append(("featureGates", .map(gates))) }
        return doc
    }

    private func internalDocument() -> [(String, Encoded)] {
        func goNames(_ fields: [(String, Encoded)]) -> [(String, Encoded)] {
            let names = ["maxPerCore": "MaxPerCore", "min": "Min", "tcpEstablishedTimeout": "TCPEstablishedTimeout",
                         "tcpCloseWaitTimeout": "TCPCloseWaitTimeout", "tcpBeLiberal": "TCPBeLiberal", "udpTimeout": "UDPTimeout",
                         "udpStreamTimeout": "UDPStreamTimeout"]
            return fields.map { (names[$0.0] ?? $0.0, $0.1) }
        }
        return [
            ("Linux", .map([("Conntrack", .map(goNames(conntrackFields))), ("MasqueradeAll", .bool(masqueradeAll)), ("OOMScoreAdj", oomScoreAdjValue)])),
            ("Windows", .map([("RunAsService", .bool(false))])),
            ("FeatureGates", .map(featureGates.keys.sorted().map { ($0, .bool(featureGates[$0]!)) })),
            ("ClientConnection", .map([("Kubeconfig", .string(kubeconfig ?? "")), ("AcceptContentTypes", .string(acceptContentTypes)),
                                       ("ContentType", .string(contentType)), ("QPS", .literal(Self.goFloat(clientQPS))), ("Burst", .int(clientBurst))])),
            ("Logging", .map([("format", .string(logFormat ?? "text")), ("flushFrequency", .string("5s")),
                              ("verbosity", .int(logVerbosity ?? 0)), ("options", logOptions)])),
            ("HostnameOverride", .string(hostnameOverride ?? "")), ("BindAddress", .string(bindAddress)),
            ("HealthzBindAddress", .string(healthzBindAddress)), ("MetricsBindAddress", .string(metricsBindAddress)),
            ("BindAddressHardFail", .bool(bindAddressHardFail)), ("EnableProfiling", .bool(enableProfiling)),
            ("ShowHiddenMetricsForVersion", .string(showHiddenMetricsForVersion)),
            ("Mode", .string("ipvs")),
            ("IPTables", .map([("MasqueradeBit", .int(masqueradeBit)), ("LocalhostNodePorts", .bool(true))])),
            ("IPVS", .map([("Scheduler", .string(scheduler)), ("ExcludeCIDRs", .strings(excludeCIDRs.map(\.description))),
                           ("StrictARP", .bool(strictARP)), ("TCPTimeout", .duration(Double(tcpTimeout))),
                           ("TCPFinTimeout", .duration(Double(tcpFinTimeout))), ("UDPTimeout", .duration(Double(udpTimeout)))])),
            ("Winkernel", .map([("NetworkName", .string("")), ("SourceVip", .string("")), ("EnableDSR", .bool(false)),
                                ("RootHnsEndpointName", .string("")), ("ForwardHealthCheckVip", .bool(false))])),
            ("NFTables", .map([("MasqueradeBit", .int(14))])),
            ("DetectLocalMode", .string(detectLocalMode.rawValue)),
            ("DetectLocal", .map([("BridgeInterface", .string(bridgeInterface ?? "")), ("ClusterCIDRs", .strings(clusterCIDRs.map(\.description))),
                                  ("InterfaceNamePrefix", .string(interfaceNamePrefix ?? ""))])),
            ("NodePortAddresses", .strings(nodePortAddresses)),
            ("SyncPeriod", .duration(syncPeriod)), ("MinSyncPeriod", .duration(minSyncPeriod)), ("ConfigSyncPeriod", .duration(configSyncPeriod)),
        ]
    }

    /// A float32 as Go's encoding/json writes it: the shortest digits that read back, plain
    /// between 1e-6 and 1e21 (`5`, `0.5`, `100000000000000000000`), else `1e+21`, `1e-7`.
    static func goFloat(_ f: Float) -> String {
        guard f.isFinite else { return "0" }
        if f == 0 { return "0" }
        // Swift's description has the shortest digits too; only its layout differs from Go's.
        var text = "\(f.magnitude)"
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        var digits = String(parts[0]) + (parts.count > 1 ? String(parts[1]) : "")
        var point = parts[0].count + exponent
        // Normalise: no leading zeros in the digits, no trailing ones.
        while digits.hasPrefix("0"), digits.count > 1 { digits.removeFirst(); point -= 1 }
        while digits.hasSuffix("0"), digits.count > 1 { digits.removeLast() }
        let sign = f < 0 ? "-" : ""
        let magnitude = f.magnitude
        if magnitude < 1e-6 || magnitude >= 1e21 {
            let e = point - 1
            let mantissa = digits.count > 1 ? "\(digits.first!).\(digits.dropFirst())" : digits
            return sign + mantissa + (e < 0 ? "e-" : "e+") + String(abs(e))
        }
        if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + digits }
        if point >= digits.count { return sign + digits + String(repeating: "0", count: point - digits.count) }
        return sign + digits.prefix(point) + "." + digits.dropFirst(point)
    }

    // MARK: - Writers

    private static func writeYAML(_ value: Encoded, indent: String, into out: inout String) {
        guard case .map(let fields) = value else { return }
        for (key, v) in fields.sorted(by: { $0.0 < $1.0 }) {
            out += indent + yamlScalar(key) + ":"
            switch v {
            case .map(let sub) where sub.isEmpty: out += " {}\n"
            case .map: out += "\n"; writeYAML(v, indent: indent + "  ", into: &out)
            case .list(let items), .nullOr(let items?):
                if items.isEmpty { out += " []\n"; continue }
                out += "\n"
                for item in items { out += indent + "- " + yamlInline(item) + "\n" }
            default: out += " " + yamlInline(v) + "\n"
            }
        }
    }

    private static func yamlInline(_ v: Encoded) -> String {
        switch v {
        case .string(let s): return yamlScalar(s)
        case .literal(let s): return s
        case .nullOr(nil): return "null"
        default:
            var out = ""
            writeJSON(v, into: &out)
            return out
        }
    }

    /// A string as a plain YAML scalar when it reads back as the same string, else double-quoted.
    static func yamlScalar(_ s: String) -> String {
        guard let first = s.unicodeScalars.first, let last = s.unicodeScalars.last else { return "\"\"" }
        let indicators = "-?:,[]{}#&*!|>'\"%@`".unicodeScalars
        let special = ["true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON",
                       "off", "Off", "OFF", "y", "Y", "n", "N", "null", "Null", "NULL", "~", "<<", "="]
        let plain = !indicators.contains(first) && first != " " && last != " " && last != ":"
            && !s.contains(": ") && !s.contains(" #") && !special.contains(s)
            && s.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F && $0 != "\u{85}" && $0 != "\u{2028}" && $0 != "\u{2029}" }
            && !looksLikeYAMLNumberOrDate(s)
        return plain ? s : GoJSON.string(s)
    }

    /// Plain scalars YAML 1.1 readers (upstream's among them) resolve to numbers or timestamps.
    private static func looksLikeYAMLNumberOrDate(_ s: String) -> Bool {
        s.wholeMatch(of: /[-+]?[0-9_]+|0x[0-9a-fA-F_]+|0o?[0-7_]+|0b[01_]+/) != nil
            || s.wholeMatch(of: /[-+]?(\.[0-9_]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?/) != nil
            || s.wholeMatch(of: /[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?/) != nil
            || s.wholeMatch(of: /[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)/) != nil
            || s.prefixMatch(of: /[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}/) != nil
    }

    private static func writeJSON(_ value: Encoded, into out: inout String) {
        switch value {
        case .string(let s): out += GoJSON.string(s)
        case .literal(let s): out += s
        case .nullOr(nil): out += "null"
        case .list(let items), .nullOr(let items?):
            out += "["
            for (i, item) in items.enumerated() { if i > 0 { out += "," }; writeJSON(item, into: &out) }
            out += "]"
        case .map(let fields):
            out += "{"
            for (i, (k, v)) in fields.enumerated() {
                if i > 0 { out += "," }
                out += GoJSON.string(k) + ":"
                writeJSON(v, into: &out)
            }
            out += "}"
        }
    }

}
