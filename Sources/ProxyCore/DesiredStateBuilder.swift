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
    /// Whether MASQUERADE --random-fully is available.
    public var randomFully: Bool

    public init(name: String, zone: String? = nil, nodePortAddresses: [IPAddress] = [], localAddresses: Set<IPAddress> = [],
                podCIDRs: [CIDR] = [], randomFully: Bool = true) {
        self.name = name; self.zone = zone; self.nodePortAddresses = nodePortAddresses
        self.localAddresses = localAddresses; self.podCIDRs = podCIDRs; self.randomFully = randomFully
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
        var byService: [ObjectRef: [EndpointSetInfo]] = [:]
        for set in snapshot.endpointSets { byService[set.service, default: []].append(set) }
        var contributions: [ServiceContribution] = []
        contributions.reserveCapacity(snapshot.services.count)
        for svc in snapshot.services {
            if case .success(let c) = contribution(service: svc, endpoints: byService[svc.ref] ?? [], config: config, node: node) {
                contributions.append(c)
            }
        }
        var families: Set<IPFamily> = [.ipv4]
        for c in config.clusterCIDRs { families.insert(c.family) }
        for s in snapshot.services { for ip in s.clusterIPs { families.insert(ip.family) } }
        return assemble(contributions: contributions, config: config, node: node, families: families)
    }

    /// Which Services kube-ipvs leaves alone.
    public static func skipReason(_ service: ServiceInfo) -> SkipReason? {
        if service.type == .externalName { return .externalName }
        if service.isHeadless || service.clusterIPs.isEmpty { return .headless }
        if service.labels[serviceProxyNameLabel] != nil { return .otherProxy }
        return nil
    }

    /// The contribution of one Service, or why it has none.
    public static func contribution(service svc: ServiceInfo, endpoints: [EndpointSetInfo], config: ProxyConfig,
                                    node: NodeContext) -> Result<ServiceContribution, SkipFailure> {
        if let reason = skipReason(svc) { return .failure(SkipFailure(reason: reason)) }
        var c = ServiceContribution(owner: svc.ref.description)
        for port in svc.ports {
            for clusterIP in svc.clusterIPs {
                let family = clusterIP.family
                let all = endpointsFor(port: port, family: family, sets: endpoints)
                let chosen = svc.internalTrafficPolicy == .local ? all.filter { $0.info.nodeName == node.name } : all
                let vs = virtualServer(address: clusterIP, port: port, service: svc, config: config)
                c.virtualServers.append(DesiredVirtualServer(
                    server: vs, realServers: realServers(chosen), servicePort: servicePortName(svc, port), owner: c.owner))
                c.boundAddresses.append(clusterIP)
                c.setMembers.append(SetMember(.clusterIP, family, IPSetEntry.ipPort(clusterIP, port.proto, port.port)))
                // Hairpin: a local pod reaching itself through the VIP is masqueraded.
                for ep in all where ep.info.nodeName == node.name {
                    c.setMembers.append(SetMember(.loopBack, family,
                                                  IPSetEntry.ipPortIP(ep.info.address, port.proto, ep.port, ep.info.address)))
                }
            }
        }
        return .success(c)
    }

    /// Merges contributions (the first claimant of a shared key wins) and adds the node-wide parts.
    public static func assemble(contributions: [ServiceContribution], config: ProxyConfig, node: NodeContext,
                                families: Set<IPFamily>) -> DesiredState {
        var index = DesiredStateIndex(config: config, node: node, families: families)
        for c in contributions { index.update(owner: c.owner, with: c) }
        index.refreshNodeWide()
        return index.state
    }

    // MARK: - Pieces

    /// `namespace/name:port` (the port's name, or its number when unnamed), as upstream prints ServicePortName.
    public static func servicePortName(_ svc: ServiceInfo, _ port: ServicePortInfo) -> String {
        "\(svc.ref):\(port.name.isEmpty ? String(port.port) : port.name)"
    }

    static func virtualServer(address: IPAddress, port: ServicePortInfo, service: ServiceInfo, config: ProxyConfig) -> VirtualServer {
        var flags: IPVSServiceFlags = []
        var timeout: UInt32 = 0
        if let t = service.affinityTimeout { flags.insert(.persistent); timeout = t }
        // With mh, hash the source port too (upstream sets IP_VS_SVC_F_SCHED2, "mh-port").
        if config.scheduler == "mh" { flags.insert(.sched2) }
        return VirtualServer(key: VirtualServerKey(address: address, proto: port.proto, port: port.port),
                             scheduler: config.scheduler, flags: flags, timeout: timeout)
    }

    struct ChosenEndpoint { var info: EndpointInfo; var port: UInt16 }

    /// Endpoints of `family` serving `port`: the ready ones, or if none is ready the serving+terminating ones.
    static func endpointsFor(port: ServicePortInfo, family: IPFamily, sets: [EndpointSetInfo]) -> [ChosenEndpoint] {
        var ready: [ChosenEndpoint] = []
        var terminating: [ChosenEndpoint] = []
        for set in sets {
            guard let p = set.ports.first(where: { $0.name == port.name && $0.proto == port.proto }) else { continue }
            for ep in set.endpoints where ep.address.family == family {
                if ep.ready { ready.append(ChosenEndpoint(info: ep, port: p.port)) }
                else if ep.serving && ep.terminating { terminating.append(ChosenEndpoint(info: ep, port: p.port)) }
            }
        }
        return ready.isEmpty ? terminating : ready
    }

    static func realServers(_ eps: [ChosenEndpoint]) -> [RealServerKey: RealServer] {
        var out: [RealServerKey: RealServer] = [:]
        out.reserveCapacity(eps.count)
        for ep in eps {
            let key = RealServerKey(address: ep.info.address, port: ep.port)
            out[key] = RealServer(key: key)
        }
        return out
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

/// A Service that contributes nothing, with the reason.
public struct SkipFailure: Error, Sendable, Hashable {
    public var reason: SkipReason
}
