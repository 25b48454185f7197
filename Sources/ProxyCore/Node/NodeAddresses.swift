import KubeModel

// MARK: - The node's own addresses -> NodePort addresses and local addresses (pure)
//
// Upstream kube-proxy, IPVS mode (pkg/proxy/ipvs/proxier.go syncProxyRules, netlink_linux.go
// GetAllLocalAddressesExcept, pkg/proxy/util/nodeport_addresses.go, cmd/kube-proxy/app/server.go):
//
// - "local addresses" (nodeAddressSet): every address of every link except kube-ipvs0, one family
//   at a time, without loopback addresses and without IPv6 link-local ones. An externalIP in this
//   set is not bound on kube-ipvs0. An address on kube-ipvs0 and on another link too (upstream's
//   kubernetes/kubernetes#114815) is local: only the kube-ipvs0 copy is skipped.
// - NodePort addresses, per family: with no nodePortAddresses CIDR of that family (the default,
//   or CIDRs of the other family only), every local address of that family; otherwise every
//   address of the node inside one of the CIDRs, loopback excluded.
// - `nodePortAddresses: [primary]` is replaced by the node's primary IPs (`ip/32`, `ip/128`; a
//   loopback IP is dropped), taken from the Node object as GetNodeHostIPs does: the first
//   InternalIP (else ExternalIP), and the first of the other family.
//
// One deliberate difference: with CIDRs, upstream also matches the addresses on kube-ipvs0 (its
// GetNodeIPs lists every link), so a ClusterIP inside such a CIDR gets NodePort virtual servers.
// Here kube-ipvs0 is excluded in both cases: a Service VIP is not a node address.

/// One address of one network link of the node.
public struct InterfaceAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The link's name (`eth0`, `kube-ipvs0`); empty when the address did not come from a link (the Node object).
    public var interface: String
    public var address: IPAddress
    public var prefixLength: Int

    public init(interface: String, address: IPAddress, prefixLength: Int) {
        self.interface = interface; self.address = address; self.prefixLength = prefixLength
    }

    public static func < (a: Self, b: Self) -> Bool {
        (a.interface, a.address, a.prefixLength) < (b.interface, b.address, b.prefixLength)
    }

    /// `eth0 10.0.0.5/24`.
    public var description: String { "\(interface.isEmpty ? "-" : interface) \(address)/\(prefixLength)" }
}

/// What the node's addresses mean for the desired state (`NodeContext.nodePortAddresses`, `.localAddresses`).
public struct NodeAddressSelection: Sendable, Hashable {
    /// Addresses NodePort virtual servers are created on, sorted.
    public var nodePortAddresses: [IPAddress]
    /// Addresses local to the node, not counting those on kube-ipvs0.
    public var localAddresses: Set<IPAddress>

    public init(nodePortAddresses: [IPAddress] = [], localAddresses: Set<IPAddress> = []) {
        self.nodePortAddresses = nodePortAddresses; self.localAddresses = localAddresses
    }

    /// The value of `nodePortAddresses` that means "the node's primary IPs".
    public static let primary = "primary"

    /// Selects the NodePort and local addresses among `addresses`, for `families`.
    /// - Parameters:
    ///   - addresses: every address of every link (or, without a kernel, the Node's status addresses).
    ///   - ipvsInterface: the link kube-ipvs binds Service addresses on; its addresses are skipped.
    ///   - nodePortAddresses: the configuration's value: CIDRs, `[primary]`, or empty for all.
    ///   - nodeIPs: the Node object's InternalIP then ExternalIP addresses (for `primary`).
    public static func select(addresses: [InterfaceAddress], ipvsInterface: String, nodePortAddresses: [String],
                              nodeIPs: [IPAddress], families: Set<IPFamily>) -> NodeAddressSelection {
        let cidrs = nodePortCIDRs(nodePortAddresses, nodeIPs: nodeIPs)
        let own = addresses.filter { $0.interface != ipvsInterface && families.contains($0.address.family) }
        var local: Set<IPAddress> = []
        for a in own where !a.address.isLoopback && !isIPv6LinkLocal(a.address) { local.insert(a.address) }
        var nodePort: Set<IPAddress> = []
        for f in families {
            let mine = cidrs.filter { $0.family == f }
            if mine.isEmpty || mine.contains(where: { $0.prefixLength == 0 }) {
                nodePort.formUnion(local.filter { $0.family == f })
            } else {
                for a in own where a.address.family == f && !a.address.isLoopback && mine.contains(where: { $0.contains(a.address) }) {
                    nodePort.insert(a.address)
                }
            }
        }
        return NodeAddressSelection(nodePortAddresses: nodePort.sorted(), localAddresses: local)
    }

    /// The CIDRs `nodePortAddresses` stands for: `[primary]` becomes the node's primary IPs as host
    /// prefixes (none when the Node has no address: then every address matches, as upstream);
    /// entries that are not CIDRs (rejected by the configuration parser) are ignored.
    public static func nodePortCIDRs(_ values: [String], nodeIPs: [IPAddress]) -> [CIDR] {
        if values == [primary] {
            return primaryIPs(nodeIPs).filter { !$0.isLoopback }.map { CIDR(network: $0, prefixLength: $0.family.hostPrefix) }
        }
        return values.compactMap { $0.contains("/") ? CIDR($0) : nil }
    }

    /// GetNodeHostIPs: the first address, and the first one of the other family after it.
    public static func primaryIPs(_ nodeIPs: [IPAddress]) -> [IPAddress] {
        guard let first = nodeIPs.first else { return [] }
        if let other = nodeIPs.first(where: { $0.family != first.family }) { return [first, other] }
        return [first]
    }

    private static let linkLocalV6 = CIDR("fe80::/10")!

    static func isIPv6LinkLocal(_ ip: IPAddress) -> Bool { linkLocalV6.contains(ip) }
}

extension NodeContext {
    /// The node as the desired state sees it: `name`, the zone and pod CIDRs of its Node object (if
    /// known), its primary IPs from `hostIPs` (the Node's InternalIP then ExternalIP addresses) and
    /// the NodePort and local addresses `addresses` selected. `sync`, `status` and the daemon all
    /// make it this way.
    public init(name: String, node: NodeInfo?, hostIPs: [IPAddress], addresses: NodeAddressSelection,
                unavailableSchedulers: Set<String> = []) {
        self.init(name: name, zone: node?.zone, nodePortAddresses: addresses.nodePortAddresses,
                  localAddresses: addresses.localAddresses, podCIDRs: node?.podCIDRs ?? [],
                  nodeIPs: NodeAddressSelection.primaryIPs(hostIPs), unavailableSchedulers: unavailableSchedulers)
    }
}
