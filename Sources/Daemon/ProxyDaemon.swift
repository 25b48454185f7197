#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Kernel
import KernelPort
import KubeClient
import KubeModel
import Logging
import ProxyCore
import Reconciler
import ServiceLifecycle

// MARK: - kube-ipvs run: watch the API server, keep the node in step
//
//   Reflector<Service>  ─┐
//   Reflector<EndpointSlice | Endpoints> ─┼─> ProxyLoop (cache, scheduler, incremental plans) ─> KernelBackend
//   Reflector<Node>     ─┘                       │
//                                                └─> hooks: logs, metrics, health
//
// The reflectors list, then watch, forever (relist on 410, backoff on errors). ProxyLoop programs
// nothing until every first list is in. On graceful shutdown (SIGTERM, SIGINT) everything is
// cancelled between syncs and the kernel is left as it is: the next start plans against it and
// applies only the difference, which is nothing when the cluster did not change meanwhile.

/// Which API objects carry the endpoints.
public enum EndpointsSourceKind: String, Sendable, CaseIterable {
    /// discovery.k8s.io EndpointSlices (v1, or v1beta1 on servers without v1).
    case endpointSlices = "endpointslices"
    /// core/v1 Endpoints (the legacy API, still written by hand on some clusters).
    case endpoints
}

/// Everything `kube-ipvs run` was told.
public struct DaemonSettings: Sendable {
    public var config: ProxyConfig
    public var nodeName: String
    public var kubeConfig: KubeConfig
    public var endpointsSource: EndpointsSourceKind
    /// Objects per list request.
    public var pageSize: Int = 500
    /// Seconds of silence after which a watch is replaced (a peer may vanish without closing).
    public var watchIdleTimeout: Double = 60
    public init(config: ProxyConfig, nodeName: String, kubeConfig: KubeConfig, endpointsSource: EndpointsSourceKind) {
        self.config = config; self.nodeName = nodeName; self.kubeConfig = kubeConfig; self.endpointsSource = endpointsSource
    }
}

/// What the daemon tells the world (metrics, health); every hook is optional.
public struct DaemonHooks: Sendable {
    /// After every sync (and every reap of drained real servers), with the wall-clock time it ended.
    public var syncFinished: @Sendable (SyncResult, Double) -> Void = { _, _ in }
    /// When a change arrives from the API server.
    public var changeQueued: @Sendable (ChangeCounters, Double) -> Void = { _, _ in }
    /// When an invalid object is received (not applied); the argument is its resource (services, endpointslices, ...).
    public var invalidObject: @Sendable (String) -> Void = { _ in }
    /// Whether this node is eligible for traffic (false while the Node is being deleted).
    public var nodeEligible: @Sendable (Bool) -> Void = { _ in }
    /// When the loop starts, with the wall-clock time (health counts from here, as upstream).
    public var started: @Sendable (Double) -> Void = { _ in }
    /// Each request to the API server (its result, or a list's latency), after `clientOptions.onRequest`.
    public var apiRequest: (@Sendable (APIRequestEvent) -> Void)? = nil
    public init() {}

    /// The hooks that feed kube-proxy's health rules and metrics, and the health-check node ports
    /// (`healthChecks`; `config` decides on which addresses they listen).
    public static func reporting(to health: ProxyHealth, metrics: ProxyMetrics, healthChecks: ServiceHealthServers? = nil,
                                 config: ProxyConfig = ProxyConfig()) -> DaemonHooks {
        var h = DaemonHooks()
        h.started = { now in
            health.updated(at: now)
            // Upstream synthesizes a queued change when its sync loop starts.
            metrics.changeQueued(at: now)
        }
        h.apiRequest = { metrics.restClient.observe($0) }
        h.changeQueued = { c, now in
            health.queuedUpdate(at: now)
            metrics.changeQueued(at: now)
            metrics.setChangeCounts(c)
        }
        h.syncFinished = { r, now in
            metrics.syncFinished(r, at: now)
            guard !r.reap else { return }
            metrics.setChangeCounts(r.counters)
            if let local = r.localEndpoints {
                metrics.setNoLocalEndpoints(internal: local.noLocalInternalByFamily, external: local.noLocalExternalByFamily)
                healthChecks?.update(local.healthChecks, hosts: ServiceHealthServers.hosts(config: config, nodeAddresses: r.nodeAddresses))
            }
            if r.error == nil {
                health.updated(at: now)
                metrics.networkProgrammed(changeTimes: r.endpointChangeTimesByFamily, at: now)
            }
        }
        h.invalidObject = { metrics.invalidObject(resource: $0) }
        h.nodeEligible = { health.setNodeEligible($0) }
        return h
    }
}

/// The per-node daemon, as a swift-service-lifecycle Service.
public final class ProxyDaemon: Service, Sendable {
    public let settings: DaemonSettings
    public let logger: Logger
    public let hooks: DaemonHooks
    private let makeKernel: @Sendable () throws -> ProxyLoop.Kernel
    private let clientOptions: APIClient.Options
    private let reflectorOptions: ReflectorOptions
    /// Called with the loop once it exists (tests inspect it).
    private let onLoop: @Sendable (ProxyLoop) async -> Void

    /// - Parameter makeKernel: the node's kernel (`NodeKernel`) or an in-memory one (dry-run, tests);
    ///   called once when the daemon starts.
    public init(settings: DaemonSettings, logger: Logger, hooks: DaemonHooks = DaemonHooks(),
                clientOptions: APIClient.Options = APIClient.Options(), reflectorOptions: ReflectorOptions = ReflectorOptions(),
                makeKernel: @escaping @Sendable () throws -> ProxyLoop.Kernel,
                onLoop: @escaping @Sendable (ProxyLoop) async -> Void = { _ in }) {
        self.settings = settings; self.logger = logger; self.hooks = hooks
        self.clientOptions = clientOptions; self.reflectorOptions = reflectorOptions
        self.makeKernel = makeKernel; self.onLoop = onLoop
    }

    /// The kernel kube-ipvs programs on this node: NodeKernel with the ipset backend and the
    /// iptables backends of both families (the loop adds IPv6 with the first IPv6 Service; a
    /// backend touches nothing until its family is observed or has operations).
    public static func nodeKernel(config: ProxyConfig, flavor: IPTablesFlavor) throws -> NodeKernel {
        try NodeKernel(sets: try IPSetBackend(), rules: IPTablesFamilies(families: Set(IPFamily.allCases), flavor: flavor),
                       sysctlNames: Prerequisites.specSysctls(strictARP: config.strictARP))
    }

    public func run() async throws {
        let kernel = try makeKernel()
        var options = clientOptions
        // Installed only when someone listens, so that a client without metrics runs as before.
        if let hook = hooks.apiRequest {
            let given = options.onRequest
            options.onRequest = { given?($0); hook($0) }
        }
        let client = try APIClient(config: settings.kubeConfig, options: options)
        let loop = ProxyLoop(kernel: kernel, config: settings.config, nodeName: settings.nodeName, observers: observers())
        await onLoop(loop)
        logger.info("starting", metadata: [
            "node": "\(settings.nodeName)", "server": "\(settings.kubeConfig.redactedServer)",
            "endpoints-source": "\(settings.endpointsSource.rawValue)",
            "families": "\(ProxyLoop.families(for: settings.config).map { "\($0)" }.sorted().joined(separator: ","))",
            "minSyncPeriod": "\(settings.config.minSyncPeriod)s", "syncPeriod": "\(settings.config.syncPeriod)s",
        ])
        hooks.started(Date().timeIntervalSince1970)
        await cancelWhenGracefulShutdown {
            await self.runAll(client: client, loop: loop)
        }
        await loop.stop()
        try? await client.shutdown()
        logger.info("stopped; the kernel state is left as it is")
    }

    /// The loop's observers: logs, and the hooks.
    private func observers() -> ProxyLoopObservers {
        let logger = self.logger
        let hooks = self.hooks
        var o = ProxyLoopObservers()
        // Anonymous memory only: the binary's pages (RssFile) are not the sync's doing.
        o.memoryKiB = { ProcessMetrics.statusKiB("RssAnon") }
        o.syncFinished = { result in
            let now = Date().timeIntervalSince1970
            hooks.syncFinished(result, now)
            var meta: Logger.Metadata = [
                "full": "\(result.full)", "operations": "\(result.total)",
                "services-recomputed": "\(result.servicesRecomputed)",
                "elapsed-ms": "\(FixedDecimal.format(result.elapsed.milliseconds, digits: 2))",
            ]
            for (k, n) in result.operations.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where n > 0 { meta["ops-\(k.rawValue)"] = "\(n)" }
            for (name, d) in result.phases { meta["ms-\(name)"] = "\(FixedDecimal.format(d.milliseconds, digits: 1))" }
            for (name, kib) in result.phaseMemory { meta["kib-\(name)"] = "\(kib)" }
            if result.first {
                // How long the node waited for its first sync (process start, lists, sync), and the peak so far.
                if let s = ProcessMetrics.secondsSinceStart() { meta["since-start-ms"] = "\(Int((s * 1000).rounded()))" }
                if let hwm = ProcessMetrics.statusKiB("VmHWM") { meta["kib-peak"] = "\(hwm)" }
            }
            if result.conntrackDeleted > 0 { meta["conntrack-deleted"] = "\(result.conntrackDeleted)" }
            if let t = result.oldestChange { meta["since-change-ms"] = "\(FixedDecimal.format((now - t) * 1000, digits: 1))" }
            if let e = result.prerequisiteError {
                logger.warning("kernel modules or sysctls could not be set; everything else was applied and the next full resync tries again: \(e)")
            }
            if let e = result.conntrackError {
                logger.warning("deleting stale UDP conntrack entries failed: \(e)")
            }
            if let e = result.addressError {
                logger.warning("reading the node's addresses failed; keeping the previous ones: \(e)")
            }
            if !result.reap && (result.first || result.nodeAddressesChanged) {
                let a = result.nodeAddresses
                logger.info("node addresses", metadata: [
                    "nodeport": "\(a.nodePortAddresses.map(\.description).joined(separator: ","))",
                    "local": "\(a.localAddresses.sorted().map(\.description).joined(separator: ","))",
                    "families": "\(result.families.sorted().map { "\($0)" }.joined(separator: ","))",
                ])
            }
            if let e = result.error {
                meta["error"] = "\(e)"
                logger.error("sync failed; the next sync re-reads the kernel and plans everything", metadata: meta)
            } else if result.reap {
                logger.info("deleted \(result.total) drained real server(s) that have no connections left", metadata: meta)
            } else if result.first {
                logger.info("first sync: applied \(result.total) operations", metadata: meta)
            } else if result.total > 0 {
                logger.info("sync applied \(result.total) operations", metadata: meta)
            } else {
                logger.debug("sync: nothing to do", metadata: meta)
            }
            // A first sync or a rebuild of many Services freed list pages, decoded objects and a
            // big plan: give those pages back (MallocTuning).
            if result.error == nil && (result.first || result.servicesRecomputed >= 1000) { MallocTuning.trim() }
        }
        o.invalidObject = { d in
            logger.error("invalid object not applied; its last valid version, if any, stays programmed: \(d)")
            hooks.invalidObject(d.kind)
        }
        o.warning = { d in logger.warning("\(d)") }
        o.changeQueued = { counters, now in hooks.changeQueued(counters, now) }
        return o
    }

    private func runAll(client: APIClient, loop: ProxyLoop) async {
        let logger = self.logger
        var options = reflectorOptions
        let userDiagnostic = options.onDiagnostic
        options.onDiagnostic = { d in
            userDiagnostic?(d)
            switch d.kind {
            case .listed: logger.info("\(d)")
            case .watchRenewed: logger.debug("\(d)")
            default: logger.warning("\(d)")
            }
        }
        options.pageSize = settings.pageSize
        if options.watchIdleTimeout == nil { options.watchIdleTimeout = settings.watchIdleTimeout }
        let opts = options
        let selector = ResourceKind.kubeProxyLabelSelector
        let now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        let node = settings.nodeName
        let hooks = self.hooks

        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await Reflector<ServiceResource>(client: client, kind: ResourceKind.services.withLabelSelector(selector), options: opts).run { ev in
                    Self.trace(logger, "Service", ev)
                    switch ev {
                    case .replaced(let items): await loop.replaceServices(items, at: now())
                    case .added(let o), .modified(let o): await loop.upsertService(o, at: now())
                    case .deleted(let o): await loop.deleteService(o, at: now())
                    }
                }
            }
            group.addTask {
                switch self.settings.endpointsSource {
                case .endpoints:
                    await Self.feedEndpoints(Reflector<EndpointsResource>(client: client, kind: ResourceKind.endpoints.withLabelSelector(selector), options: opts), loop: loop, logger: logger, now: now)
                case .endpointSlices:
                    guard let version = await self.endpointSliceVersion(client) else { return }
                    logger.info("watching EndpointSlices as discovery.k8s.io/\(version)")
                    await Self.feedEndpoints(Reflector<EndpointSliceResource>(client: client, kind: ResourceKind.endpointSlices(version: version).withLabelSelector(selector), options: opts), loop: loop, logger: logger, now: now)
                }
            }
            group.addTask {
                await Reflector<NodeResource>(client: client, kind: .node(named: node), options: opts).run { ev in
                    Self.trace(logger, "Node", ev)
                    let n: NodeResource?
                    switch ev {
                    case .replaced(let items):
                        n = items.first
                        if n == nil { logger.warning("no Node object named \(node): node-specific settings (zone, pod CIDRs) stay unset") }
                    case .added(let o), .modified(let o): n = o
                    case .deleted: n = nil
                    }
                    hooks.nodeEligible(!(n?.isBeingRemoved ?? false))
                    await loop.setNode(n, at: now())
                }
            }
            group.addTask { await loop.run(now: now) }
            await group.next()  // the tasks return only when cancelled
            if !Task.isCancelled { logger.critical("a watcher or the sync loop ended on its own; stopping") }
            group.cancelAll()
        }
    }

    private static func trace<T: KubeObject>(_ logger: Logger, _ kind: String, _ ev: ReflectorEvent<T>) {
        guard logger.logLevel <= .debug else { return }
        func name(_ o: T) -> String { "\(o.metadata?.namespace ?? "")/\(o.metadata?.name ?? "")" }
        switch ev {
        case .replaced(let items): logger.debug("\(kind) list: \(items.count) objects")
        case .added(let o): logger.debug("\(kind) added: \(name(o)) resourceVersion \(o.metadata?.resourceVersion ?? "")")
        case .modified(let o): logger.debug("\(kind) modified: \(name(o)) resourceVersion \(o.metadata?.resourceVersion ?? "")")
        case .deleted(let o): logger.debug("\(kind) deleted: \(name(o)) resourceVersion \(o.metadata?.resourceVersion ?? "")")
        }
    }

    private static func feedEndpoints<T: KubeObject & EndpointSource>(_ reflector: Reflector<T>, loop: ProxyLoop, logger: Logger, now: @escaping @Sendable () -> Double) async {
        await reflector.run { ev in
            trace(logger, String(describing: T.self).replacing("Resource", with: ""), ev)
            switch ev {
            case .replaced(let items): await loop.replaceEndpointSources(items, at: now())
            case .added(let o), .modified(let o): await loop.upsertEndpointSource(o, at: now())
            case .deleted(let o): await loop.deleteEndpointSource(o, at: now())
            }
        }
    }

    /// discovery.k8s.io/v1, or v1beta1 on servers without v1; retried until the server answers.
    private func endpointSliceVersion(_ client: APIClient) async -> String? {
        var backoff = reflectorOptions.backoff
        while !Task.isCancelled {
            do { return try await client.preferredEndpointSliceVersion() } catch {
                if Task.isCancelled || error is CancellationError { return nil }
                // A server that says when to come back (429, 503) is not asked sooner.
                let hint = min((error as? APIError)?.retryAfter ?? 0, reflectorOptions.maximumRetryAfter)
                let delay = max(backoff.next(), hint)
                logger.warning("API discovery of discovery.k8s.io failed: \(error); retrying in \(FixedDecimal.format(delay, digits: 2))s")
                // The reflectors' sleep (see KubeClient's Sleep.swift for why not Task.sleep).
                do { try await eventLoopSleep(delay) } catch { return nil }
            }
        }
        return nil
    }
}
