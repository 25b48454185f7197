import KubeModel

// MARK: - API objects -> DesiredState (pure)
//
// Each Service contributes virtual servers, addresses and set members on its own
// (`ServiceContribution`); `assemble` merges contributions and derives the node-wide parts (sets,
// fixed chains, modules, sysctls). Keeping contributions separate lets the daemon recompute only
// the Services that changed.

/// Facts about the node the desired state depends on.
public struct NodeContext: Sendable, Hashable {
    /// The node's name (hostnameOverride or the hostname): endpoints with this nodeName are local.
    public var name: String
    public var zone: String?
    /// Addresses NodePort virtual servers are created on.
    public var nodePortAddresses: [IPAddress]
    /// Addresses already local to the node (not on kube-ipvs0).
    public var localAddresses: Set<IPAddress>
    /// The node's pod CIDRs (detectLocalMode NodeCIDR).
    public var podCIDRs: [CIDR]
    /// The node's primary addresses, one per family (its Node object's first InternalIP, else
    /// ExternalIP, as upstream's node IPs): a LoadBalancer whose source ranges include one accepts
    /// traffic from the node itself.
    public var nodeIPs: [IPAddress]
    /// Whether MASQUERADE --random-fully is available.
    public var randomFully: Bool
    /// IPVS schedulers the kernel lacks (no ip_vs_<name> module loaded, built in or loadable), as
    /// the kernel side probed them: a Service asking for one is served with a fallback
    /// (`SchedulerFallback`), and its module is not asked for.
    public var unavailableSchedulers: Set<String>

    public init(name: String, zone: String? = nil, nodePortAddresses: [IPAddress] = [], localAddresses: Set<IPAddress> = [],
                podCIDRs: [CIDR] = [], nodeIPs: [IPAddress] = [], randomFully: Bool = true, unavailableSchedulers: Set<String> = []) {
        self.name = name; self.zone = zone; self.nodePortAddresses = nodePortAddresses; self.nodeIPs = nodeIPs
        self.localAddresses = localAddresses; self.podCIDRs = podCIDRs; self.randomFully = randomFully
        self.unavailableSchedulers = unavailableSchedulers
    }
}

/// A member of one KUBE-* set of one family.
public struct SetMember: Sendable, Hashable {
    public var set: KubeSet
    public var family: IPFamily
    public var entry: String
    public init(_ set: KubeSet, _ family: IPFamily, _ entry: String) { self.set = set; self.family = family; self.entry = entry }
}

/// What one Service adds to the node.
public struct ServiceContribution: Sendable, Hashable {
    /// `namespace/name`.
    public var owner: String
    public var virtualServers: [DesiredVirtualServer] = []
    public var boundAddresses: [IPAddress] = []
    public var setMembers: [SetMember] = []
    /// LoadBalancer addresses whose source ranges exclude the node (KUBE-IPVS-OUT-FILTER drops).
    public var noNodeAccess: [NoNodeAccessEntry] = []
    public init(owner: String) { self.owner = owner }
}

/// Why a Service contributes nothing.
public enum SkipReason: String, Sendable, Hashable {
    case externalName = "ExternalName Service"
    case headless = "headless Service"
    case otherProxy = "labelled service.kubernetes.io/service-proxy-name"
}

public enum DesiredStateBuilder {
    /// Builds the whole desired state from a snapshot.
    public static func build(snapshot: ClusterSnapshot, config: ProxyConfig, node: NodeContext) -> DesiredState {
        let services = snapshot.services, sets = snapshot.endpointSets
        let families = ProxyFamilies.families(config: config, services: services)
        // As `assemble`, but each contribution goes into the index as soon as it is made (the
        // result is the same: claims do not depend on order). The index keeps no contributions,
        // so a Service listed twice must be added once: the last one listed wins, as when the
        // index replaces a contribution.
        var index = DesiredStateIndex(config: config, node: node, families: families)
        index.keepsContributions = false
        index.reserveCapacity(estimatedFrom: services)
        let groups = EndpointGroups(services: services, sets: sets)
        // Through a buffer pointer, not `for svc in services`: a loop variable (or a value read
        // with the array's subscript) is a copy of the ServiceInfo, a dozen references retained
        // and released per Service.
        services.withUnsafeBufferPointer { services in
            for i in services.indices.reversed() where groups.isLast[i] {
                if case .success(let c) = contribution(service: services[i], endpoints: groups.endpoints(of: i, in: sets),
                                                       config: config, node: node) {
                    index.add(c)
                }
            }
        }
        index.refreshNodeWide()
        return index.state
    }

    /// The endpoint sets of each Service of a snapshot, by the Service's position: one hash of
    /// each Service's and each set's `ObjectRef`, then a counting sort of the sets' positions (no
    /// array of sets per Service).
    struct EndpointGroups {
        /// Whether each Service is the last one listed with its namespace/name (the one that counts).
        var isLast: [Bool]
        /// Positions in `sets`, grouped by Service (in the order listed); Service `i`'s are
        /// `order[start[i]..<start[i + 1]]`.
        var order: [Int]
        var start: [Int]

        init(services: [ServiceInfo], sets: [EndpointSetInfo]) {
            var position: [ObjectRef: Int] = [:]
            position.reserveCapacity(services.count)
            isLast = [Bool](repeating: true, count: services.count)
            for i in services.indices {
                if let earlier = position.updateValue(i, forKey: services[i].ref) { isLast[earlier] = false }
            }
            var owner = [Int](repeating: -1, count: sets.count)
            start = [Int](repeating: 0, count: services.count + 1)
            for j in sets.indices {
                guard let i = position[sets[j].service] else { continue }
                owner[j] = i
                start[i + 1] += 1
            }
            for i in services.indices { start[i + 1] += start[i] }
            var next = start
            order = [Int](repeating: 0, count: start[services.count])
            for j in sets.indices where owner[j] >= 0 {
                order[next[owner[j]]] = j
                next[owner[j]] += 1
            }
        }

        /// Service `i`'s endpoint sets: a slice of `sets` when they are adjacent there (the usual
        /// case: one set per Service), without copying one.
        func endpoints(of i: Int, in sets: [EndpointSetInfo]) -> ArraySlice<EndpointSetInfo> {
            let mine = order[start[i]..<start[i + 1]]
            guard let first = mine.first, let last = mine.last else { return [] }
            if last - first == mine.count - 1 { return sets[first...last] }  // ascending, so adjacent
            return ArraySlice(mine.map { sets[$0] })
        }
    }

    /// Which Services kube-ipvs leaves alone.
    public static func skipReason(_ service: ServiceInfo) -> SkipReason? {
        if service.type == .externalName { return .externalName }
        if service.isHeadless || service.clusterIPs.isEmpty { return .headless }
        if service.labels[serviceProxyNameLabel] != nil { return .otherProxy }
        return nil
    }

    /// The contribution of one Service, or why it has none (docs/spec.md §2): per port and per
    /// cluster-IP family, virtual servers on the cluster IP, the externalIPs, the LoadBalancer
    /// ingress IPs and the NodePort addresses of that family, with their addresses and set members.
    public static func contribution(service svc: ServiceInfo, endpoints: [EndpointSetInfo], config: ProxyConfig,
                                    node: NodeContext) -> Result<ServiceContribution, SkipFailure> {
        contribution(service: svc, endpoints: endpoints[...], config: config, node: node)
    }

    static func contribution(service svc: ServiceInfo, endpoints: ArraySlice<EndpointSetInfo>, config: ProxyConfig,
                             node: NodeContext) -> Result<ServiceContribution, SkipFailure> {
        if let reason = skipReason(svc) { return .failure(SkipFailure(reason: reason)) }
        var c = ServiceContribution(owner: svc.ref.description)
        let etpLocal = svc.externalTrafficPolicy == .local
        let (scheduler, flags) = scheduling(svc, config: config, node: node)
        for port in svc.ports {
            let portName = c.owner + ":" + (port.name.isEmpty ? String(port.port) : port.name)  // servicePortName, once per port
            for clusterIP in svc.clusterIPs {
                let family = clusterIP.family
                let eps = categorize(port: port, family: family, sets: endpoints, node: node)
                func add(_ address: IPAddress, port p: UInt16, realServers servers: [RealServer]) {
                    var vs = VirtualServer(key: VirtualServerKey(address: address, proto: port.proto, port: p),
                                           scheduler: scheduler, flags: flags, timeout: 0)
                    if let t = svc.affinityTimeout { vs.flags.insert(.persistent); vs.timeout = t }
                    c.virtualServers.append(DesiredVirtualServer(server: vs, realServers: servers, servicePort: portName, owner: c.owner))
                }
                func member(_ set: KubeSet, _ entry: String) { c.setMembers.append(SetMember(set, family, entry)) }
                let ipPort = { (a: IPAddress) in IPSetEntry.ipPort(a, port.proto, port.port) }

                // ClusterIP. internalTrafficPolicy=Local: only this node's endpoints. With none here, a
                // port reachable from outside (NodePort, LoadBalancer or external IP of this family)
                // falls back to the cluster's, as upstream's IPVS mode does; a ClusterIP-only one
                // gets no real server (docs/services.md).
                let externallyAccessible = (port.nodePort != nil && (svc.type == .nodePort || svc.type == .loadBalancer))
                    || (svc.type == .loadBalancer && svc.loadBalancerIPs.contains { $0.family == family })
                    || svc.externalIPs.contains { $0.family == family }
                let internalLocal = svc.internalTrafficPolicy == .local && (!eps.local.isEmpty || !externallyAccessible)
                let internalServers = realServers(internalLocal ? eps.local : eps.cluster)
                add(clusterIP, port: port.port, realServers: internalServers)
                c.boundAddresses.append(clusterIP)
                member(.clusterIP, ipPort(clusterIP))

                // External addresses. externalTrafficPolicy=Local: this node's endpoints, or all of them
                // when the node has none, so that local pods still reach the Service (upstream, #97081).
                // One array of real servers for all of them (shared, not copied), the cluster IP's
                // when both pick the same endpoints; made only when some virtual server uses it.
                let externalLocal = etpLocal && !eps.local.isEmpty
                var externalMade: [RealServer]? = internalLocal == externalLocal ? internalServers : nil
                func external() -> [RealServer] {
                    if let made = externalMade { return made }
                    let made = realServers(externalLocal ? eps.local : eps.cluster)
                    externalMade = made
                    return made
                }
                for ip in svc.externalIPs where ip.family == family {
                    add(ip, port: port.port, realServers: external())
                    if !node.localAddresses.contains(ip) { c.boundAddresses.append(ip) }
                    member(etpLocal ? .externalIPLocal : .externalIP, ipPort(ip))
                }
                if svc.type == .loadBalancer {
                    for ip in svc.loadBalancerIPs where ip.family == family {
                        add(ip, port: port.port, realServers: external())
                        c.boundAddresses.append(ip)
                        member(.loadBalancer, ipPort(ip))
                        if etpLocal { member(.loadBalancerLocal, ipPort(ip)) }
                        let ranges = svc.loadBalancerSourceRanges.filter { $0.family == family }
                        if !svc.loadBalancerSourceRanges.isEmpty {
                            member(.loadBalancerFW, ipPort(ip))
                            for r in ranges { member(.loadBalancerSourceCIDR, IPSetEntry.ipPortNet(ip, port.proto, port.port, r)) }
                            // Traffic from the node itself to the VIP has the VIP as source (it is on kube-ipvs0).
                            if ranges.contains(where: { r in node.nodeIPs.contains { r.contains($0) } }) {
                                member(.loadBalancerSourceIP, IPSetEntry.ipPortIP(ip, port.proto, port.port, ip))
                            } else {
                                c.noNodeAccess.append(NoNodeAccessEntry(address: ip, proto: port.proto, port: port.port))
                            }
                        }
                    }
                }
                if let nodePort = port.nodePort, svc.type == .nodePort || svc.type == .loadBalancer {
                    let addresses = node.nodePortAddresses.filter { $0.family == family }
                    for a in addresses { add(a, port: nodePort, realServers: external()) }
                    switch port.proto {
                    case .tcp, .udp:
                        let (set, local): (KubeSet, KubeSet) = port.proto == .tcp ? (.nodePortTCP, .nodePortLocalTCP) : (.nodePortUDP, .nodePortLocalUDP)
                        member(set, IPSetEntry.port(nodePort))
                        if etpLocal { member(local, IPSetEntry.port(nodePort)) }
                    case .sctp:
                        for a in addresses {
                            member(.nodePortSCTP, IPSetEntry.ipPort(a, .sctp, nodePort))
                            if etpLocal { member(.nodePortLocalSCTP, IPSetEntry.ipPort(a, .sctp, nodePort)) }
                        }
                    }
                }
                if etpLocal, svc.type == .loadBalancer, let hc = svc.healthCheckNodePort {
                    member(.healthCheckNodePort, IPSetEntry.port(hc))
                }

                // Hairpin: a local pod reaching itself through the VIP is masqueraded.
                for ep in eps.allLocal {
                    member(.loopBack, IPSetEntry.ipPortIP(ep.info.address, port.proto, ep.port, ep.info.address))
                }
            }
        }
        return .success(c)
    }

    /// Merges contributions (the first claimant of a shared key wins) and adds the node-wide parts.
    public static func assemble(contributions: [ServiceContribution], config: ProxyConfig, node: NodeContext,
                                families: Set<IPFamily>) -> DesiredState {
        var index = DesiredStateIndex(config: config, node: node, families: families)
        index.reserveCapacity(for: contributions)
        for c in contributions { index.add(c) }
        index.refreshNodeWide()
        return index.state
    }

    // MARK: - Pieces

    /// `namespace/name:port` (the port's name, or its number when unnamed), as upstream prints ServicePortName.
    public static func servicePortName(_ svc: ServiceInfo, _ port: ServicePortInfo) -> String {
        "\(svc.ref):\(port.name.isEmpty ? String(port.port) : port.name)"
    }

    /// The scheduler and flags of a Service's virtual servers: its annotations, else the configuration;
    /// a scheduler the kernel lacks gives way to `schedulerFallback`'s, with that one's default flags.
    /// With mh and no explicit flags, hash the source port too (upstream sets IP_VS_SVC_F_SCHED2, "mh-port").
    static func scheduling(_ svc: ServiceInfo, config: ProxyConfig, node: NodeContext) -> (String, IPVSServiceFlags) {
        if let fallback = schedulerFallback(service: svc, config: config, node: node) {
            return (fallback.used, fallback.used == "mh" ? .sched2 : [])
        }
        let scheduler = svc.scheduler ?? config.scheduler
        if let names = svc.schedulerFlags { return (scheduler, IPVSServiceFlags(schedulerFlagNames: names)) }
        return (scheduler, scheduler == "mh" ? .sched2 : [])
    }

    /// The scheduler used when the kernel lacks the one a Service asks for: the configured one, or
    /// rr when the kernel lacks that too. nil when the wanted scheduler is available (or the Service
    /// contributes nothing).
    public static func schedulerFallback(service svc: ServiceInfo, config: ProxyConfig, node: NodeContext) -> SchedulerFallback? {
        guard !node.unavailableSchedulers.isEmpty, skipReason(svc) == nil else { return nil }
        let wanted = svc.scheduler ?? config.scheduler
        guard node.unavailableSchedulers.contains(wanted) else { return nil }
        let used = node.unavailableSchedulers.contains(config.scheduler) ? "rr" : config.scheduler
        return SchedulerFallback(wanted: wanted, used: used)
    }

    struct ChosenEndpoint { var info: EndpointInfo; var port: UInt16 }

    /// The endpoints of one Service port in one family, as upstream's CategorizeEndpoints sorts them.
    struct Categorized {
        /// For cluster-wide traffic: ready ones (narrowed by topology hints when usable), else
        /// serving+terminating ones.
        var cluster: [ChosenEndpoint] = []
        /// This node's: ready ones, else serving+terminating ones.
        var local: [ChosenEndpoint] = []
        /// Every endpoint on this node whatever its state (hairpin entries).
        var allLocal: [ChosenEndpoint] = []
    }

    /// Endpoints of `family` serving `port`.
    static func endpointsFor(port: ServicePortInfo, family: IPFamily, sets: ArraySlice<EndpointSetInfo>) -> [ChosenEndpoint] {
        var out: [ChosenEndpoint] = []
        // By index, reading only the fields needed (`for set in sets` would copy each set).
        var n = 0
        for k in sets.indices { n += sets[k].endpoints.count }
        out.reserveCapacity(n)
        for k in sets.indices {
            guard let p = sets[k].ports.first(where: { $0.name == port.name && $0.proto == port.proto }) else { continue }
            sets[k].endpoints.withUnsafeBufferPointer { eps in
                for ep in eps where ep.address.family == family { out.append(ChosenEndpoint(info: ep, port: p.port)) }
            }
        }
        return out
    }

    /// Ready endpoints, or when none is ready the serving+terminating ones (graceful termination).
    static func usable(_ eps: [ChosenEndpoint]) -> [ChosenEndpoint] {
        if eps.allSatisfy({ $0.info.ready }) { return eps }  // the usual case, without a copy
        let ready = eps.filter { $0.info.ready }
        return ready.isEmpty ? eps.filter { $0.info.serving && $0.info.terminating } : ready
    }

    static func categorize(port: ServicePortInfo, family: IPFamily, sets: [EndpointSetInfo], node: NodeContext) -> Categorized {
        categorize(port: port, family: family, sets: sets[...], node: node)
    }

    static func categorize(port: ServicePortInfo, family: IPFamily, sets: ArraySlice<EndpointSetInfo>, node: NodeContext) -> Categorized {
        let all = endpointsFor(port: port, family: family, sets: sets)
        var out = Categorized()
        out.allLocal = all.filter { $0.info.nodeName == node.name }
        out.local = usable(out.allLocal)
        out.cluster = usable(topologyFiltered(all, node: node))
        return out
    }

    /// Topology-aware routing as upstream (latest): when every ready endpoint carries node hints and
    /// one is hinted for this node, only those; else when every ready endpoint carries zone hints
    /// and one is hinted for this node's zone, only those; else all.
    static func topologyFiltered(_ eps: [ChosenEndpoint], node: NodeContext) -> [ChosenEndpoint] {
        // Both rules below need every ready endpoint hinted: when the first ready one carries no
        // hint (the usual case), neither applies.
        guard let first = eps.first(where: { $0.info.ready }) else { return eps }
        if (first.info.hintNodes ?? []).isEmpty && (first.info.hintZones ?? []).isEmpty { return eps }
        let ready = eps.filter { $0.info.ready }
        guard !ready.isEmpty else { return eps }
        if ready.allSatisfy({ !($0.info.hintNodes ?? []).isEmpty }), ready.contains(where: { $0.info.hintNodes!.contains(node.name) }) {
            return eps.filter { $0.info.hintNodes?.contains(node.name) ?? false }
        }
        if let zone = node.zone, !zone.isEmpty, ready.allSatisfy({ !($0.info.hintZones ?? []).isEmpty }),
           ready.contains(where: { $0.info.hintZones!.contains(zone) }) {
            return eps.filter { $0.info.hintZones?.contains(zone) ?? false }
        }
        return eps
    }

    /// The real servers of `eps`, sorted by key, each once (see `DesiredVirtualServer.realServers`).
    static func realServers(_ eps: [ChosenEndpoint]) -> [RealServer] {
        var out: [RealServer] = []
        out.reserveCapacity(eps.count)
        for ep in eps { out.append(RealServer(key: RealServerKey(address: ep.info.address, port: ep.port))) }
        return DesiredVirtualServer.normalized(out)
    }

    /// The iptables match for "not from a local pod" in this family, per detectLocalMode.
    static func notLocalMatch(family: IPFamily, config: ProxyConfig, node: NodeContext) -> String? {
        switch config.detectLocalMode {
        case .clusterCIDR:
            return config.clusterCIDRs.first { $0.family == family }.map { "! -s \($0)" }
        case .nodeCIDR:
            return node.podCIDRs.first { $0.family == family }.map { "! -s \($0)" }
        case .bridgeInterface:
            return config.bridgeInterface.map { "! -i \($0)" }
        case .interfaceNamePrefix:
            return config.interfaceNamePrefix.map { "! -i \($0)+" }
        }
    }
}

/// A Service served with another scheduler than the one it asks for, because the kernel lacks it.
public struct SchedulerFallback: Sendable, Hashable, CustomStringConvertible {
    /// The scheduler asked for (the annotation's, else the configured one).
    public var wanted: String
    /// The scheduler its virtual servers get instead.
    public var used: String
    public init(wanted: String, used: String) { self.wanted = wanted; self.used = used }
    /// `IPVS scheduler twos is not available in this kernel (no ip_vs_twos module); using rr`.
    public var description: String {
        "IPVS scheduler \(wanted) is not available in this kernel (no ip_vs_\(wanted) module); using \(used)"
    }
}

/// A Service that contributes nothing, with the reason.
public struct SkipFailure: Error, Sendable, Hashable {
    public var reason: SkipReason
}
