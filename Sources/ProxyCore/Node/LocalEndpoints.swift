import KubeModel

// MARK: - A Service's endpoints on this node: health-check node port and the no-local metric (pure)
//
// Upstream kube-proxy, IPVS mode:
// - The health-check node port server (pkg/proxy/healthcheck/service_health.go) runs for every
//   Service that `NeedsHealthCheck` (type LoadBalancer, externalTrafficPolicy Local) and has a
//   spec.healthCheckNodePort. It reports `EndpointsMap.LocalReadyEndpoints()`
//   (pkg/proxy/endpointschangetracker.go): the number of distinct IPs of the Service's *ready*
//   endpoints on this node. Serving-but-terminating endpoints do not count, on purpose: traffic may
//   still reach them, but the load balancer must see the node as draining (KEP-1669).
// - kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy} (proxier.go syncEndpoint,
//   with proxy.CategorizeEndpoints): a Service counts when, for one of its ports, the cluster has
//   usable endpoints (ready, or else serving+terminating) but this node has none (no local ready
//   one and no local serving+terminating one). "internal": internalTrafficPolicy Local;
//   "external": externalTrafficPolicy Local on an externally reachable Service (NodePort,
//   LoadBalancer, or with externalIPs).
// Upstream keeps one endpoints map per IP family and the last family synced wins; here every
// family of the Service's cluster IPs is checked, and the health count uses the primary family.

/// What one Service reports about its endpoints on this node.
public struct LocalEndpointStatus: Sendable, Hashable {
    /// spec.healthCheckNodePort, when this node serves a health check for the Service.
    public var healthCheckNodePort: UInt16?
    /// Distinct IPs of ready endpoints on this node (the health check's `localEndpoints`).
    public var readyLocalEndpoints: Int
    /// internalTrafficPolicy Local, endpoints in the cluster, none on this node.
    public var noLocalInternal: Bool
    /// externalTrafficPolicy Local, endpoints in the cluster, none on this node.
    public var noLocalExternal: Bool
    /// The families in which it lacks local endpoints (the metric's ip_family label).
    public var noLocalFamilies: Set<IPFamily> = []

    public init(healthCheckNodePort: UInt16? = nil, readyLocalEndpoints: Int = 0, noLocalInternal: Bool = false, noLocalExternal: Bool = false) {
        self.healthCheckNodePort = healthCheckNodePort; self.readyLocalEndpoints = readyLocalEndpoints
        self.noLocalInternal = noLocalInternal; self.noLocalExternal = noLocalExternal
    }
}

/// One health-check node port to serve.
public struct HealthCheckNodePort: Sendable, Hashable {
    public var port: UInt16
    /// The `localEndpoints` it reports (status 200 when above 0 and the proxy is healthy).
    public var localEndpoints: Int
    public init(port: UInt16, localEndpoints: Int) { self.port = port; self.localEndpoints = localEndpoints }
}

/// The node-wide view after a sync: what the health-check servers and the metric report.
public struct LocalEndpointSummary: Sendable, Hashable {
    /// Services with a Local internal traffic policy and no endpoint on this node.
    public var noLocalInternal: Int = 0
    /// Services with a Local external traffic policy and no endpoint on this node.
    public var noLocalExternal: Int = 0
    /// The health-check node ports to serve, by Service.
    public var healthChecks: [ObjectRef: HealthCheckNodePort] = [:]
    /// `noLocalInternal` and `noLocalExternal` per family: a Service counts in each family in
    /// which some port lacks local endpoints (upstream runs one proxier per family).
    public var noLocalInternalByFamily: [IPFamily: Int] = [:]
    public var noLocalExternalByFamily: [IPFamily: Int] = [:]

    public init(noLocalInternal: Int = 0, noLocalExternal: Int = 0, healthChecks: [ObjectRef: HealthCheckNodePort] = [:],
                noLocalInternalByFamily: [IPFamily: Int] = [:], noLocalExternalByFamily: [IPFamily: Int] = [:]) {
        self.noLocalInternal = noLocalInternal; self.noLocalExternal = noLocalExternal; self.healthChecks = healthChecks
        self.noLocalInternalByFamily = noLocalInternalByFamily; self.noLocalExternalByFamily = noLocalExternalByFamily
    }

    /// Sums the statuses of every Service.
    public init(_ statuses: [ObjectRef: LocalEndpointStatus]) {
        for (ref, s) in statuses {
            if s.noLocalInternal { noLocalInternal += 1 }
            if s.noLocalExternal { noLocalExternal += 1 }
            for f in s.noLocalFamilies {
                if s.noLocalInternal { noLocalInternalByFamily[f, default: 0] += 1 }
                if s.noLocalExternal { noLocalExternalByFamily[f, default: 0] += 1 }
            }
            if let p = s.healthCheckNodePort { healthChecks[ref] = HealthCheckNodePort(port: p, localEndpoints: s.readyLocalEndpoints) }
        }
    }
}

/// The endpoints the desired state uses for one Service port in one family (the builder's
/// `categorize`, upstream's CategorizeEndpoints), with their target ports.
public struct ChosenEndpoints: Sendable, Hashable {
    /// For cluster-wide traffic: the ready ones (narrowed by topology hints when usable), else the
    /// serving+terminating ones.
    public var cluster: [EndpointInfo]
    /// This node's: the ready ones, else the serving+terminating ones.
    public var local: [EndpointInfo]
    /// The target port of each endpoint, by address.
    public var ports: [IPAddress: UInt16]
}

public enum LocalEndpoints {
    /// The endpoints the desired state uses for `port` in `family` on `node`.
    public static func chosen(port: ServicePortInfo, family: IPFamily, sets: [EndpointSetInfo], node: NodeContext) -> ChosenEndpoints {
        let c = DesiredStateBuilder.categorize(port: port, family: family, sets: sets, node: node)
        var ports: [IPAddress: UInt16] = [:]
        for e in c.cluster + c.local { ports[e.info.address] = e.port }
        return ChosenEndpoints(cluster: c.cluster.map(\.info), local: c.local.map(\.info), ports: ports)
    }

    /// The Service's status on node `nodeName`, or nil when it has nothing to report (no health
    /// check, no Local policy short of local endpoints), which is the case of most Services.
    public static func status(service svc: ServiceInfo, endpoints sets: [EndpointSetInfo], nodeName: String) -> LocalEndpointStatus? {
        guard DesiredStateBuilder.skipReason(svc) == nil else { return nil }
        var s = LocalEndpointStatus()
        if svc.type == .loadBalancer && svc.externalTrafficPolicy == .local, let p = svc.healthCheckNodePort {
            s.healthCheckNodePort = p
            s.readyLocalEndpoints = readyLocalEndpoints(service: svc, endpoints: sets, nodeName: nodeName)
        }
        let internalLocal = svc.internalTrafficPolicy == .local
        let externalLocal = svc.externalTrafficPolicy == .local
            && (svc.type == .nodePort || svc.type == .loadBalancer || !svc.externalIPs.isEmpty)
        if internalLocal || externalLocal {
            let families = familiesLackingLocalEndpoints(service: svc, endpoints: sets, nodeName: nodeName)
            if !families.isEmpty {
                s.noLocalInternal = internalLocal
                s.noLocalExternal = externalLocal
                s.noLocalFamilies = families
            }
        }
        return s == LocalEndpointStatus() ? nil : s
    }

    /// Distinct IPs of ready endpoints on `nodeName` serving a port of the Service, in the family of
    /// its primary cluster IP.
    public static func readyLocalEndpoints(service svc: ServiceInfo, endpoints sets: [EndpointSetInfo], nodeName: String) -> Int {
        guard let family = svc.clusterIPs.first?.family else { return 0 }
        var ips: Set<IPAddress> = []
        for set in sets where set.ports.contains(where: { p in svc.ports.contains { $0.name == p.name && $0.proto == p.proto } }) {
            for ep in set.endpoints where ep.ready && ep.nodeName == nodeName && ep.address.family == family { ips.insert(ep.address) }
        }
        return ips.count
    }

    /// Whether some port, in some family of the Service, has usable endpoints in the cluster but none on this node.
    static func lacksLocalEndpoints(service svc: ServiceInfo, endpoints sets: [EndpointSetInfo], nodeName: String) -> Bool {
        !familiesLackingLocalEndpoints(service: svc, endpoints: sets, nodeName: nodeName).isEmpty
    }

    /// The families of the Service's cluster IPs in which some port has usable endpoints in the
    /// cluster but none on this node.
    static func familiesLackingLocalEndpoints(service svc: ServiceInfo, endpoints sets: [EndpointSetInfo], nodeName: String) -> Set<IPFamily> {
        let node = NodeContext(name: nodeName)
        var lacking: Set<IPFamily> = []
        for family in Set(svc.clusterIPs.map(\.family)) {
            for port in svc.ports {
                // The builder's choice itself: `chosen` would also copy it and map its ports.
                let c = DesiredStateBuilder.categorize(port: port, family: family, sets: sets, node: node)
                if !c.cluster.isEmpty && c.local.isEmpty { lacking.insert(family); break }
            }
        }
        return lacking
    }
}
