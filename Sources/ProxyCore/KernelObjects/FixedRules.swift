import KubeModel

// MARK: - The fixed KUBE-* chains (docs/spec.md §3)
//
// The rules do not grow with the number of Services; the sets do. The text of each rule is what
// `iptables-save` prints, so the planner can compare it with the kernel's and the dry-run shows
// what an operator will see. Order follows upstream's writeIptablesRules.

/// Chain names.
public enum KubeChain {
    public static let services = "KUBE-SERVICES"
    public static let postrouting = "KUBE-POSTROUTING"
    public static let nodePort = "KUBE-NODE-PORT"
    public static let loadBalancer = "KUBE-LOAD-BALANCER"
    public static let markMasq = "KUBE-MARK-MASQ"
    public static let forward = "KUBE-FORWARD"
    public static let proxyFirewall = "KUBE-PROXY-FIREWALL"
    public static let sourceRangesFirewall = "KUBE-SOURCE-RANGES-FIREWALL"
    public static let ipvsFilter = "KUBE-IPVS-FILTER"
    public static let ipvsOutFilter = "KUBE-IPVS-OUT-FILTER"

    /// Chains per table in declaration order.
    public static let natChains = [services, postrouting, nodePort, loadBalancer, markMasq]
    public static let filterChains = [forward, nodePort, proxyFirewall, sourceRangesFirewall, ipvsFilter, ipvsOutFilter]

    /// Jump rules in upstream's order; each is inserted at position 1, so later ones end up above earlier ones.
    public static let jumps: [JumpRule] = [
        JumpRule(table: .nat, chain: "OUTPUT", target: services, comment: "kubernetes service portals"),
        JumpRule(table: .nat, chain: "PREROUTING", target: services, comment: "kubernetes service portals"),
        JumpRule(table: .nat, chain: "POSTROUTING", target: postrouting, comment: "kubernetes postrouting rules"),
        JumpRule(table: .filter, chain: "FORWARD", target: forward, comment: "kubernetes forwarding rules"),
        JumpRule(table: .filter, chain: "INPUT", target: nodePort, comment: "kubernetes health check rules"),
        JumpRule(table: .filter, chain: "INPUT", target: proxyFirewall, comment: "kube-proxy firewall rules"),
        JumpRule(table: .filter, chain: "FORWARD", target: proxyFirewall, comment: "kube-proxy firewall rules"),
        JumpRule(table: .filter, chain: "INPUT", target: ipvsFilter, comment: "kubernetes ipvs access filter"),
        JumpRule(table: .filter, chain: "OUTPUT", target: ipvsOutFilter, comment: "kubernetes ipvs access filter"),
    ]
}

/// A LoadBalancer address whose source ranges exclude the node: node-originated traffic to it is dropped.
public struct NoNodeAccessEntry: Sendable, Hashable, Comparable {
    public var address: IPAddress
    public var proto: L4Protocol
    public var port: UInt16
    public init(address: IPAddress, proto: L4Protocol, port: UInt16) { self.address = address; self.proto = proto; self.port = port }
    public static func < (a: Self, b: Self) -> Bool { (a.address, a.proto, a.port) < (b.address, b.proto, b.port) }
}

/// Inputs of the fixed rules besides the sets.
public struct FixedRuleOptions: Sendable, Hashable {
    /// `! -s 10.244.0.0/16` or `! -i cbr0`: matches traffic not from local pods; nil when unknown.
    public var notLocalMatch: String?
    public var masqueradeAll: Bool
    /// `0x4000`.
    public var markHex: String
    /// MASQUERADE --random-fully (kernel >= 3.13, iptables >= 1.6.2).
    public var randomFully: Bool
    public var noNodeAccess: [NoNodeAccessEntry]
    public init(notLocalMatch: String?, masqueradeAll: Bool, markHex: String, randomFully: Bool, noNodeAccess: [NoNodeAccessEntry] = []) {
        self.notLocalMatch = notLocalMatch; self.masqueradeAll = masqueradeAll; self.markHex = markHex
        self.randomFully = randomFully; self.noNodeAccess = noNodeAccess
    }
}

/// Builds the chain bodies of one family.
public enum FixedRules {
    /// Rules of both tables for `family`; `nonEmpty` says which sets have members.
    public static func tables(family: IPFamily, nonEmpty: Set<KubeSet>, options o: FixedRuleOptions) -> [IPTablesTable: TableRules] {
        var nat: [String: [String]] = [:]
        var filter: [String: [String]] = [:]
        func name(_ s: KubeSet) -> String { s.setName(for: family) }
        func setMatch(_ s: KubeSet, _ dims: String) -> String {
            "-m comment --comment \(IPTablesText.quote(s.comment)) -m set --match-set \(name(s)) \(dims)"
        }

        nat[KubeChain.services, default: []].append("-s \(family == .ipv4 ? "127.0.0.0/8" : "::1/128") -j RETURN")

        // Set-driven rules, each only when its set has members.
        let setRules: [(KubeSet, IPTablesTable, String, String, String, L4Protocol?)] = [
            (.loopBack, .nat, KubeChain.postrouting, "MASQUERADE", "dst,dst,src", nil),
            (.loadBalancer, .nat, KubeChain.services, KubeChain.loadBalancer, "dst,dst", nil),
            (.loadBalancerLocal, .nat, KubeChain.loadBalancer, "RETURN", "dst,dst", nil),
            (.nodePortLocalTCP, .nat, KubeChain.nodePort, "RETURN", "dst", .tcp),
            (.nodePortTCP, .nat, KubeChain.nodePort, KubeChain.markMasq, "dst", .tcp),
            (.nodePortLocalUDP, .nat, KubeChain.nodePort, "RETURN", "dst", .udp),
            (.nodePortUDP, .nat, KubeChain.nodePort, KubeChain.markMasq, "dst", .udp),
            (.nodePortLocalSCTP, .nat, KubeChain.nodePort, "RETURN", "dst,dst", .sctp),
            (.nodePortSCTP, .nat, KubeChain.nodePort, KubeChain.markMasq, "dst,dst", .sctp),
            (.loadBalancerFW, .filter, KubeChain.proxyFirewall, KubeChain.sourceRangesFirewall, "dst,dst", nil),
            (.loadBalancerSourceCIDR, .filter, KubeChain.sourceRangesFirewall, "RETURN", "dst,dst,src", nil),
            (.loadBalancerSourceIP, .filter, KubeChain.sourceRangesFirewall, "RETURN", "dst,dst,src", nil),
        ]
        for (set, table, from, to, dims, proto) in setRules where nonEmpty.contains(set) {
            let rule = (proto.map { "-p \($0.lowercased) " } ?? "") + "\(setMatch(set, dims)) -j \(to)"
            if table == .nat { nat[from, default: []].append(rule) } else { filter[from, default: []].append(rule) }
        }

        if nonEmpty.contains(.clusterIP) {
            let rule: String
            if o.masqueradeAll {
                rule = "\(setMatch(.clusterIP, "dst,dst")) -j \(KubeChain.markMasq)"
            } else if let notLocal = o.notLocalMatch {
                // Off-cluster traffic to a Service VIP is masqueraded (upstream's rule with a cluster CIDR).
                rule = "\(notLocal) \(setMatch(.clusterIP, "dst,dst")) -j \(KubeChain.markMasq)"
            } else {
                // Without a way to tell pod traffic, masquerade node traffic whose source is a VIP.
                rule = "\(setMatch(.clusterIP, "src,dst")) -j \(KubeChain.markMasq)"
            }
            nat[KubeChain.services, default: []].append(rule)
        }

        func externalAccepts(_ set: KubeSet) {
            let m = setMatch(set, "dst,dst")
            nat[KubeChain.services, default: []].append("\(m) -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT")
            nat[KubeChain.services, default: []].append("\(m) -m addrtype --dst-type LOCAL -j ACCEPT")
        }
        if nonEmpty.contains(.externalIP) {
            nat[KubeChain.services, default: []].append("\(setMatch(.externalIP, "dst,dst")) -j \(KubeChain.markMasq)")
            externalAccepts(.externalIP)
        }
        if nonEmpty.contains(.externalIPLocal) { externalAccepts(.externalIPLocal) }

        nat[KubeChain.services, default: []].append("-m addrtype --dst-type LOCAL -j \(KubeChain.nodePort)")
        nat[KubeChain.loadBalancer, default: []].append("-j \(KubeChain.markMasq)")
        filter[KubeChain.sourceRangesFirewall, default: []].append("-j DROP")

        // iptables-save prints the ipvs match as --vproto, --vaddr, --vport (libxt_ipvs's dump order).
        let host = family.hostPrefix
        for e in o.noNodeAccess.sorted() where e.address.family == family {
            filter[KubeChain.ipvsOutFilter, default: []].append(
                "-s \(e.address)/\(host) -m ipvs --vproto \(e.proto.number) --vaddr \(e.address)/\(host) --vport \(e.port) -j DROP")
        }

        // Accept IPVS traffic so that later rules of others cannot break it (end of KUBE-SERVICES).
        for set in [KubeSet.clusterIP, .loadBalancer] where nonEmpty.contains(set) {
            nat[KubeChain.services, default: []].append("-m set --match-set \(name(set)) dst,dst -j ACCEPT")
        }

        let mark = "\(o.markHex)/\(o.markHex)"
        filter[KubeChain.forward, default: []].append(
            "-m comment --comment \"kubernetes forwarding rules\" -m mark --mark \(mark) -j ACCEPT")
        filter[KubeChain.forward, default: []].append(
            "-m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
        filter[KubeChain.nodePort, default: []].append("\(setMatch(.healthCheckNodePort, "dst")) -j ACCEPT")

        // Keep host ports unreachable through Service VIPs (kubernetes#72236).
        for (set, dims) in [(KubeSet.loadBalancer, "dst,dst"), (.clusterIP, "dst,dst"), (.externalIP, "dst,dst"),
                            (.externalIPLocal, "dst,dst"), (.healthCheckNodePort, "dst")] {
            filter[KubeChain.ipvsFilter, default: []].append("-m set --match-set \(name(set)) \(dims) -j RETURN")
        }
        let reject = family == .ipv4 ? "icmp-port-unreachable" : "icmp6-port-unreachable"
        filter[KubeChain.ipvsFilter, default: []].append(
            "-m conntrack --ctstate NEW -m set --match-set \(name(.ipvsIPs)) dst -j REJECT --reject-with \(reject)")

        nat[KubeChain.postrouting, default: []].append("-m mark ! --mark \(mark) -j RETURN")
        nat[KubeChain.postrouting, default: []].append("-j MARK --set-xmark \(o.markHex)/0x0")
        nat[KubeChain.postrouting, default: []].append(
            "-m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE" + (o.randomFully ? " --random-fully" : ""))
        nat[KubeChain.markMasq, default: []].append("-j MARK --set-xmark \(mark)")

        return [
            .nat: TableRules(chains: KubeChain.natChains.map { ChainBody(name: $0, rules: nat[$0] ?? []) },
                             jumps: KubeChain.jumps.filter { $0.table == .nat }),
            .filter: TableRules(chains: KubeChain.filterChains.map { ChainBody(name: $0, rules: filter[$0] ?? []) },
                                jumps: KubeChain.jumps.filter { $0.table == .filter }),
        ]
    }
}
