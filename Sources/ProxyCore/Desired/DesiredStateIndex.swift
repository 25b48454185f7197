import KubeModel

// MARK: - Incremental desired state
//
// The daemon recomputes only the Services that changed. The index keeps each Service's
// contribution and who claims each virtual server, address and set member (two Services may share
// an external IP), so replacing one contribution updates the DesiredState in place and reports the
// keys it touched: the planner then diffs only those (`PlanScope`).

/// The keys one update touched; the planner looks only at these (plus the cheap node-wide parts).
public struct PlanScope: Sendable, Hashable {
    public var virtualServers: Set<VirtualServerKey> = []
    public var addresses: Set<IPAddress> = []
    /// Set name -> members.
    public var setMembers: [String: Set<String>] = [:]
    public init() {}

    public var isEmpty: Bool { virtualServers.isEmpty && addresses.isEmpty && setMembers.isEmpty }

    public mutating func formUnion(_ other: PlanScope) {
        virtualServers.formUnion(other.virtualServers)
        addresses.formUnion(other.addresses)
        for (k, v) in other.setMembers { setMembers[k, default: []].formUnion(v) }
    }
}

/// DesiredState maintained one Service contribution at a time.
public struct DesiredStateIndex: Sendable {
    public private(set) var state = DesiredState()
    public let config: ProxyConfig
    public let node: NodeContext
    public let families: Set<IPFamily>

    private var contributions: [String: ServiceContribution] = [:]
    /// Claimants of the keys more than one contribution claims (see "Claims" below).
    private var vsContenders: [VirtualServerKey: [String]] = [:]
    private var addressContenders: [IPAddress: [String]] = [:]
    private var memberContenders: [SetMember: [String]] = [:]
    private var schedulersInUse: [String: Int] = [:]
    /// KUBE-IPVS-OUT-FILTER entries with the number of contributions asking for each.
    private var noNodeAccess: [NoNodeAccessEntry: Int] = [:]

    /// Where each family sits in `state.families` (IPv4 first, then IPv6; nil when not
    /// programmed) and where each of its sets sits in its `sets` (by `KubeSet.ordinal`). Both
    /// dictionaries get their keys here and never another, so these indices stay valid (a
    /// dictionary copied on write keeps its layout), and a claim reaches its dictionary without
    /// hashing the family and the set name, several times per Service on every build.
    private var slots: [FamilySlot?] = [nil, nil]
    private struct FamilySlot {
        var family: Dictionary<IPFamily, DesiredFamily>.Index
        var sets: [Dictionary<String, DesiredSet>.Index]
    }

    public init(config: ProxyConfig, node: NodeContext, families: Set<IPFamily>) {
        self.config = config; self.node = node; self.families = families
        for f in families {
            var fam = DesiredFamily()
            for set in KubeSet.allCases { fam.sets[set.setName(for: f)] = DesiredSet(spec: set.spec(for: f)) }
            fam.nodePortAddresses = Set(node.nodePortAddresses.filter { $0.family == f })
            state.families[f] = fam
        }
        for f in families {
            let sets = state.families[f]!.sets
            slots[Self.slot(f)] = FamilySlot(family: state.families.index(forKey: f)!,
                                             sets: KubeSet.allCases.map { sets.index(forKey: $0.setName(for: f))! })
        }
        refreshNodeWide()
    }

    private static func slot(_ f: IPFamily) -> Int { f == .ipv4 ? 0 : 1 }

    /// The schedulers whose modules every node loads, as upstream (rr, wrr, sh), whether in use or not.
    public static let baselineSchedulers = ["rr", "wrr", "sh"]

    /// The schedulers a node needs: the baseline, the configured one and every annotated one (the
    /// set whose availability the daemon and the commands ask the kernel about).
    public static func schedulersInUse(config: ProxyConfig, annotated: some Sequence<String>) -> Set<String> {
        Set(baselineSchedulers + [config.scheduler]).union(annotated)
    }

    /// Runs `body` on family `f`'s desired state in place (`f` must be one of `families`).
    @inline(__always)
    private mutating func withFamily<R>(_ f: IPFamily, _ body: (inout DesiredFamily) -> R) -> R {
        body(&state.families.values[slots[Self.slot(f)]!.family])
    }

    /// Runs `body` on the entries of set `set` of family `f` in place (`f` must be one of `families`).
    @inline(__always)
    private mutating func withEntries<R>(_ set: KubeSet, _ f: IPFamily, _ body: (inout [String: String]) -> R) -> R {
        let slot = slots[Self.slot(f)]!
        return body(&state.families.values[slot.family].sets.values[slot.sets[set.ordinal]].entries)
    }

    /// Whether contributions are kept, to be replaced later. A one-shot build (`DesiredStateBuilder.build`)
    /// never replaces one: it adds each contribution and drops it at once, while it is still in
    /// the cache, instead of freeing every one at the end.
    var keepsContributions = true

    /// Makes room for what `services` will mostly contribute (a virtual server and a KUBE-CLUSTER-IP
    /// member per cluster IP and port, a bound address and a KUBE-IPVS-IPS member per cluster IP),
    /// so that a full build does not rehash its dictionaries as they grow.
    mutating func reserveCapacity(estimatedFrom services: [ServiceInfo]) {
        var servers = [0, 0], addresses = [0, 0]
        for i in services.indices {  // by index: `for svc in services` copies each ServiceInfo
            let ports = services[i].ports.count
            for ip in services[i].clusterIPs {
                servers[ip.family == .ipv4 ? 0 : 1] += ports
                addresses[ip.family == .ipv4 ? 0 : 1] += 1
            }
        }
        for f in families {
            let i = f == .ipv4 ? 0 : 1
            state.families[f]!.virtualServers.reserveCapacity(servers[i])
            state.families[f]!.boundAddresses.reserveCapacity(addresses[i])
            state.families[f]!.sets[KubeSet.clusterIP.setName(for: f)]!.entries.reserveCapacity(servers[i])
            state.families[f]!.sets[KubeSet.ipvsIPs.setName(for: f)]!.entries.reserveCapacity(addresses[i])
        }
    }

    /// Makes room for `contributions` (about to be added to an empty index), so that a full build
    /// does not rehash its dictionaries as they grow.
    public mutating func reserveCapacity(for contributions: [ServiceContribution]) {
        self.contributions.reserveCapacity(self.contributions.count + contributions.count)
        // Counted in plain arrays (family: 0 IPv4, 1 IPv6; set: its position in KubeSet.allCases),
        // not dictionaries: this pass must cost much less than the rehashing it saves.
        func slot(_ f: IPFamily) -> Int { f == .ipv4 ? 0 : 1 }
        var servers = [0, 0], addresses = [0, 0]
        var members = [Int](repeating: 0, count: 2 * KubeSet.allCases.count)
        for c in contributions {
            for vs in c.virtualServers { servers[slot(vs.server.key.address.family)] += 1 }
            for a in c.boundAddresses { addresses[slot(a.family)] += 1 }
            for m in c.setMembers { members[slot(m.family) * KubeSet.allCases.count + m.set.ordinal] += 1 }
        }
        for f in families {
            state.families[f]!.virtualServers.reserveCapacity(servers[slot(f)])
            state.families[f]!.boundAddresses.reserveCapacity(addresses[slot(f)])
            for (i, set) in KubeSet.allCases.enumerated() {
                // Every bound address is also a member of KUBE-IPVS-IPS.
                let n = members[slot(f) * KubeSet.allCases.count + i] + (set == .ipvsIPs ? addresses[slot(f)] : 0)
                if n > 0 { state.families[f]!.sets[set.setName(for: f)]!.entries.reserveCapacity(n) }
            }
        }
    }

    /// Owners with a contribution, for tests and status.
    public var owners: Dictionary<String, ServiceContribution>.Keys { contributions.keys }

    /// Replaces `owner`'s contribution (nil removes it) and returns the keys whose desired value may
    /// have changed: what the planner must compare. Call `refreshNodeWide()` after a batch.
    @discardableResult
    public mutating func replace(owner: String, with new: ServiceContribution?) -> PlanScope {
        var scope: PlanScope? = PlanScope()
        replace(owner: owner, with: new, scope: &scope)
        return scope ?? PlanScope()
    }

    /// Adds the contribution of an owner that has none yet, without collecting the keys it touches,
    /// for a full build (the planner then compares everything): collecting scopes nobody reads
    /// costs more than the claims themselves.
    public mutating func add(_ contribution: ServiceContribution) {
        var scope: PlanScope? = nil
        replace(owner: contribution.owner, with: contribution, scope: &scope)
    }

    private mutating func replace(owner: String, with new: ServiceContribution?, scope: inout PlanScope?) {
        let old = keepsContributions ? contributions[owner] : nil
        if old == new { return }
        if let old {
            for vs in old.virtualServers { release(vs: vs.server.key, owner: owner, scope: &scope) }
            for a in old.boundAddresses { release(address: a, owner: owner, scope: &scope) }
            for m in old.setMembers { release(member: m, owner: owner, scope: &scope) }
            for e in old.noNodeAccess {
                noNodeAccess[e, default: 0] -= 1
                if noNodeAccess[e]! <= 0 { noNodeAccess[e] = nil }
            }
        }
        if keepsContributions { contributions[owner] = new }
        if let new {
            for vs in new.virtualServers { claim(vs: vs, owner: owner, scope: &scope) }
            for a in new.boundAddresses { claim(address: a, owner: owner, scope: &scope) }
            for m in new.setMembers { claim(member: m, owner: owner, scope: &scope) }
            for e in new.noNodeAccess { noNodeAccess[e, default: 0] += 1 }
        }
    }

    /// Recomputes the node-wide parts from the Service parts: chains (they depend on which sets are
    /// empty), modules (schedulers in use), sysctls, timeouts.
    public mutating func refreshNodeWide() {
        for f in families {
            var nonEmpty: Set<KubeSet> = []
            for set in KubeSet.allCases where !(state.families[f]!.sets[set.setName(for: f)]!.entries.isEmpty) { nonEmpty.insert(set) }
            let options = FixedRuleOptions(notLocalMatch: DesiredStateBuilder.notLocalMatch(family: f, config: config, node: node),
                                           masqueradeAll: config.masqueradeAll, markHex: config.masqueradeMarkHex,
                                           randomFully: node.randomFully, noNodeAccess: noNodeAccess.keys.sorted())
            state.families[f]!.tables = FixedRules.tables(family: f, nonEmpty: nonEmpty, options: options)
        }
        // Upstream's baseline IPVS modules (docs/spec.md §1), any other scheduler in use,
        // conntrack; not the schedulers the kernel lacks (a modprobe that cannot succeed).
        var modules = ["ip_vs"] + Self.baselineSchedulers.filter { !node.unavailableSchedulers.contains($0) }.map { "ip_vs_\($0)" }
        for s in schedulersInUse.keys.sorted() where !modules.contains("ip_vs_\(s)") && !node.unavailableSchedulers.contains(s) {
            modules.append("ip_vs_\(s)")
        }
        modules.append("nf_conntrack")
        state.modules = modules
        var sysctls = [SysctlSetting("net.ipv4.vs.conntrack", "1"), SysctlSetting("net.ipv4.vs.expire_nodest_conn", "1"),
                       SysctlSetting("net.ipv4.vs.expire_quiescent_template", "1"), SysctlSetting("net.ipv4.ip_forward", "1")]
        if families.contains(.ipv6) { sysctls.append(SysctlSetting("net.ipv6.conf.all.forwarding", "1")) }
        if config.strictARP {
            sysctls.append(SysctlSetting("net.ipv4.conf.all.arp_ignore", "1"))
            sysctls.append(SysctlSetting("net.ipv4.conf.all.arp_announce", "2"))
        }
        state.sysctls = sysctls
        state.excludeCIDRs = config.excludeCIDRs
        state.ipvsTimeouts = IPVSTimeouts(tcp: config.tcpTimeout, tcpFin: config.tcpFinTimeout, udp: config.udpTimeout)
    }

    // MARK: - Claims
    //
    // When several Services claim one key (two Services with the same external IP and port), the
    // one with the smallest namespace/name wins, whatever the order of events: the incremental
    // result then equals a full rebuild.
    //
    // Almost every key has a single claimant, and `state` already records it (the virtual server's
    // `owner`, `boundAddresses[a]`, the set entry's owner). So only contested keys get a list in
    // `*Contenders`: every claimant, the winner included, sorted (the winner first), duplicates
    // kept (one Service can claim a key twice, such as one hairpin entry for two of its ports).
    // A key leaves the list when one claim remains; its owner is then the one in `state`.

    /// Adds a claim by `owner` on a key already held by `holder`, with the key's contender list;
    /// true when `owner` becomes the winner. (An unclaimed key needs no list: its claimant wins.)
    private static func addClaim(_ owner: String, holder: String, contenders: inout [String]?) -> Bool {
        var list = contenders ?? [holder]
        let i = list.firstIndex { $0 > owner } ?? list.count
        list.insert(owner, at: i)
        contenders = list
        return i == 0
    }

    /// Removes one claim by `owner` on a key held by `holder`: nil when `owner` has none, else
    /// whether it was the winner and who wins now (nil: nobody claims the key any more).
    private static func removeClaim(_ owner: String, holder: String?, contenders: inout [String]?) -> (wasWinner: Bool, next: String?)? {
        guard var list = contenders else { return holder == owner ? (true, nil) : nil }
        guard let i = list.firstIndex(of: owner) else { return nil }
        list.remove(at: i)
        contenders = list.count > 1 ? list : nil
        return (i == 0, list.first)
    }

    // Each claim stores the new owner first (`updateValue`: one hash for the usual, unclaimed key)
    // and puts the holder back when the holder keeps winning.

    private mutating func claim(vs: DesiredVirtualServer, owner: String, scope: inout PlanScope?) {
        let key = vs.server.key
        let f = key.address.family
        guard slots[Self.slot(f)] != nil else { return }  // `families.contains(f)`, without a hash
        scope?.virtualServers.insert(key)
        if let holder = withFamily(f, { $0.virtualServers.updateValue(vs, forKey: key) }) {
            guard Self.addClaim(owner, holder: holder.owner, contenders: &vsContenders[key]) else {
                withFamily(f) { $0.virtualServers[key] = holder }
                return
            }
            dropScheduler(holder.server.scheduler)
        }
        schedulersInUse[vs.server.scheduler, default: 0] += 1
    }

    private mutating func release(vs key: VirtualServerKey, owner: String, scope: inout PlanScope?) {
        let f = key.address.family
        guard let holder = state.families[f]?.virtualServers[key],
              let (wasWinner, next) = Self.removeClaim(owner, holder: holder.owner, contenders: &vsContenders[key]) else { return }
        scope?.virtualServers.insert(key)
        guard wasWinner else { return }
        dropScheduler(holder.server.scheduler)
        if let next, let vs = contributions[next]?.virtualServers.first(where: { $0.server.key == key }) {
            state.families[f]!.virtualServers[key] = vs
            schedulersInUse[vs.server.scheduler, default: 0] += 1
        } else {
            state.families[f]!.virtualServers[key] = nil
        }
    }

    private mutating func dropScheduler(_ s: String) {
        schedulersInUse[s, default: 0] -= 1
        if schedulersInUse[s]! <= 0 { schedulersInUse[s] = nil }
    }

    private mutating func claim(address a: IPAddress, owner: String, scope: inout PlanScope?) {
        guard slots[Self.slot(a.family)] != nil else { return }
        scope?.addresses.insert(a)
        if let holder = withFamily(a.family, { $0.boundAddresses.updateValue(owner, forKey: a) }),
           !Self.addClaim(owner, holder: holder, contenders: &addressContenders[a]) {
            withFamily(a.family) { $0.boundAddresses[a] = holder }
        }
        claim(member: SetMember(.ipvsIPs, a.family, IPSetEntry.ip(a)), owner: owner, scope: &scope)
    }

    private mutating func release(address a: IPAddress, owner: String, scope: inout PlanScope?) {
        guard let holder = state.families[a.family]?.boundAddresses[a],
              let (wasWinner, next) = Self.removeClaim(owner, holder: holder, contenders: &addressContenders[a]) else { return }
        scope?.addresses.insert(a)
        release(member: SetMember(.ipvsIPs, a.family, IPSetEntry.ip(a)), owner: owner, scope: &scope)
        if wasWinner { state.families[a.family]!.boundAddresses[a] = next }
    }

    private mutating func claim(member m: SetMember, owner: String, scope: inout PlanScope?) {
        guard slots[Self.slot(m.family)] != nil else { return }
        if scope != nil { scope!.setMembers[m.set.setName(for: m.family), default: []].insert(m.entry) }
        if let holder = withEntries(m.set, m.family, { $0.updateValue(owner, forKey: m.entry) }),
           !Self.addClaim(owner, holder: holder, contenders: &memberContenders[m]) {
            withEntries(m.set, m.family) { $0[m.entry] = holder }
        }
    }

    private mutating func release(member m: SetMember, owner: String, scope: inout PlanScope?) {
        let name = m.set.setName(for: m.family)
        guard let holder = state.families[m.family]?.sets[name]?.entries[m.entry],
              let (wasWinner, next) = Self.removeClaim(owner, holder: holder, contenders: &memberContenders[m]) else { return }
        scope?.setMembers[name, default: []].insert(m.entry)
        if wasWinner { state.families[m.family]!.sets[name]!.entries[m.entry] = next }
    }
}
