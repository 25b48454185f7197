import KubeModel

// MARK: - The daemon's view of the API: validated objects and what changed since the last sync

/// Services, endpoint sets and this node's Node object, as last seen from the API server.
///
/// Only validated objects enter (the caller reports the diagnostics of invalid ones and keeps their
/// last valid version: a bad update must not take down what is programmed). Every change marks
/// the affected Services dirty.
public struct ClusterCache: Sendable {
    public private(set) var services: [ObjectRef: ServiceInfo] = [:]
    /// Endpoint sets by their source object (an EndpointSlice, or an Endpoints object).
    public private(set) var endpointSets: [ObjectRef: [EndpointSetInfo]] = [:]
    /// Source objects per Service, to find a Service's endpoints quickly.
    private var sourcesByService: [ObjectRef: Set<ObjectRef>] = [:]
    public private(set) var node: NodeInfo?
    /// Services whose desired state must be recomputed.
    public private(set) var dirty: Set<ObjectRef> = []
    /// Set when something node-wide changed (the Node object): every Service is recomputed.
    public private(set) var allDirty = false
    /// Which kinds have delivered their first complete list.
    public private(set) var synced: Set<ResourceKind> = []

    /// The resource kinds the daemon watches.
    public enum ResourceKind: String, Sendable, Hashable, CaseIterable { case services, endpoints, node }

    public init() {}

    /// True when every watched kind has delivered its first complete list.
    public var isSynced: Bool { synced.isSuperset(of: ResourceKind.allCases) }

    public mutating func markSynced(_ kind: ResourceKind) { synced.insert(kind) }

    /// Endpoint sets of one Service.
    public func endpoints(of service: ObjectRef) -> [EndpointSetInfo] {
        (sourcesByService[service] ?? []).sorted().flatMap { endpointSets[$0] ?? [] }
    }

    /// Takes the dirty set (and the all-dirty flag), leaving both empty.
    public mutating func takeDirty() -> (services: Set<ObjectRef>, all: Bool) {
        defer { dirty = []; allDirty = false }
        return (dirty, allDirty)
    }

    // MARK: Services

    public mutating func upsert(service: ServiceInfo) {
        if services[service.ref] != service { services[service.ref] = service; dirty.insert(service.ref) }
    }

    public mutating func deleteService(_ ref: ObjectRef) {
        if services.removeValue(forKey: ref) != nil { dirty.insert(ref) }
    }

    /// Replaces every Service (a complete list); Services not in it are deleted.
    public mutating func replaceServices(_ list: [ServiceInfo]) {
        let keep = Set(list.map(\.ref))
        for ref in services.keys where !keep.contains(ref) { deleteService(ref) }
        for s in list { upsert(service: s) }
        markSynced(.services)
    }

    // MARK: Endpoints

    /// Sets the endpoint sets that come from one source object (an empty list deletes them).
    public mutating func upsert(endpointsFrom source: ObjectRef, sets: [EndpointSetInfo]) {
        let old = endpointSets[source] ?? []
        if old == sets { return }
        for s in old {
            sourcesByService[s.service]?.remove(source)
            if sourcesByService[s.service]?.isEmpty == true { sourcesByService[s.service] = nil }
            dirty.insert(s.service)
        }
        endpointSets[source] = sets.isEmpty ? nil : sets
        for s in sets {
            sourcesByService[s.service, default: []].insert(source)
            dirty.insert(s.service)
        }
    }

    /// Replaces every endpoint source (a complete list).
    public mutating func replaceEndpoints(_ bySource: [ObjectRef: [EndpointSetInfo]]) {
        for source in endpointSets.keys where bySource[source] == nil { upsert(endpointsFrom: source, sets: []) }
        for (source, sets) in bySource { upsert(endpointsFrom: source, sets: sets) }
        markSynced(.endpoints)
    }

    // MARK: Node

    public mutating func setNode(_ node: NodeInfo?) {
        if self.node != node { self.node = node; allDirty = true }
        markSynced(.node)
    }
}
