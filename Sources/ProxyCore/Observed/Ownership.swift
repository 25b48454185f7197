import KubeModel

// MARK: - Which virtual servers kube-ipvs owns, from the kernel alone (pure)
//
// The planner knows the desired state, so it owns a virtual server whose address is bound on
// kube-ipvs0 or is a NodePort address it wants (docs/spec.md §3). `cleanup` and `status` without
// a source have no desired state: they decide from what kube-ipvs left in the kernel, read before
// any of it is removed.
//
// A virtual server is owned when
//   1. its address is bound on kube-ipvs0 (ClusterIPs, load-balancer IPs, externalIPs that are not
//      node addresses): the planner's own rule; or
//   2. its `address,proto:port` is a member of one of the KUBE-* hash:ip,port sets that record
//      Service addresses (KUBE-CLUSTER-IP, KUBE-EXTERNAL-IP(-LOCAL), KUBE-LOAD-BALANCER(-LOCAL,-FW),
//      KUBE-NODE-PORT(-LOCAL)-SCTP-HASH; KUBE-6-* for IPv6): an externalIP that is a node address,
//      an SCTP NodePort, or a Service address whose kube-ipvs0 binding is already gone; or
//   3. it is TCP or UDP on a node address (any link but kube-ipvs0, not loopback, not IPv6
//      link-local) and its port is a member of KUBE-NODE-PORT-TCP / -UDP or their -LOCAL- forms:
//      the NodePort virtual servers, which kube-ipvs creates on every node address.
//
// Anything else (a hand-made `ipvsadm -A` on another address, or on a node address with a port
// no NodePort uses) is not owned. A hand-made virtual server with exactly the key of a Service
// address or NodePort is owned: kube-ipvs would have taken it over at its next sync anyway.

/// Why a virtual server belongs to kube-ipvs.
public enum VirtualServerOwnership: Sendable, Hashable, CustomStringConvertible {
    /// Its address is bound on kube-ipvs0.
    case boundAddress
    /// Its `address,proto:port` is a member of this set.
    case serviceSet(String)
    /// A TCP/UDP virtual server on a node address whose port is a member of this NodePort set.
    case nodePort(String)

    public var description: String {
        switch self {
        case .boundAddress: return "address on \(dummyLinkName)"
        case .serviceSet(let s): return "member of \(s)"
        case .nodePort(let s): return "NodePort in \(s)"
        }
    }

    /// The KUBE-* hash:ip,port sets whose members are Service addresses with protocol and port.
    static let serviceSets: [KubeSet] = [.clusterIP, .externalIP, .externalIPLocal, .loadBalancer, .loadBalancerLocal,
                                         .loadBalancerFW, .nodePortSCTP, .nodePortLocalSCTP]

    /// The bitmap:port NodePort sets of a protocol (none for SCTP, which uses hash sets).
    static func nodePortSets(_ proto: L4Protocol) -> [KubeSet] {
        switch proto {
        case .tcp: return [.nodePortTCP, .nodePortLocalTCP]
        case .udp: return [.nodePortUDP, .nodePortLocalUDP]
        case .sctp: return []
        }
    }

    /// Why `key` is owned in `family` (observed), or nil when it is not. `nodeAddresses`: the
    /// node's addresses on links other than kube-ipvs0 (`NodeAddressSelection.localAddresses`).
    public static func of(_ key: VirtualServerKey, in family: ObservedFamily, nodeAddresses: Set<IPAddress>) -> VirtualServerOwnership? {
        if family.boundAddresses.contains(key.address) { return .boundAddress }
        let f = key.address.family
        let member = IPSetEntry.ipPort(key.address, key.proto, key.port)
        for s in serviceSets {
            let name = s.setName(for: f)
            if family.ipsets[name]?.entries.contains(member) == true { return .serviceSet(name) }
        }
        if nodeAddresses.contains(key.address) {
            let port = IPSetEntry.port(key.port)
            for s in nodePortSets(key.proto) {
                // bitmap:port sets carry no family: NodeKernel files KUBE-NODE-PORT-TCP under IPv4,
                // and an IPv6 node uses KUBE-6-NODE-PORT-TCP.
                let name = s.setName(for: f)
                if family.ipsets[name]?.entries.contains(port) == true { return .nodePort(name) }
            }
        }
        return nil
    }
}
