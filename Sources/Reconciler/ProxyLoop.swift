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

/// The reconcile loop of `kube-ipvs run`: a cache of the API objects, kept programmed in a kernel.
public actor ProxyLoop {
    /// What the loop programs: a kernel that also reads one virtual server and the node's addresses.
    public typealias Kernel = KernelBackend & VirtualServerReader & NodeAddressSource

    /// The name of the thread the loop runs on (`ThreadExecutor`), as /proc and debuggers show it.
    public static let threadName = "kube-ipvs-sync"
    /// The loop's own thread: its kernel calls block that thread, not Swift's cooperative pool.
    /// One per loop, so that one loop's slow kernel never holds up another's; it ends in deinit.
    let executor = ThreadExecutor(name: ProxyLoop.threadName)
    /// Every job of the actor runs on `executor`.
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private let kernel: Kernel
    private let config: ProxyConfig
    private let nodeName: String
    // Not private: the inputs (ProxyLoop+Inputs.swift) update these.
    let observers: ProxyLoopObservers
    var cache = ClusterCache()
    /// The Node's InternalIP then ExternalIP addresses (`nodePortAddresses: [primary]`, dry-run).
    var nodeHostIPs: [IPAddress] = []
    var pending = PendingChanges()
    var scheduler: SyncScheduler
    var wakeContinuation: AsyncStream<Void>.Continuation?

    /// The node's addresses as last read, and what they mean.
    private var nodeAddresses = NodeAddressSelection()
    private var nodeAddressesKnown = false
    /// Services with something to report about their local endpoints (most have nothing).
    private var localStatus: [ObjectRef: LocalEndpointStatus] = [:]
    /// Services kube-ipvs handles that have an IPv6 cluster IP (`ProxyFamilies.needsIPv6`), kept up
    /// to date from the changed Services, so that a one-endpoint change does not cost O(Services).
    private var ipv6Services: Set<ObjectRef> = []
    /// The schedulers in use and the Services served with a fallback, kept as `ipv6Services` is.
    private var schedulers = SchedulerTracking()
    /// Every Service's contribution; built by the first sync (`indexBuilt`), then updated in place.
    private var index: DesiredStateIndex
    private var indexBuilt = false
    /// The kernel state, as read and then updated from each applied plan, for `observedFamilies`:
    /// nil until read and after a failure (the next sync reads the kernel again).
    private var observed = ObservedState()
    private var observedFamilies: Set<IPFamily>?
    private var needFull = true
    private var draining: Set<DrainingRealServer> = []
    private var lastReap: Double = -Double.infinity
    /// Seconds between checks of draining real servers.
    public let reapInterval: Double
    private let wakeStream: AsyncStream<Void>
    /// Whether the first sync is done (for /healthz).
    public private(set) var hasSynced = false
    /// Whether a sync has succeeded (`SyncResult.first`).
    private var hasApplied = false
    /// What the last sync did.
    public private(set) var lastResult: SyncResult?

    /// - Parameter observers: who hears of syncs, invalid objects and queued changes.
    public init(kernel: Kernel, config: ProxyConfig, nodeName: String, observers: ProxyLoopObservers = ProxyLoopObservers(),
                reapInterval: Double = 2) {
        self.kernel = kernel
        self.config = config
        self.nodeName = nodeName
        self.observers = observers
        self.index = DesiredStateIndex(config: config, node: NodeContext(name: nodeName), families: Self.families(for: config))
        self.scheduler = SyncScheduler(minSyncPeriod: config.minSyncPeriod, syncPeriod: config.syncPeriod)
        self.reapInterval = reapInterval
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        self.wakeStream = stream
        self.wakeContinuation = continuation
    }

    // Not in stop(): that runs on the thread itself, and a stopped loop still answers (lastResult).
    deinit {
        executor.shutdown()
    }

    /// The address families programmed before any Service is known (IPv4 and clusterCIDR's);
    /// each sync adds IPv6 when a Service has an IPv6 cluster IP (`ProxyFamilies.families`).
    public static func families(for config: ProxyConfig) -> Set<IPFamily> {
        ProxyFamilies.families(config: config, ipv6Service: false)
    }

    /// The change counters now.
    public var changeCounters: ChangeCounters { pending.counters }

    /// Whether every watched kind has delivered its first complete list.
    public var isCacheSynced: Bool { cache.isSynced }
    /// Real servers being drained now.
    public var drainingCount: Int { draining.count }

    /// How many endpoint change times are kept while syncs fail (tests use a small number).
    func limitEndpointChangeTimes(to n: Int) { pending = PendingChanges(maxEndpointTimes: n) }

    // MARK: - Syncing

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
        var result = SyncResult(full: full, operations: [:], elapsed: .zero, servicesRecomputed: 0, error: nil,
                                oldestChange: scheduler.oldestPendingChange)
        result.endpointChangeTimes = pending.endpointTimes.times
        result.endpointChangeTimesByFamily = pending.endpointTimesByFamily.mapValues(\.times)
        var phases = PhaseClock(clock: clock, enabled: full, memory: observers.memoryKiB)
        let scope = updateIndex(into: &result, phases: &phases)
        do {
            try applyPlan(full: full, scope: scope, into: &result, phases: &phases)
            needFull = false
        } catch {
            result.error = "\(error)"
            result.kernelErrors = (error as? ApplyFailure)?.report.errors ?? (error as? KernelError).map { [$0] } ?? []
            needFull = true
            forgetObserved()
        }
        scheduler.synced(at: now, full: full)
        if result.error == nil {
            pending.applied()
            result.first = !hasApplied
            hasApplied = true
        } else {
            result.endpointChangeTimes = []
            result.endpointChangeTimesByFamily = [:]
        }
        result.counters = changeCounters
        result.elapsed = clock.now - start
        result.phases = phases.laps
        result.phaseMemory = phases.memoryLaps
        hasSynced = true
        lastResult = result
        observers.syncFinished(result)
    }

    /// Brings the desired state up to date with the changed Services and the node's addresses;
    /// returns the keys the planner must compare, nil for all of them (the index was rebuilt).
    private func updateIndex(into result: inout SyncResult, phases: inout PhaseClock) -> PlanScope? {
        let (dirty, all) = cache.takeDirty()
        if all { ipv6Services = []; schedulers.forgetNames() }
        for ref in all ? Set(cache.services.keys) : dirty {
            if let svc = cache.services[ref], ProxyFamilies.needsIPv6(svc) { ipv6Services.insert(ref) } else { ipv6Services.remove(ref) }
            schedulers.update(ref, scheduler: cache.services[ref]?.scheduler)
        }
        let families = ProxyFamilies.families(config: config, ipv6Service: !ipv6Services.isEmpty)
        let (addressesChanged, addressError) = refreshNodeAddresses(families: families)
        phases.lap("addresses")
        let node = NodeContext(name: nodeName, node: cache.node, hostIPs: nodeHostIPs, addresses: nodeAddresses,
                               unavailableSchedulers: kernel.unavailableSchedulers(schedulers.wanted(config: config)))
        phases.lap("schedulers")
        result.families = families
        result.nodeAddresses = nodeAddresses
        result.nodeAddressesChanged = addressesChanged
        result.addressError = addressError
        defer {
            index.refreshNodeWide()
            result.localEndpoints = LocalEndpointSummary(localStatus)
            result.schedulerFallbacks = schedulers.fallbacks
            phases.lap("index")
        }
        // An index is built for one NodeContext and one set of families: when either changes (a node
        // address appeared, the first IPv6 Service), every Service's contribution is rebuilt.
        guard indexBuilt && !all && index.node == node && index.families == families else {
            index = DesiredStateIndex(config: config, node: node, families: families)
            indexBuilt = true
            localStatus = [:]
            schedulers.dropFallbacks { cache.services[$0] == nil }
            for ref in cache.services.keys {
                if let c = contribution(ref, node: node) { index.add(c) }
                refreshLocalStatus(ref)
                refreshSchedulerFallback(ref, node: node)
            }
            result.servicesRecomputed = cache.services.count
            return nil
        }
        var scope = PlanScope()
        for ref in dirty {
            scope.formUnion(index.replace(owner: ref.description, with: contribution(ref, node: node)))
            refreshLocalStatus(ref)
            refreshSchedulerFallback(ref, node: node)
        }
        result.servicesRecomputed = dirty.count
        return scope
    }

    /// Plans the desired state against the kernel's (read again on a full resync, after a failure
    /// and when a family is added or dropped; else the cached one, `scope` only) and applies it.
    private func applyPlan(full: Bool, scope: PlanScope?, into result: inout SyncResult, phases: inout PhaseClock) throws {
        let families = index.families
        let read = full || observedFamilies != families
        if read {
            observed = try kernel.observe(families: families)
            observedFamilies = families
            phases.lap("observe")
        }
        let plan = Planner.plan(desired: index.state, observed: observed, scope: read ? nil : scope)
        let (drained, nowDraining) = GracefulTermination.drain(plan, observed: observed)
        draining.formUnion(nowDraining)
        phases.lap("plan")
        if !drained.isEmpty {
            // On failure the cached state is dropped and the kernel read again; but a module or
            // sysctl that cannot be set (read-only /proc/sys) must not fail every sync: the rest was
            // applied, and the full resync every syncPeriod reads them again and retries.
            do {
                phases.add(applied: try kernel.apply(drained))
            } catch let f as ApplyFailure where f.onlyPrerequisitesFailed {
                result.prerequisiteError = "\(f)"
                phases.add(applied: f.report)
            }
            clearStaleConntrack(after: drained, observed: observed, into: &result)
            phases.lap("conntrack")
            observed.apply(drained)
            phases.lap("cache")
        }
        result.operations = drained.countsByKind
    }

    /// Drops the cached kernel state: the next sync reads the kernel.
    private func forgetObserved() {
        observed = ObservedState()
        observedFamilies = nil
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

    /// Records whether `ref` is served with a fallback scheduler; a new one is reported once.
    private func refreshSchedulerFallback(_ ref: ObjectRef, node: NodeContext) {
        let fallback = cache.services[ref].flatMap { DesiredStateBuilder.schedulerFallback(service: $0, config: config, node: node) }
        guard let new = schedulers.record(ref, fallback: fallback) else { return }
        let field = schedulers.namesScheduler(ref) ? "metadata.annotations[\(schedulerAnnotation)]" : "ipvs.scheduler"
        observers.warning(Diagnostic(kind: "Service", object: ref.description, field: field, message: new.description))
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

    private func reap(at now: Double, clock: ContinuousClock) {
        lastReap = now
        guard indexBuilt else { return }
        let (plan, still) = GracefulTermination.reap(draining, desired: index.state) { [kernel] key in
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
            if observedFamilies != nil {
                clearStaleConntrack(after: plan, observed: observed, into: &result)
                observed.apply(plan)
            }
        } catch {
            result.error = "\(error)"
            result.kernelErrors = (error as? ApplyFailure)?.report.errors ?? (error as? KernelError).map { [$0] } ?? []
            needFull = true
        }
        result.elapsed = clock.now - start
        observers.syncFinished(result)
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
            // Only a timer that ran out wakes the loop. A cancelled one must not, or every cancelled
            // timer would wake the next turn, whose timer is cancelled in turn: a busy loop
            // (ProxyLoopTests.testRunningLoopIsIdleAfterAChange).
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
