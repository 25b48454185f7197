// MARK: - Decoding a KubeProxyConfiguration file as upstream's loader does
//
// Strictly first: an unknown or duplicate field fails. When that is all that failed, the file is
// decoded leniently (unknown fields dropped, the last duplicate wins) with one warning naming
// them, as kube-proxy logs "Using lenient decoding as strict decoding failed". A value of the
// wrong type, a missing or foreign apiVersion/kind, and a bad value are errors naming the field.

/// A decoded configuration and the decoder's warnings (for the caller to print or log once).
public struct ConfigDecoding: Sendable, Hashable {
    public var config: ProxyConfig
    /// At most one line: the lenient decoding's warning naming each unknown and duplicate field.
    public var warnings: [String]
}

extension ProxyConfig {
    /// The one apiVersion upstream's loader takes (v1alpha2 was withdrawn before any release).
    public static let configAPIVersion = "kubeproxy.config.k8s.io/v1alpha1"

    /// Every field of KubeProxyConfiguration v1alpha1 from kube-proxy 1.20 to the latest release
    /// (component-base's ClientConnectionConfiguration and LoggingConfiguration included), typed.
    /// `udpIdleTimeout` left upstream in 1.26; files written before still carry it.
    static let schema: [String: FieldKind] = {
        let durations = { (names: [String]) in Dictionary(uniqueKeysWithValues: names.map { ($0, FieldKind.duration) }) }
        let formatOptions: [String: FieldKind] = ["splitStream": .bool, "infoBufferSize": .quantity]
        return [
            "apiVersion": .string, "kind": .string,
            "featureGates": .boolMap,
            "clientConnection": .object(["kubeconfig": .string, "acceptContentTypes": .string, "contentType": .string,
                                         "qps": .float32, "burst": .int32]),
            "logging": .object(["format": .string, "flushFrequency": .timeOrDuration, "verbosity": .uint32,
                                "vmodule": .objects(["filePattern": .string, "verbosity": .uint32]),
                                "options": .object(["text": .object(formatOptions), "json": .object(formatOptions)])]),
            "hostnameOverride": .string, "bindAddress": .string, "healthzBindAddress": .string, "metricsBindAddress": .string,
            "bindAddressHardFail": .bool, "enableProfiling": .bool, "showHiddenMetricsForVersion": .string, "mode": .string,
            "iptables": .object(["masqueradeBit": .int32, "masqueradeAll": .bool, "localhostNodePorts": .bool]
                .merging(durations(["syncPeriod", "minSyncPeriod"])) { a, _ in a }),
            "ipvs": .object(["scheduler": .string, "excludeCIDRs": .strings, "strictARP": .bool]
                .merging(durations(["syncPeriod", "minSyncPeriod", "tcpTimeout", "tcpFinTimeout", "udpTimeout"])) { a, _ in a }),
            "nftables": .object(["masqueradeBit": .int32, "masqueradeAll": .bool]
                .merging(durations(["syncPeriod", "minSyncPeriod"])) { a, _ in a }),
            "winkernel": .object(["networkName": .string, "sourceVip": .string, "enableDSR": .bool,
                                  "rootHnsEndpointName": .string, "forwardHealthCheckVip": .bool]),
            "detectLocalMode": .string,
            "detectLocal": .object(["bridgeInterface": .string, "interfaceNamePrefix": .string]),
            "clusterCIDR": .string, "nodePortAddresses": .strings, "oomScoreAdj": .int32,
            "conntrack": .object(["maxPerCore": .int32, "min": .int32, "tcpBeLiberal": .bool]
                .merging(durations(["tcpEstablishedTimeout", "tcpCloseWaitTimeout", "udpTimeout", "udpStreamTimeout"])) { a, _ in a }),
            "configSyncPeriod": .duration, "portRange": .string, "udpIdleTimeout": .duration, "windowsRunAsService": .bool,
        ]
    }()

    /// Decodes a KubeProxyConfiguration as upstream's loader: strict, else lenient with a warning.
    /// Type errors, apiVersion/kind and bad values throw `ConfigError` naming the field.
    public static func decode(yaml text: String) throws -> ConfigDecoding {
        let (config, problems) = try decodeReportingStrictProblems(text)
        let warning = "Using lenient decoding as strict decoding failed: \(problems.description)"
        return ConfigDecoding(config: config, warnings: problems.isEmpty ? [] : [warning])
    }

    /// Decodes strictly: an unknown or duplicate field is an error too (for tests and tools that
    /// want a file exactly in upstream's shape).
    public static func parse(yaml text: String) throws -> ProxyConfig {
        let (config, problems) = try decodeReportingStrictProblems(text)
        if let field = problems.unknown.first { throw ConfigError(field, "unknown field") }
        if let field = problems.duplicate.first { throw ConfigError(field, "duplicate field") }
        return config
    }

    private static func decodeReportingStrictProblems(_ text: String) throws -> (ProxyConfig, StrictProblems) {
        let (root, duplicates) = try ConfigTree.read(text)
        guard let root, case .map(let top) = root else {
            if root == nil { throw ConfigError("", "empty file: expected apiVersion: \(configAPIVersion) and kind: KubeProxyConfiguration") }
            throw ConfigError("", "not a KubeProxyConfiguration object")
        }
        // Upstream finds the type from these two before it decodes anything else.
        guard let kind = try ConfigTree.string(top["kind"] ?? .null, "kind"), !kind.isEmpty else {
            throw ConfigError("kind", "missing (KubeProxyConfiguration)")
        }
        guard let api = try ConfigTree.string(top["apiVersion"] ?? .null, "apiVersion"), !api.isEmpty else {
            throw ConfigError("apiVersion", "missing (\(configAPIVersion))")
        }
        guard api == configAPIVersion else { throw ConfigError("apiVersion", "\"\(api)\" is not \(configAPIVersion)") }
        guard kind == "KubeProxyConfiguration" else { throw ConfigError("kind", "\"\(kind)\" is not KubeProxyConfiguration") }

        var problems = StrictProblems(duplicate: duplicates)
        try ConfigTree.check(root, .object(schema), path: "", unknown: &problems.unknown)
        return (try ProxyConfig(fields: root), problems)
    }
}
