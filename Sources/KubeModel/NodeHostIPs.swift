// MARK: - A Node's IPs in kubelet's order of preference

extension NodeResource {
    /// status.addresses of type InternalIP, then those of type ExternalIP, each in status order
    /// (the order upstream's GetNodeHostIPs takes them in; the first one of each family is the
    /// node's primary IP of that family). Unparsable addresses are skipped.
    public var hostIPsInPreferenceOrder: [IPAddress] {
        let all = status?.addresses ?? []
        let internalIPs = all.filter { $0.type == "InternalIP" }.compactMap { $0.address.flatMap { IPAddress(sloppy: $0) } }
        let externalIPs = all.filter { $0.type == "ExternalIP" }.compactMap { $0.address.flatMap { IPAddress(sloppy: $0) } }
        return internalIPs + externalIPs
    }
}
