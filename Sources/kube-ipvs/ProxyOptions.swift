import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel

/// Configuration shared by the commands: a KubeProxyConfiguration file and kube-proxy's flags, which win.
struct ProxyOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "A KubeProxyConfiguration YAML file (kubeproxy.config.k8s.io/v1alpha1).")
    var configFile: String?

    @Option(name: .customLong("cluster-cidr"), help: "Pod network CIDR(s), comma-separated for dual-stack (clusterCIDR).")
    var clusterCIDR: String?

    @Option(name: .customLong("ipvs-scheduler"), help: "IPVS scheduler for every virtual server (ipvs.scheduler; default rr).")
    var scheduler: String?

    @Flag(name: .customLong("masquerade-all"), help: "Masquerade all traffic sent to Service cluster IPs (masqueradeAll).")
    var masqueradeAll = false

    @Flag(name: .customLong("ipvs-strict-arp"), help: "Set arp_ignore=1 and arp_announce=2 (ipvs.strictARP).")
    var strictARP = false

    @Option(name: .customLong("iptables-masquerade-bit"), help: "Mark bit for masquerading, 0-31 (iptables.masqueradeBit; default 14).")
    var masqueradeBit: Int?

    @Option(name: .customLong("hostname-override"), help: "This node's name, when it is not the hostname (hostnameOverride).")
    var hostnameOverride: String?

    @Option(name: .customLong("nodeport-addresses"), help: "Node addresses for NodePorts: CIDRs (comma-separated), or 'primary' (the Node's first InternalIP per family); default every address but loopback and kube-ipvs0's (nodePortAddresses).")
    var nodePortAddresses: String?

    @Option(name: .customLong("ipvs-exclude-cidrs"), help: "Comma-separated CIDRs whose virtual servers are never deleted (ipvs.excludeCIDRs).")
    var excludeCIDRs: String?

    @Option(name: .customLong("ipvs-tcp-timeout"), help: "IPVS TCP timeout, e.g. 900s; 0 leaves it alone (ipvs.tcpTimeout).")
    var tcpTimeout: String?

    @Option(name: .customLong("ipvs-tcpfin-timeout"), help: "IPVS TCP FIN timeout; 0 leaves it alone (ipvs.tcpFinTimeout).")
    var tcpFinTimeout: String?

    @Option(name: .customLong("ipvs-udp-timeout"), help: "IPVS UDP timeout; 0 leaves it alone (ipvs.udpTimeout).")
    var udpTimeout: String?

    @Option(name: .customLong("detect-local-mode"), help: "ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix (detectLocalMode).")
    var detectLocalMode: String?

    /// The configuration file merged with the flags; errors name the file and field or the flag.
    func load() throws -> ProxyConfig {
        var c = try configFile.map(Self.readConfigFile) ?? ProxyConfig()
        do {
            if let v = clusterCIDR { try c.setClusterCIDRs(v, field: "--cluster-cidr") }
            if let v = scheduler { try c.setScheduler(v, field: "--ipvs-scheduler") }
            if masqueradeAll { c.masqueradeAll = true }
            if strictARP { c.strictARP = true }
            if let v = masqueradeBit { try c.setMasqueradeBit(v, field: "--iptables-masquerade-bit") }
            if let v = hostnameOverride, !v.isEmpty { c.hostnameOverride = v }
            if let v = nodePortAddresses {
                try c.setNodePortAddresses(v.split(separator: ",").map(String.init), field: "--nodeport-addresses")
            }
            if let v = excludeCIDRs { c.excludeCIDRs = try Self.excludeCIDRs(v) }
            if let v = tcpTimeout { c.tcpTimeout = try seconds(v, "--ipvs-tcp-timeout") }
            if let v = tcpFinTimeout { c.tcpFinTimeout = try seconds(v, "--ipvs-tcpfin-timeout") }
            if let v = udpTimeout { c.udpTimeout = try seconds(v, "--ipvs-udp-timeout") }
            if let v = detectLocalMode {
                guard let m = DetectLocalMode(rawValue: v) else {
                    throw ConfigError("--detect-local-mode", "unknown mode \"\(v)\" (ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix)")
                }
                c.detectLocalMode = m
            }
        } catch let e as ConfigError {
            throw ValidationError(e.description)
        }
        return c
    }

    /// The KubeProxyConfiguration file at `path`; errors name the file and the field. Read to its
    /// end through a handle, so that a pipe works too (`--config /dev/stdin`, `<(...)`).
    static func readConfigFile(_ path: String) throws -> ProxyConfig {
        guard let data = BoundedFile.read(path), let text = String(bytes: data, encoding: .utf8) else {
            throw ValidationError("--config \(path): cannot read the file")
        }
        do {
            // Upstream's lenient decoding: one warning naming the unknown or duplicate fields.
            let decoded = try ProxyConfig.decode(yaml: text)
            for w in decoded.warnings { StandardStream.error("warning: --config \(path): \(w)\n") }
            return decoded.config
        } catch let e as ConfigError {
            throw ValidationError("--config \(path): \(e)")
        }
    }

    /// The value of `--ipvs-exclude-cidrs`: comma-separated CIDRs.
    static func excludeCIDRs(_ value: String) throws -> [CIDR] {
        try value.split(separator: ",").map { s in
            guard let cidr = CIDR(String(s)), s.contains("/") else { throw ConfigError("--ipvs-exclude-cidrs", "\"\(s)\" is not a valid CIDR") }
            return cidr
        }
    }

    private func seconds(_ text: String, _ flag: String) throws -> UInt32 {
        guard let d = GoDuration.parse(text) else {
            throw ConfigError(flag, "\"\(text)\" is not a duration (like 900s, 15m0s)")
        }
        return try ProxyConfig.ipvsTimeout(d, field: flag)
    }

    /// This node's name: hostnameOverride, or the lower-cased hostname (as kubelet registers it).
    func nodeName(_ config: ProxyConfig) -> String {
        config.hostnameOverride ?? ProcessInfo.processInfo.hostName.lowercased()
    }
}
