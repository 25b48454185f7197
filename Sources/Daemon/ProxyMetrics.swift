// MARK: - Prometheus metrics behind /metrics
//
// kube-proxy's metrics in IPVS mode (pkg/proxy/metrics/metrics.go, RegisterMetrics) with its
// names, types, help texts (component-base prefixes ALPHA ones with "[ALPHA] "), labels and
// buckets, so that existing dashboards and alerts work; client-go's request metrics
// (RestClientMetrics.swift) and client_golang's process_* (ProcessMetrics.swift), which kube-proxy's
// /metrics also carries; and kube-ipvs's own under the `kubeipvs_` prefix. Upstream runs one
// proxier per IP family and labels most series with `ip_family` ("IPv4", "IPv6"); kube-ipvs
// programs every family in one sync, so such a sync is reported under each family it programmed.
// The metrics live in a PrometheusCollectorRegistry used directly rather than through
// swift-metrics' global factory: the factory cannot give a metric its help text or its own
// buckets per name without global configuration, and bootstrapping the process-wide
// MetricsSystem can happen only once, whereas each ProxyMetrics (each test) owns its registry.
import KernelPort
import KubeModel
import Logging
import Prometheus
import ProxyCore
import Reconciler
import Synchronization

/// Which health endpoint answered (kubeproxy_proxy_healthz_total, kubeproxy_proxy_livez_total).
public enum HealthProbe: Sendable {
    case healthz, livez
}

/// The daemon's metrics; every method is thread-safe.
public final class ProxyMetrics: Sendable {
    /// Where the metrics live; `render()` emits it with the process metrics.
    public let registry: PrometheusCollectorRegistry
    /// client-go's rest_client_* metrics, fed by the API client (`observe(_:)`).
    public let restClient: RestClientMetrics

    /// The kube-proxy series of one IP family.
    private struct FamilySeries: Sendable {
        let syncDuration: DurationHistogram
        let lastSynced: Gauge
        let lastQueued: Gauge
        let networkProgramming: ValueHistogram
        let noLocalInternal: Gauge
        let noLocalExternal: Gauge
    }
    private let perFamily = Mutex<[IPFamily: FamilySeries]>([:])

    // kube-proxy's, without a family
    private let endpointChangesPending: Gauge
    private let endpointChangesTotal: Counter
    private let serviceChangesPending: Gauge
    private let serviceChangesTotal: Counter
    // kube-ipvs's
    private let operations: [OperationKind: Counter]
    private let fullSyncs: Counter
    private let partialSyncs: Counter
    private let syncFailures: Counter
    private let conntrackDeleted: Counter
    private let conntrackFailures: Counter
    private let schedulerFallbacks: Gauge
    private let prerequisiteFailures: Counter

    /// The change totals last reported, so that the counters follow them (they only go up).
    private let reportedTotals = Mutex((services: 0, endpoints: 0))

    // MARK: - Names, help texts and buckets

    /// Metric names, as exposed.
    public enum Name {
        public static let syncDuration = "kubeproxy_sync_proxy_rules_duration_seconds"
        public static let lastTimestamp = "kubeproxy_sync_proxy_rules_last_timestamp_seconds"
        public static let lastQueuedTimestamp = "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds"
        public static let networkProgramming = "kubeproxy_network_programming_duration_seconds"
        public static let endpointChangesPending = "kubeproxy_sync_proxy_rules_endpoint_changes_pending"
        public static let endpointChangesTotal = "kubeproxy_sync_proxy_rules_endpoint_changes_total"
        public static let serviceChangesPending = "kubeproxy_sync_proxy_rules_service_changes_pending"
        public static let serviceChangesTotal = "kubeproxy_sync_proxy_rules_service_changes_total"
        public static let noLocalEndpoints = "kubeproxy_sync_proxy_rules_no_local_endpoints_total"
        public static let iptablesRestoreFailures = "kubeproxy_sync_proxy_rules_iptables_restore_failures_total"
        public static let healthzTotal = "kubeproxy_proxy_healthz_total"
        public static let livezTotal = "kubeproxy_proxy_livez_total"
        public static let operationsApplied = "kubeipvs_operations_applied_total"
        public static let syncs = "kubeipvs_syncs_total"
        public static let syncFailures = "kubeipvs_sync_failures_total"
        public static let conntrackDeleted = "kubeipvs_conntrack_entries_deleted_total"
        public static let conntrackFailures = "kubeipvs_conntrack_cleanup_failures_total"
        public static let invalidObjects = "kubeipvs_invalid_objects_total"
        public static let schedulerFallbacks = "kubeipvs_services_scheduler_fallback"
        public static let prerequisiteFailures = "kubeipvs_prerequisite_failures_total"
    }

    /// Upstream's ExponentialBuckets(0.001, 2, 15): 1 ms to 16.384 s.
    public static let syncDurationBuckets: [Duration] = (0..<15).map { .milliseconds(1 << $0) }

    /// Upstream's MergeBuckets(LinearBuckets(0.25, 0.25, 2), LinearBuckets(1, 1, 59),
    /// LinearBuckets(60, 5, 12), LinearBuckets(120, 30, 7)); MergeBuckets starts from a 0 bucket.
    public static let networkProgrammingBuckets: [Double] =
        [0, 0.25, 0.5] + (1...59).map(Double.init) + (0..<12).map { 60 + 5 * Double($0) }
            + (0..<7).map { 120 + 30 * Double($0) }

    /// Help texts as exposed: upstream's for kubeproxy_*, with component-base's stability prefix.
    public enum Help {
        public static let syncDuration = "[ALPHA] SyncProxyRules latency in seconds"
        public static let lastTimestamp = "[ALPHA] The last time proxy rules were successfully synced"
        public static let lastQueuedTimestamp = "[ALPHA] The last time a sync of proxy rules was queued"
        public static let networkProgramming = "[ALPHA] In Cluster Network Programming Latency in seconds"
        public static let endpointChangesPending = "[ALPHA] Pending proxy rules Endpoint changes"
        public static let endpointChangesTotal = "[ALPHA] Cumulative proxy rules Endpoint changes"
        public static let serviceChangesPending = "[ALPHA] Pending proxy rules Service changes"
        public static let serviceChangesTotal = "[ALPHA] Cumulative proxy rules Service changes"
        public static let noLocalEndpoints = "[ALPHA] Number of services with a Local traffic policy and no endpoints"
        public static let iptablesRestoreFailures = "[ALPHA] Cumulative proxy iptables restore failures"
        public static let healthzTotal = "[ALPHA] Cumulative proxy healthz HTTP status"
        public static let livezTotal = "[ALPHA] Cumulative proxy livez HTTP status"
        public static let operationsApplied = "Kernel operations applied, per subsystem"
        public static let syncs = "Syncs run: full resyncs (kernel read, everything planned) and partial ones (changed Services only)"
        public static let syncFailures = "Syncs whose apply failed (a full resync follows)"
        public static let conntrackDeleted = "Stale UDP conntrack entries deleted after removed endpoints"
        public static let conntrackFailures = "Conntrack cleanups that failed (the sync itself succeeded)"
        public static let invalidObjects = "API objects skipped because they failed validation, per resource"
        public static let schedulerFallbacks = "Services served with a fallback IPVS scheduler because the kernel lacks theirs"
        public static let prerequisiteFailures = "Syncs in which kernel modules or sysctls could not be set (everything else was applied)"
    }

    /// The full name as is (no namespace or unit is added) with its help text.
    static func d(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// - Parameter families: the IP families programmed from the start (`ProxyLoop.families(for:)`);
    ///   their series exist at once, and a family a sync adds gets its own then.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), families: Set<IPFamily> = [.ipv4]) {
        self.registry = registry
        let r = registry
        restClient = RestClientMetrics(registry: registry)
        endpointChangesPending = r.makeGauge(descriptor: Self.d(Name.endpointChangesPending, Help.endpointChangesPending))
        endpointChangesTotal = r.makeCounter(descriptor: Self.d(Name.endpointChangesTotal, Help.endpointChangesTotal))
        serviceChangesPending = r.makeGauge(descriptor: Self.d(Name.serviceChangesPending, Help.serviceChangesPending))
        serviceChangesTotal = r.makeCounter(descriptor: Self.d(Name.serviceChangesTotal, Help.serviceChangesTotal))

        // kube-ipvs's own; every label value exists from the start, at 0.
        let ops = Self.d(Name.operationsApplied, Help.operationsApplied)
        operations = Dictionary(uniqueKeysWithValues: OperationKind.allCases.map {
            ($0, r.makeCounter(descriptor: ops, labels: [("kind", $0.rawValue)]))
        })
        let syncs = Self.d(Name.syncs, Help.syncs)
        fullSyncs = r.makeCounter(descriptor: syncs, labels: [("type", "full")])
        partialSyncs = r.makeCounter(descriptor: syncs, labels: [("type", "partial")])
        syncFailures = r.makeCounter(descriptor: Self.d(Name.syncFailures, Help.syncFailures))
        conntrackDeleted = r.makeCounter(descriptor: Self.d(Name.conntrackDeleted, Help.conntrackDeleted))
        conntrackFailures = r.makeCounter(descriptor: Self.d(Name.conntrackFailures, Help.conntrackFailures))
        schedulerFallbacks = r.makeGauge(descriptor: Self.d(Name.schedulerFallbacks, Help.schedulerFallbacks))
        prerequisiteFailures = r.makeCounter(descriptor: Self.d(Name.prerequisiteFailures, Help.prerequisiteFailures))
        for f in families.sorted() { _ = series(f) }
    }

    /// The series of `family`, made on first use. Labels are written in name order, as Go does.
    private func series(_ family: IPFamily) -> FamilySeries {
        perFamily.withLock { all in
            if let s = all[family] { return s }
            let r = registry, ip = ("ip_family", family.rawValue)
            let noLocal = Self.d(Name.noLocalEndpoints, Help.noLocalEndpoints)
            let s = FamilySeries(
                syncDuration: r.makeDurationHistogram(descriptor: Self.d(Name.syncDuration, Help.syncDuration), labels: [ip],
                                                      buckets: Self.syncDurationBuckets),
                lastSynced: r.makeGauge(descriptor: Self.d(Name.lastTimestamp, Help.lastTimestamp), labels: [ip]),
                lastQueued: r.makeGauge(descriptor: Self.d(Name.lastQueuedTimestamp, Help.lastQueuedTimestamp), labels: [ip]),
                networkProgramming: r.makeValueHistogram(descriptor: Self.d(Name.networkProgramming, Help.networkProgramming),
                                                         labels: [ip], buckets: Self.networkProgrammingBuckets),
                noLocalInternal: r.makeGauge(descriptor: noLocal, labels: [ip, ("traffic_policy", "internal")]),
                noLocalExternal: r.makeGauge(descriptor: noLocal, labels: [ip, ("traffic_policy", "external")]))
            all[family] = s
            return s
        }
    }

    /// The families with series so far.
    public var families: Set<IPFamily> { perFamily.withLock { Set($0.keys) } }

    // MARK: - Inputs

    /// A sync ended (the ProxyLoop observer): its duration and the last synced timestamp under
    /// each family it programmed, as each of upstream's per-family proxiers would report its own;
    /// its operations; on failure the failure counters.
    public func syncFinished(_ r: SyncResult, at now: Double) {
        if r.conntrackDeleted > 0 { conntrackDeleted.increment(by: Int64(r.conntrackDeleted)) }
        if r.conntrackError != nil { conntrackFailures.increment() }
        if r.reap {
            // The deletion of idle drained real servers: its operations count, but it is not a sync.
            for (kind, count) in r.operations where count > 0 { operations[kind]?.increment(by: Int64(count)) }
            if r.error != nil { syncFailures.increment() }
            return
        }
        let families = r.families.isEmpty ? self.families : r.families
        for f in families.sorted() {
            let s = series(f)
            s.syncDuration.record(r.elapsed)
            if r.error == nil { s.lastSynced.set(now) }
        }
        schedulerFallbacks.set(Double(r.schedulerFallbacks.count))
        if r.prerequisiteError != nil { prerequisiteFailures.increment() }
        (r.full ? fullSyncs : partialSyncs).increment()
        for (kind, count) in r.operations where count > 0 {
            operations[kind]?.increment(by: Int64(count))
        }
        if r.error != nil {
            syncFailures.increment()
            for f in Self.iptablesFailureFamilies(r.kernelErrors, programmed: families).sorted() {
                registry.makeCounter(descriptor: Self.d(Name.iptablesRestoreFailures, Help.iptablesRestoreFailures),
                                     labels: [("ip_family", f.rawValue)]).increment()
            }
        }
    }

    /// The families whose iptables write failed: named by the error's object (`IPv4 nat`), else
    /// every family programmed (a lock or a tool that failed before naming one).
    static func iptablesFailureFamilies(_ errors: [KernelError], programmed: Set<IPFamily>) -> Set<IPFamily> {
        var out: Set<IPFamily> = []
        for e in errors where e.subsystem == .iptables {
            if let f = IPFamily.allCases.first(where: { e.object.hasPrefix($0.rawValue + " ") }) { out.insert(f) } else { out.formUnion(programmed) }
        }
        return out
    }

    /// A change was queued for the next sync, or the sync loop started (upstream synthesizes a
    /// queued change then): the last queued timestamp of every family, since the one sync that
    /// follows programs them all.
    public func changeQueued(at now: Double) {
        for f in families { series(f).lastQueued.set(now) }
    }

    /// The change counts as the loop keeps them: Service and endpoint-object changes received since
    /// start (the `_total` counters follow these totals, never going down) and those not yet
    /// applied (the `_pending` gauges). Call after every queued change and every sync.
    public func setChangeCounts(_ c: ChangeCounters) {
        let (ds, de) = reportedTotals.withLock { last -> (Int, Int) in
            let ds = max(0, c.serviceChangesTotal - last.services), de = max(0, c.endpointChangesTotal - last.endpoints)
            last = (max(last.services, c.serviceChangesTotal), max(last.endpoints, c.endpointChangesTotal))
            return (ds, de)
        }
        if ds > 0 { serviceChangesTotal.increment(by: Int64(ds)) }
        if de > 0 { endpointChangesTotal.increment(by: Int64(de)) }
        serviceChangesPending.set(Double(c.servicesPending))
        endpointChangesPending.set(Double(c.endpointsPending))
    }

    /// A sync that succeeded at `now` applied endpoint changes made at `changeTimes` (the
    /// `endpoints.kubernetes.io/last-change-trigger-time` annotation, else when they were received),
    /// by family of the changed object: one observation each of `now - time`, at least 0 (clocks
    /// of other nodes may run ahead).
    public func networkProgrammed(changeTimes: [IPFamily: [Double]], at now: Double) {
        for (f, times) in changeTimes where !times.isEmpty {
            let h = series(f).networkProgramming
            for t in times { h.record(max(0, now - t)) }
        }
    }

    /// Services with a Local internal (external) traffic policy and no local endpoint, after a
    /// sync, per family; a family without an entry has none.
    public func setNoLocalEndpoints(internal byFamilyInternal: [IPFamily: Int], external byFamilyExternal: [IPFamily: Int]) {
        for f in families.union(byFamilyInternal.keys).union(byFamilyExternal.keys) {
            let s = series(f)
            s.noLocalInternal.set(Double(byFamilyInternal[f] ?? 0))
            s.noLocalExternal.set(Double(byFamilyExternal[f] ?? 0))
        }
    }

    /// An object failed validation and was skipped; `resource` is the Diagnostic's kind
    /// (`Service`, `EndpointSlice`, `Endpoints`, `Node`).
    public func invalidObject(resource: String) {
        registry.makeCounter(descriptor: Self.d(Name.invalidObjects, Help.invalidObjects), labels: [("resource", resource)])
            .increment()
    }

    /// /healthz or /livez answered `code` (one count per answer, as upstream: no family label).
    public func healthProbe(_ probe: HealthProbe, code: Int) {
        let d = probe == .healthz ? Self.d(Name.healthzTotal, Help.healthzTotal) : Self.d(Name.livezTotal, Help.livezTotal)
        registry.makeCounter(descriptor: d, labels: [("code", String(code))]).increment()
    }

    // MARK: - Output

    /// The Prometheus text exposition (format 0.0.4): the registry, then the process metrics read now.
    public func render() -> [UInt8] {
        var out = registry.emitToBuffer()
        ProcessMetrics.read().render(into: &out)
        return out
    }

    /// The Content-Type of `render()`.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}

// MARK: - The metrics server

extension HTTPServer {
    /// kube-proxy's default metricsBindAddress port.
    public static let defaultMetricsPort = 10249

    /// The metrics server: /metrics (Prometheus text), and as upstream's, /healthz (a plain "ok"
    /// that says the process answers), /proxyMode ("ipvs") and, when `configz` is given, /configz
    /// with its body (`ProxyConfig.configzJSON()`: the effective configuration under its API group).
    public static func metricsServer(address: BindAddress, setting: String = "metricsBindAddress",
                                     metrics: ProxyMetrics, configz: (@Sendable () -> String)? = nil,
                                     logger: Logger) -> HTTPServer {
        HTTPServer(address: address, setting: setting, logger: logger) { path in
            switch path {
            case "/metrics": return HTTPResponse(contentType: ProxyMetrics.contentType, body: metrics.render())
            case "/healthz": return HTTPResponse(text: "ok")
            case "/proxyMode": return HTTPResponse(text: "ipvs")
            case "/configz":
                guard let configz else { return nil }
                return HTTPResponse(contentType: "application/json", text: configz())
            default: return nil
            }
        }
    }

    /// `metricsServer(address:...)` for the text of metricsBindAddress (a bare IP gets port 10249).
    public static func metricsServer(bind: String, setting: String = "metricsBindAddress",
                                     metrics: ProxyMetrics, configz: (@Sendable () -> String)? = nil,
                                     logger: Logger) throws -> HTTPServer {
        let address = try BindAddress.parse(bind, setting: setting, defaultPort: defaultMetricsPort)
        return metricsServer(address: address, setting: setting, metrics: metrics, configz: configz, logger: logger)
    }
}
