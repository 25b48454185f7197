import KubeModel
// TEMPORARY until branch config is merged (it has the real encoder).
extension ProxyConfig {
    func kubeProxyConfigurationYAML() -> String {
        func d(_ s: Double) -> String {
            var t = Int(s); if t == 0 { return "0s" }
            let h = t / 3600; t %= 3600; let m = t / 60; let sec = t % 60
            if h > 0 { return "\(h)h\(m)m\(sec)s" }; if m > 0 { return "\(m)m\(sec)s" }; return "\(sec)s"
        }
        func q(_ s: String) -> String { s.isEmpty || s.contains("::") || s == "1.30" ? "\"\(s)\"" : s }
        var l = ["kind: KubeProxyConfiguration", "bindAddress: \(bindAddress)", "bindAddressHardFail: \(bindAddressHardFail)",
                 "burst: \(clientBurst)", "contentType: \(contentType)", "kubeconfig: \(kubeconfig ?? "")", "qps: \(clientQPS == clientQPS.rounded() ? String(Int(clientQPS)) : "\(clientQPS)")",
                 "clusterCIDR: \(clusterCIDRs.map(\.description).joined(separator: ","))", "configSyncPeriod: \(d(configSyncPeriod))",
                 "maxPerCore: \(conntrack.maxPerCore)", "min: \(conntrack.min)", "tcpEstablishedTimeout: \(d(conntrack.tcpEstablishedTimeout))",
                 "tcpCloseWaitTimeout: \(d(conntrack.tcpCloseWaitTimeout))", "tcpBeLiberal: \(conntrack.tcpBeLiberal)",
                 "udpTimeout: \(d(conntrack.udpTimeout))", "udpStreamTimeout: \(d(conntrack.udpStreamTimeout))",
                 "bridgeInterface: \(bridgeInterface ?? "")", "interfaceNamePrefix: \(interfaceNamePrefix ?? "")",
                 "detectLocalMode: \(detectLocalMode.rawValue)", "healthzBindAddress: \(q(healthzBindAddress))", "hostnameOverride: \(hostnameOverride ?? "")",
                 "masqueradeAll: \(masqueradeAll)", "masqueradeBit: \(masqueradeBit)", "minSyncPeriod: \(d(minSyncPeriod))", "scheduler: \(scheduler)",
                 "strictARP: \(strictARP)", "syncPeriod: \(d(syncPeriod))", "tcpFinTimeout: \(d(Double(tcpFinTimeout)))", "tcpTimeout: \(d(Double(tcpTimeout)))",
                 "udpTimeout: \(d(Double(udpTimeout)))", "metricsBindAddress: \(q(metricsBindAddress))", "oomScoreAdj: \(oomScoreAdj.map(String.init) ?? "null")",
                 "showHiddenMetricsForVersion: \(q(showHiddenMetricsForVersion))"]
        if let logFormat { l.append("format: \(logFormat)") }
        if let logVerbosity { l.append("verbosity: \(logVerbosity)") }
        l += excludeCIDRs.map { "- \($0)" } + nodePortAddresses.map { "- \($0)" }
        if !featureGates.isEmpty { l.append("featureGates:"); l += featureGates.map { "  \($0.key): \($0.value)" } }
        return l.joined(separator: "\n") + "\n"
    }
}
