import KubeModel

// MARK: - The KUBE-* sets (docs/spec.md §4)

/// The logical sets kube-ipvs keeps, one per family; `setName(for:)` gives the kernel name.
public enum KubeSet: String, Sendable, Hashable, CaseIterable {
    case loopBack = "LOOP-BACK"
    case clusterIP = "CLUSTER-IP"
    case externalIP = "EXTERNAL-IP"
    case externalIPLocal = "EXTERNAL-IP-LOCAL"
    case loadBalancer = "LOAD-BALANCER"
    case loadBalancerFW = "LOAD-BALANCER-FW"
    case loadBalancerLocal = "LOAD-BALANCER-LOCAL"
    case loadBalancerSourceIP = "LOAD-BALANCER-SOURCE-IP"
    case loadBalancerSourceCIDR = "LOAD-BALANCER-SOURCE-CIDR"
    case nodePortTCP = "NODE-PORT-TCP"
    case nodePortLocalTCP = "NODE-PORT-LOCAL-TCP"
    case nodePortUDP = "NODE-PORT-UDP"
    case nodePortLocalUDP = "NODE-PORT-LOCAL-UDP"
    case nodePortSCTP = "NODE-PORT-SCTP-HASH"
    case nodePortLocalSCTP = "NODE-PORT-LOCAL-SCTP-HASH"
    case healthCheckNodePort = "HEALTH-CHECK-NODE-PORT"
    case ipvsIPs = "IPVS-IPS"

    /// `KUBE-CLUSTER-IP` for IPv4, `KUBE-6-CLUSTER-IP` for IPv6. Names are cut to ipset's 31
    /// characters (IPSET_MAXNAMELEN - 1) as upstream cuts them: `KUBE-6-LOAD-BALANCER-SOURCE-CID`.
    public func setName(for family: IPFamily) -> String {
        let names = Self.names[ordinal]
        return family == .ipv4 ? names.v4 : names.v6
    }

    /// Both names of every set in `allCases` order, computed once: the desired state asks for one
    /// per set member.
    private static let names: [(v4: String, v6: String)] = allCases.map {
        (String("KUBE-\($0.rawValue)".prefix(31)), String("KUBE-6-\($0.rawValue)".prefix(31)))
    }

    /// The case's position in `allCases`: a payload-free enum is stored as its case number, in
    /// declaration order (which is `allCases` order), in one byte.
    var ordinal: Int { Int(unsafeBitCast(self, to: UInt8.self)) }

    // By case, not by raw value (the default for a raw-value enum hashes the string).
    public static func == (a: KubeSet, b: KubeSet) -> Bool { a.ordinal == b.ordinal }
    public func hash(into hasher: inout Hasher) { hasher.combine(UInt8(truncatingIfNeeded: ordinal)) }

    public var type: IPSetType {
        switch self {
        case .loopBack, .loadBalancerSourceIP: return .hashIPPortIP
        case .loadBalancerSourceCIDR: return .hashIPPortNet
        case .nodePortTCP, .nodePortLocalTCP, .nodePortUDP, .nodePortLocalUDP, .healthCheckNodePort: return .bitmapPort
        case .ipvsIPs: return .hashIP
        default: return .hashIPPort
        }
    }

    /// The comment upstream gives the set; used on the iptables rules that match it.
    public var comment: String {
        switch self {
        case .loopBack: return "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"
        case .clusterIP: return "Kubernetes service cluster ip + port for masquerade purpose"
        case .externalIP: return "Kubernetes service external ip + port for masquerade and filter purpose"
        case .externalIPLocal: return "Kubernetes service external ip + port with externalTrafficPolicy=local"
        case .loadBalancer: return "Kubernetes service lb portal"
        case .loadBalancerFW: return "Kubernetes service load balancer ip + port for load balancer with sourceRange"
        case .loadBalancerLocal: return "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"
        case .loadBalancerSourceIP: return "Kubernetes service load balancer ip + port + source IP for packet filter purpose"
        case .loadBalancerSourceCIDR: return "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"
        case .nodePortTCP: return "Kubernetes nodeport TCP port for masquerade purpose"
        case .nodePortLocalTCP: return "Kubernetes nodeport TCP port with externalTrafficPolicy=local"
        case .nodePortUDP: return "Kubernetes nodeport UDP port for masquerade purpose"
        case .nodePortLocalUDP: return "Kubernetes nodeport UDP port with externalTrafficPolicy=local"
        case .nodePortSCTP: return "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'"
        case .nodePortLocalSCTP: return "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'"
        case .healthCheckNodePort: return "Kubernetes health check node port"
        case .ipvsIPs: return "Addresses on the ipvs interface"
        }
    }

    public func spec(for family: IPFamily) -> IPSetSpec {
        IPSetSpec(name: setName(for: family), type: type, family: family, comment: comment)
    }
}
