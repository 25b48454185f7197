import KubeModel
// TEMPORARY until branch config is merged (it has the real encoder).
extension ProxyConfig {
    func kubeProxyConfigurationYAML() -> String {
        "oomScoreAdj: \(oomScoreAdj.map(String.init) ?? "null")\nmaxPerCore: \(conntrack.maxPerCore)\nhealthzBindAddress: \(healthzBindAddress)\nmetricsBindAddress: \(metricsBindAddress)\n"
    }
}
