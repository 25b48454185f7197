import KernelPort
import KubeModel
import ProxyCore

// MARK: - The daemon's reconcile loop
//
// Watchers feed objects in; `step()` does whatever is due: nothing until every first list has
// arrived; then a full resync (read the kernel, plan everything) every syncPeriod, and in between,
// at most once per minSyncPeriod, a sync of only the Services that changed, planned against the
// cached kernel state (updated from each applied plan, so a small change costs no kernel reads).
// TCP real servers are drained (weight 0) and deleted once idle; UDP ones go at once, and the
// conntrack entries that still send clients to them go right after the apply. `step()` takes
// explicit time, so tests drive it with a fake clock and an in-memory kernel.

/// An object that carries endpoints: an EndpointSlice or a core/v1 Endpoints.
public protocol EndpointSource: Sendable {
    var metadata: ObjectMeta? { get }
    /// The endpoint sets it holds, validated.
    func checkedSets() -> Checked<[EndpointSetInfo]>
}

extension EndpointSliceResource: EndpointSource {
    public func checkedSets() -> Checked<[EndpointSetInfo]> {
        switch checked() {
        case .ok(let s): return .ok([s])
        case .ignored(let why): return .ignored(why)
        case .invalid(let d): return .invalid(d)
        }
    }
}

extension EndpointsResource: EndpointSource {
    public func checkedSets() -> Checked<[EndpointSetInfo]> { checked() }
}

/// What one sync did.
public struct SyncResult: Sendable {
    public var full: Bool
    /// Operations applied, per subsystem.
    public var operations: [OperationKind: Int]
    /// Time spent computing and applying, from the start of the sync.
    public var elapsed: Duration
    /// Services recomputed.
    public var servicesRecomputed: Int
    /// The failure, when the apply did not fully succeed (a full resync follows).
    public var error: String?
    /// Time of the oldest change this sync applied (for the network-programming latency metric).
    public var oldestChange: Double?
    /// When each endpoint change this sync applied was made: the object's
    /// `endpoints.kubernetes.io/last-change-trigger-time` annotation, else the time it was received
    /// (kubeproxy_network_programming_duration_seconds).
    public var endpointChangeTimes: [Double] = []
    /// The change counters after this sync (the pending ones are zero unless the sync failed).
    public var counters = ChangeCounters()
    /// Not a sync but the deletion of drained real servers found idle (no change was applied).
    public var reap = false
    /// The loop's first successful sync since it started.
    public var first = false
    /// Stale UDP conntrack entries deleted after the apply.
    public var conntrackDeleted: Int = 0
    /// Why the conntrack cleanup failed, if it did; the sync itself still counts as applied.
    public var conntrackError: String? = nil
    /// The address families programmed (`ProxyFamilies.families`).
    public var families: Set<IPFamily> = []
    /// The node's NodePort and local addresses this sync used.
    public var nodeAddresses = NodeAddressSelection()
    /// The node's addresses differ from the previous sync's (every Service was recomputed).
    public var nodeAddressesChanged = false
    /// Why the node's addresses could not be read (the previous ones were kept).
    public var addressError: String? = nil
    /// Health-check node ports and Services without local endpoints (nil for a reap).
    public var localEndpoints: LocalEndpointSummary? = nil
    /// Services served with another scheduler than theirs, because the kernel lacks it.
    public var schedulerFallbacks: [ObjectRef: SchedulerFallback] = [:]
    /// Modules or sysctls that could not be set, all else applied (not a failed sync; a full resync retries them).
    public var prerequisiteError: String? = nil
    public var total: Int { operations.values.reduce(0, +) }
}

/// Changes received from the API server (kubeproxy_sync_proxy_rules_*_changes_{total,pending}).
public struct ChangeCounters: Sendable, Equatable {
    /// Service objects added, modified or deleted since start.
    public var serviceChangesTotal = 0
    /// Endpoint objects (EndpointSlices or Endpoints) added, modified or deleted since start.
    public var endpointChangesTotal = 0
    /// Services with a change not yet applied.
    public var servicesPending = 0
    /// Endpoint objects with a change not yet applied.
    public var endpointsPending = 0
    public init() {}
}

public actor ProxyLoop {
    /// What the loop programs: a kernel that also reads one virtual server and the node's addresses.
    public typealias Kernel = KernelBackend & VirtualServerReader & NodeAddressSource

    private let kernel: Kernel
    private let config: ProxyConfig
    private let nodeName: String
    private var cache = ClusterCache()
    /// The Node's InternalIP then ExternalIP addresses (`nodePortAddresses: [primary]`, dry-run).
    private var nodeHostIPs: [IPAddress] = []
    /// The node's addresses as last read, and what they mean.
    private var nodeAddresses = NodeAddressSelection()
    private var nodeAddressesKnown = false
    /// The families the cached kernel state was read for.
    private var observedFamilies: Set<IPFamily> = []
    /// Services with something to report about their local endpoints (most have nothing).
    private var localStatus: [ObjectRef: LocalEndpointStatus] = [:]
    /// Services kube-ipvs handles that have an IPv6 cluster IP (`ProxyFamilies.needsIPv6`), kept up
    /// to date from the changed Services: scanning all of them at each sync made a one-endpoint
    /// change cost O(Services).
    private var ipv6Services: Set<ObjectRef> = []
    /// The `kube-ipvs.io/scheduler` of the Services that have one, kept as `ipv6Services` is, and
    /// how many Services name each: the schedulers whose availability each sync asks the kernel.
    private var annotatedSchedulers: [ObjectRef: String] = [:]
    private var annotatedSchedulerCounts: [String: Int] = [:]
    /// Services served with a fallback scheduler (`SyncResult.schedulerFallbacks`).
    private var schedulerFallbacks: [ObjectRef: SchedulerFallback] = [:]
    private var index: DesiredStateIndex?
    private var observed: ObservedState?
    private var scheduler: SyncScheduler
    private var needFull = true
    private var draining: Set<DrainingRealServer> = []
    private var lastReap: Double = -Double.infinity
    /// Seconds between checks of draining real servers.
    public let reapInterval: Double
    private var wakeContinuation: AsyncStream<Void>.Continuation?
    private let wakeStream: AsyncStream<Void>
    /// Called after every sync (metrics, logs).
    private var observer: (@Sendable (SyncResult) -> Void)?
    /// Called with the diagnostic of every invalid object received.
    private var diagnosticSink: (@Sendable (Diagnostic) -> Void)?
    private var warningSink: (@Sendable (Diagnostic) -> Void)?
    /// Called when a change is queued (health: an update is pending; metrics: queued timestamp).
    private var queueObserver: (@Sendable (ChangeCounters, Double) -> Void)?
    /// The running totals; the pending counts are derived from the pending sets (`changeCounters`).
    private var totals = ChangeCounters()
    private var pendingServices: Set<ObjectRef> = []
    private var pendingEndpointSources: Set<ObjectRef> = []
    private var pendingEndpointTimes: [Double] = []
    /// Whether the first sync is done (for /healthz).
    public private(set) var hasSynced = false
    /// Whether a sync has succeeded (`SyncResult.first`).
    private var hasApplied = false
    public private(set) var lastResult: SyncResult?

    public init(kernel: Kernel, config: ProxyConfig, nodeName: String, reapInterval: Double = 2) {
        self.kernel = kernel
        self.config = config
        self.nodeName = nodeName
        self.scheduler = SyncScheduler(minSyncPeriod: config.minSyncPeriod, syncPeriod: config.syncPeriod)
        self.reapInterval = reapInterval
        var cont: AsyncStream<Void>.Continuation!
        self.wakeStream = AsyncStream(bufferingPolicy: .bufferingNewest(1)) { cont = $0 }
        self.wakeContinuation = cont
    }

    /// The address families programmed before any Service is known (IPv4 and clusterCIDR's);
    /// each sync adds IPv6 when a Service has an IPv6 cluster IP (`ProxyFamilies.families`).
    public static func families(for config: ProxyConfig) -> Set<IPFamily> {
        ProxyFamilies.families(config: config, ipv6Service: false)
    }

    public func setObserver(_ f: @escaping @Sendable (SyncResult) -> Void) { observer = f }
    public func setDiagnosticSink(_ f: @escaping @Sendable (Diagnostic) -> Void) { diagnosticSink = f }
    /// Problems with optional fields of objects that are still used (a bad scheduler annotation).
    public func setWarningSink(_ f: @escaping @Sendable (Diagnostic) -> Void) { warningSink = f }
    public func setQueueObserver(_ f: @escaping @Sendable (ChangeCounters, Double) -> Void) { queueObserver = f }

    /// The change counters now.
    public var changeCounters: ChangeCounters {
        var c = totals
        c.servicesPending = pendingServices.count
        c.endpointsPending = pendingEndpointSources.count
        return c
    }

    /// Whether every watched kind has delivered its first complete list.
    public var isCacheSynced: Bool { cache.isSynced }
    /// Real servers being drained now.
    public var drainingCount: Int { draining.count }

    // MARK: - Inputs

    private func changed(at now: Double) {
        scheduler.changed(at: now)
        queueObserver?(changeCounters, now)
        wakeContinuation?.yield()
    }

    private func serviceChanged(_ ref: ObjectRef?) {
        guard let ref else { return }
        totals.serviceChangesTotal += 1
        pendingServices.insert(ref)
    }

    /// Records a change of the endpoint object `ref` made at `time`.
    private func endpointSourceChanged(_ ref: ObjectRef, at time: Double) {
        totals.endpointChangesTotal += 1
        pendingEndpointSources.insert(ref)
        pendingEndpointTimes.append(time)
    }

    /// Records a change of `r`, made when its trigger-time annotation says, else `now`.
    private func endpointSourceChanged(_ r: some EndpointSource, at now: Double) {
        guard let ref = Self.ref(r.metadata) else { return }
        endpointSourceChanged(ref, at: Self.triggerTime(r.metadata) ?? now)
    }

    /// `endpoints.kubernetes.io/last-change-trigger-time` (RFC 3339), as seconds since the epoch.
    static func triggerTime(_ m: ObjectMeta?) -> Double? {
        guard let text = m?.annotations?["endpoints.kubernetes.io/last-change-trigger-time"] else { return nil }
        return RFC3339.seconds(text)
    }

    private func checked(_ r: ServiceResource) -> ServiceInfo? {
        switch r.checked() {
        case .ok(let s):
            for d in s.ignoredFieldDiagnostics { warningSink?(d) }
            return s
        case .ignored: return nil
        case .invalid(let d): diagnosticSink?(d); return nil
        }
    }

    /// A complete list of Services.
    public func replaceServices(_ items: [ServiceResource], at now: Double) {
        let before = cache.dirty
        cache.replaceServices(items.compactMap(checked))
        for ref in cache.dirty.subtracting(before) { serviceChanged(ref) }
        changed(at: now)
    }

    /// A Service was added or modified (an invalid one is treated as gone).
    public func upsertService(_ r: ServiceResource, at now: Double) {
        let ref = Self.ref(r.metadata)
        if let s = checked(r) { cache.upsert(service: s) } else if let ref { cache.deleteService(ref) }
        serviceChanged(ref)
        changed(at: now)
    }

    public func deleteService(_ r: ServiceResource, at now: Double) {
        let ref = Self.ref(r.metadata)
        if let ref { cache.deleteService(ref) }
        serviceChanged(ref)
        changed(at: now)
    }

    private func sets(_ r: some EndpointSource) -> [EndpointSetInfo] {
        switch r.checkedSets() {
        case .ok(let s): return s
        case .ignored: return []
        case .invalid(let d): diagnosticSink?(d); return []
        }
    }

    /// A complete list of EndpointSlices, or of core/v1 Endpoints (`--endpoints-source=endpoints`).
    public func replaceEndpointSources(_ items: [some EndpointSource], at now: Double) {
        var by: [ObjectRef: [EndpointSetInfo]] = [:]
        for r in items {
            guard let ref = Self.ref(r.metadata) else { continue }
            let s = sets(r)
            by[ref] = s
            if cache.endpointSets[ref] ?? [] != s { endpointSourceChanged(r, at: now) }
        }
        for ref in cache.endpointSets.keys where by[ref] == nil { endpointSourceChanged(ref, at: now) }
        cache.replaceEndpoints(by)
        changed(at: now)
    }

    /// An EndpointSlice or Endpoints object was added or modified.
    public func upsertEndpointSource(_ r: some EndpointSource, at now: Double) {
        if let ref = Self.ref(r.metadata) { cache.upsert(endpointsFrom: ref, sets: sets(r)) }
        endpointSourceChanged(r, at: now)
        changed(at: now)
    }

    public func deleteEndpointSource(_ r: some EndpointSource, at now: Double) {
        if let ref = Self.ref(r.metadata) {
            cache.upsert(endpointsFrom: ref, sets: [])
            endpointSourceChanged(ref, at: now)
        }
        changed(at: now)
    }

    /// This node's Node object (nil when it does not exist).
    public func setNode(_ r: NodeResource?, at now: Double) {
        var info: NodeInfo? = nil
        if let r {
            switch r.checked() {
            case .ok(let n): info = n
            case .ignored: break
            case .invalid(let d): diagnosticSink?(d)
            }
        }
        nodeHostIPs = info == nil ? [] : r?.hostIPsInPreferenceOrder ?? []
        cache.setNode(info)
        changed(at: now)
    }

    static func ref(_ m: ObjectMeta?) -> ObjectRef? {
        guard let name = m?.name, !name.isEmpty else { return nil }
        return ObjectRef(namespace: m?.namespace.flatMap { $0.isEmpty ? nil : $0 } ?? "default", name: name)
    }

    // MARK: - Syncing

    private func nodeContext(_ addresses: NodeAddressSelection, unavailableSchedulers: Set<String>) -> NodeContext {
        NodeContext(name: nodeName, node: cache.node, hostIPs: nodeHostIPs, addresses: addresses, unavailableSchedulers: unavailableSchedulers)
    }

    /// Records whether `ref` is served with a fallback scheduler; a new one is reported once.
    private func refreshSchedulerFallback(_ ref: ObjectRef, node: NodeContext) {
        let fallback = cache.services[ref].flatMap { DesiredStateBuilder.schedulerFallback(service: $0, config: config, node: node) }
        if let fallback, schedulerFallbacks[ref] != fallback {
            let field = annotatedSchedulers[ref] != nil ? "metadata.annotations[\(schedulerAnnotation)]" : "ipvs.scheduler"
            warningSink?(Diagnostic(kind: "Service", object: ref.description, field: field, message: fallback.description))
        }
        schedulerFallbacks[ref] = fallback
    }

    /// Reads the node's addresses (cheap: a link dump, then one address dump per link but kube-ipvs0)
    /// and selects the NodePort and local ones.
    /// Without an address source, the Node's status addresses stand for the node's. A failed read
    /// keeps the previous selection.
    private func refreshNodeAddresses(families: Set<IPFamily>) -> (changed: Bool, error: String?) {
        var list: [InterfaceAddress]? = nil
        do { list = try kernel.interfaceAddresses() } catch { return (false, "\(error)") }
        let addresses = list ?? nodeHostIPs.map { InterfaceAddress(interface: "", address: $0, prefixLength: $0.family.hostPrefix) }
        let selection = NodeAddressSelection.select(
            addresses: addresses, ipvsInterface: kernel.ipvsInterfaceName,
            nodePortAddresses: config.nodePortAddresses, nodeIPs: nodeHostIPs, families: families)
        let changed = nodeAddressesKnown && selection != nodeAddresses
        nodeAddresses = selection
        nodeAddressesKnown = true
        return (changed, nil)
    }

    private func refreshLocalStatus(_ ref: ObjectRef) {
        guard let svc = cache.services[ref] else { localStatus[ref] = nil; return }
        localStatus[ref] = LocalEndpoints.status(service: svc, endpoints: cache.endpoints(of: ref), nodeName: nodeName)
    }

    private func contribution(_ ref: ObjectRef, node: NodeContext) -> ServiceContribution? {
        guard let svc = cache.services[ref] else { return nil }
        if case .success(let c) = DesiredStateBuilder.contribution(service: svc, endpoints: cache.endpoints(of: ref), config: config, node: node) {
            return c
        }
        return nil
    }

    /// Does what is due at `now`; returns the seconds until something may be due again.
    @discardableResult
    public func step(at now: Double, clock: ContinuousClock = ContinuousClock()) -> Double {
        guard cache.isSynced else { return 0.5 }  // nothing is programmed before the first lists
        var wait: Double
        switch scheduler.next(at: now) {
        case .wait(let s):
            wait = s
        case .fullResync:
            sync(full: true, at: now, clock: clock)
            wait = 0
        case .syncChanges:
            sync(full: needFull, at: now, clock: clock)
            wait = 0
        }
        if !draining.isEmpty {
            if now - lastReap >= reapInterval { reap(at: now, clock: clock) }
            wait = min(wait, reapInterval)
        }
        return max(wait, 0)
    }

    private func sync(full: Bool, at now: Double, clock: ContinuousClock) {
        let start = clock.now
        let oldest = scheduler.oldestPendingChange
        let (dirty, all) = cache.takeDirty()
        if all { ipv6Services = []; annotatedSchedulers = [:]; annotatedSchedulerCounts = [:] }
        for ref in all ? Set(cache.services.keys) : dirty {
            if let svc = cache.services[ref], ProxyFamilies.needsIPv6(svc) { ipv6Services.insert(ref) } else { ipv6Services.remove(ref) }
            if let old = annotatedSchedulers[ref] {
                annotatedSchedulerCounts[old, default: 0] -= 1
                if annotatedSchedulerCounts[old]! <= 0 { annotatedSchedulerCounts[old] = nil }
            }
            annotatedSchedulers[ref] = cache.services[ref]?.scheduler
            if let new = annotatedSchedulers[ref] { annotatedSchedulerCounts[new, default: 0] += 1 }
        }
        let families = ProxyFamilies.families(config: config, ipv6Service: !ipv6Services.isEmpty)
        let (addressesChanged, addressError) = refreshNodeAddresses(families: families)
        let wantedSchedulers = Set(DesiredStateIndex.baselineSchedulers + [config.scheduler]).union(annotatedSchedulerCounts.keys)
        let node = nodeContext(nodeAddresses, unavailableSchedulers: kernel.unavailableSchedulers(wantedSchedulers))
        var recomputed = 0
        var scope = PlanScope()
        // An index is built for one NodeContext and one set of families: when either changes (a node
        // address appeared, the first IPv6 Service), every Service's contribution is rebuilt.
        let rebuild = index == nil || all || index?.node != node || index?.families != families
        if rebuild {
            var fresh = DesiredStateIndex(config: config, node: node, families: families)
            localStatus = [:]
            for ref in schedulerFallbacks.keys where cache.services[ref] == nil { schedulerFallbacks[ref] = nil }
            for ref in cache.services.keys {
                if let c = contribution(ref, node: node) { fresh.set(owner: c.owner, to: c) }
                refreshLocalStatus(ref)
                refreshSchedulerFallback(ref, node: node)
            }
            index = fresh
            recomputed = cache.services.count
        } else {
            for ref in dirty {
                scope.formUnion(index!.update(owner: ref.description, with: contribution(ref, node: node)))
                refreshLocalStatus(ref)
                refreshSchedulerFallback(ref, node: node)
            }
            recomputed = dirty.count
        }
        index!.refreshNodeWide()
        let desired = index!.state

        var result = SyncResult(full: full, operations: [:], elapsed: .zero, servicesRecomputed: recomputed, error: nil, oldestChange: oldest)
        result.endpointChangeTimes = pendingEndpointTimes
        result.families = families
        result.nodeAddresses = nodeAddresses
        result.nodeAddressesChanged = addressesChanged
        result.addressError = addressError
        result.localEndpoints = LocalEndpointSummary(localStatus)
        result.schedulerFallbacks = schedulerFallbacks
        do {
            // The kernel is read on a full resync, after a failure, and when a family is added or
            // dropped. A rebuilt index has no scope of its own: plan everything, as for a full resync.
            let read = full || observed == nil || observedFamilies != families
            let fullPlan = read || rebuild
            if read {
                observed = try kernel.observe(families: families)
                observedFamilies = families
            }
            let plan = Planner.plan(desired: desired, observed: observed!, scope: fullPlan ? nil : scope)
            let (drained, nowDraining) = GracefulTermination.drain(plan, observed: observed!)
            draining.formUnion(nowDraining)
            if !drained.isEmpty {
                // On failure the cache is dropped below and the kernel read again; but a module or
                // sysctl that cannot be set (read-only /proc/sys) must not fail every sync: the rest
                // was applied, and the full resync every syncPeriod reads them again and retries.
                do { _ = try kernel.apply(drained) } catch let f as ApplyFailure where f.onlyPrerequisitesFailed {
                    result.prerequisiteError = "\(f)"
                }
                clearStaleConntrack(after: drained, observed: observed!, into: &result)
                observed!.apply(drained)
            }
            result.operations = drained.countsByKind
            needFull = false
        } catch {
            result.error = "\(error)"
            needFull = true
            observed = nil
        }
        scheduler.synced(at: now, full: full)
        if result.error == nil {
            pendingServices = []; pendingEndpointSources = []; pendingEndpointTimes = []
            result.first = !hasApplied
            hasApplied = true
        } else {
            result.endpointChangeTimes = []
        }
        result.counters = changeCounters
        result.elapsed = clock.now - start
        hasSynced = true
        lastResult = result
        observer?(result)
    }

    private func reap(at now: Double, clock: ContinuousClock) {
        lastReap = now
        guard let desired = index?.state else { return }
        let (plan, still) = GracefulTermination.reap(draining, desired: desired) { [kernel] key in
            try? kernel.observeVirtualServer(key)
        }
        draining = still
        guard !plan.isEmpty else { return }
        let start = clock.now
        var result = SyncResult(full: false, operations: plan.countsByKind, elapsed: .zero, servicesRecomputed: 0, error: nil, oldestChange: nil)
        result.counters = changeCounters
        result.reap = true
        do {
            _ = try kernel.apply(plan)
            if let before = observed { clearStaleConntrack(after: plan, observed: before, into: &result) }
            observed?.apply(plan)
        } catch {
            result.error = "\(error)"
            needFull = true
        }
        result.elapsed = clock.now - start
        observer?(result)
    }

    /// Deletes the UDP conntrack entries that `plan`, just applied to `observed`, made stale. Best effort,
    /// as upstream: a failure is recorded in the result, not retried, and does not fail the sync.
    private func clearStaleConntrack(after plan: Plan, observed: ObservedState, into result: inout SyncResult) {
        let filters = ConntrackCleanup.filters(applied: plan, observed: observed)
        guard !filters.isEmpty else { return }
        do {
            result.conntrackDeleted = try kernel.clearConntrack(filters)
        } catch let e as KernelBatchError {
            result.conntrackDeleted = e.partial.applied
            result.conntrackError = "\(e)"
        } catch {
            result.conntrackError = "\(error)"
        }
    }

    /// Turns of `run`'s loop, for tests: an idle loop must not spin.
    private(set) var runIterations = 0

    /// Runs until cancelled: steps, then sleeps until the next step is due or a change arrives.
    public func run(now: @escaping @Sendable () -> Double) async {
        var it = wakeStream.makeAsyncIterator()
        while !Task.isCancelled {
            runIterations += 1
            let wait = step(at: now())
            if wait <= 0 { continue }
            let cont = wakeContinuation
            // Only a timer that ran out wakes the loop. A cancelled one must not: with `try?` the
            // cancellation was swallowed and every cancelled timer woke the next iteration, whose
            // timer was cancelled in turn, so the first change set off a busy loop (a CPU and
            // growing memory, found by the benchmark at 10k Services; ProxyLoopTests checks it).
            let timer = Task {
                do { try await Task.sleep(for: .seconds(wait)) } catch { return }
                cont?.yield()
            }
            _ = await it.next()
            timer.cancel()
        }
    }

    /// Ends `run`.
    public func stop() {
        wakeContinuation?.finish()
    }
}
