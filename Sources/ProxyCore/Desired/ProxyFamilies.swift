import KubeModel

// MARK: - Which address families kube-ipvs programs
//
// One rule for `sync` and the daemon: IPv4 always (upstream's default
// primary family); every family of clusterCIDR; IPv6 as soon as a Service kube-ipvs handles has an
// IPv6 cluster IP, so that an IPv6 or dual-stack Service works without a dual-stack clusterCIDR
// (which only decides what is masqueraded). Upstream creates one proxier per family the node
// supports; kube-ipvs instead programs a family when something needs it, so an IPv4-only node
// never has KUBE-6-* sets or ip6tables chains written.

public enum ProxyFamilies {
    /// IPv4, the families of `config.clusterCIDRs`, and IPv6 when one of `services` (those not
    /// skipped, see `DesiredStateBuilder.skipReason`) has an IPv6 cluster IP. The array is read by
    /// index: a loop over it would copy each ServiceInfo (a dozen references retained and
    /// released), which in a large cluster costs more than the check.
    public static func families(config: ProxyConfig, services: [ServiceInfo]) -> Set<IPFamily> {
        let configured = families(config: config, ipv6Service: false)
        if configured.contains(.ipv6) { return configured }
        return families(config: config, ipv6Service: services.indices.contains { needsIPv6(services[$0]) })
    }

    /// The same, given whether some handled Service has an IPv6 cluster IP (the daemon keeps that
    /// up to date from the Services that change, instead of scanning them all at each sync).
    public static func families(config: ProxyConfig, ipv6Service: Bool) -> Set<IPFamily> {
        var f: Set<IPFamily> = [.ipv4]
        for c in config.clusterCIDRs { f.insert(c.family) }
        if ipv6Service { f.insert(.ipv6) }
        return f
    }

    /// Whether `service` is handled (not skipped) and has an IPv6 cluster IP.
    public static func needsIPv6(_ service: ServiceInfo) -> Bool {
        service.clusterIPs.contains(where: { $0.family == .ipv6 }) && DesiredStateBuilder.skipReason(service) == nil
    }
}
