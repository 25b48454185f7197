import Foundation
import XCTest
import KernelPort
import KubeClient
import ProxyCore
import KubeModel
@testable import Daemon
@testable import Reconciler

/// The Prometheus text after some calls, parsed line by line.
final class ProxyMetricsTests: XCTestCase {
    let t0 = 1_704_164_645.0
    let v4 = ["ip_family": "IPv4"]
    let v6 = ["ip_family": "IPv6"]

    func result(full: Bool, ops: [OperationKind: Int] = [:], ms: Int64 = 3, error: String? = nil,
                families: Set<IPFamily> = [.ipv4]) -> SyncResult {
        var r = SyncResult(full: full, operations: ops, elapsed: .milliseconds(ms), servicesRecomputed: 1, error: error, oldestChange: nil)
        r.families = families
        return r
    }

    /// Upstream's RegisterMetrics(ProxyModeIPVS): the metrics of every mode, plus the iptables restore
    /// failures; with component-base's "[ALPHA] " help prefix, and ip_family where upstream has it.
    func testFreshRegistryHasEveryMetricWithUpstreamTypesHelpAndLabels() throws {
        let text = try Exposition(ProxyMetrics().render())
        let expected: [(String, String, String)] = [
            ("kubeproxy_sync_proxy_rules_duration_seconds", "histogram", "[ALPHA] SyncProxyRules latency in seconds"),
            ("kubeproxy_sync_proxy_rules_last_timestamp_seconds", "gauge", "[ALPHA] The last time proxy rules were successfully synced"),
            ("kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", "gauge", "[ALPHA] The last time a sync of proxy rules was queued"),
            ("kubeproxy_network_programming_duration_seconds", "histogram", "[ALPHA] In Cluster Network Programming Latency in seconds"),
            ("kubeproxy_sync_proxy_rules_endpoint_changes_pending", "gauge", "[ALPHA] Pending proxy rules Endpoint changes"),
            ("kubeproxy_sync_proxy_rules_endpoint_changes_total", "counter", "[ALPHA] Cumulative proxy rules Endpoint changes"),
            ("kubeproxy_sync_proxy_rules_service_changes_pending", "gauge", "[ALPHA] Pending proxy rules Service changes"),
            ("kubeproxy_sync_proxy_rules_service_changes_total", "counter", "[ALPHA] Cumulative proxy rules Service changes"),
            ("kubeproxy_sync_proxy_rules_no_local_endpoints_total", "gauge", "[ALPHA] Number of services with a Local traffic policy and no endpoints"),
            (ProxyMetrics.Name.operationsApplied, "counter", ProxyMetrics.Help.operationsApplied),
            (ProxyMetrics.Name.syncs, "counter", ProxyMetrics.Help.syncs),
            (ProxyMetrics.Name.syncFailures, "counter", ProxyMetrics.Help.syncFailures),
            (ProxyMetrics.Name.conntrackDeleted, "counter", ProxyMetrics.Help.conntrackDeleted),
            (ProxyMetrics.Name.conntrackFailures, "counter", ProxyMetrics.Help.conntrackFailures),
            (ProxyMetrics.Name.schedulerFallbacks, "gauge", ProxyMetrics.Help.schedulerFallbacks),
            (ProxyMetrics.Name.prerequisiteFailures, "counter", ProxyMetrics.Help.prerequisiteFailures),
        ] + ProcessMetrics.families.map { ($0.name, $0.type, $0.help) }
        for (name, type, help) in expected {
            XCTAssertEqual(text.types[name], type, name)
            XCTAssertEqual(text.help[name], help, name)
        }
        XCTAssertEqual(Set(text.types.keys), Set(expected.map(\.0)), "lazily created series appear only once used")
        // ip_family on the series upstream labels with it, and only there.
        for name in [ProxyMetrics.Name.lastTimestamp, ProxyMetrics.Name.lastQueuedTimestamp] {
            XCTAssertEqual(text.samples.filter { $0.name == name }.map(\.labels), [v4], name)
        }
        for name in [ProxyMetrics.Name.syncDuration, ProxyMetrics.Name.networkProgramming] {
            XCTAssertEqual(text[name + "_count", v4], 0, name)
            XCTAssertEqual(Set(text.samples.filter { $0.name.hasPrefix(name) }.map { $0.labels["ip_family"] }), ["IPv4"], name)
        }
        for name in [ProxyMetrics.Name.endpointChangesPending, ProxyMetrics.Name.endpointChangesTotal,
                     ProxyMetrics.Name.serviceChangesPending, ProxyMetrics.Name.serviceChangesTotal] {
            XCTAssertEqual(text.samples.filter { $0.name == name }.map(\.labels), [[:]], name)
        }
        XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["traffic_policy": "internal", "ip_family": "IPv4"]], 0)
        XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["traffic_policy": "external", "ip_family": "IPv4"]], 0)
        for kind in ["prerequisite", "link", "ipset", "iptables", "ipvs"] {
            XCTAssertEqual(text[ProxyMetrics.Name.operationsApplied, ["kind": kind]], 0, kind)
        }
        XCTAssertEqual(text[ProxyMetrics.Name.syncs, ["type": "full"]], 0)
        XCTAssertEqual(text[ProxyMetrics.Name.syncs, ["type": "partial"]], 0)
    }

    func testUpstreamBuckets() throws {
        let text = try Exposition(ProxyMetrics().render())
        let sync = text.buckets(ProxyMetrics.Name.syncDuration, v4)
        XCTAssertEqual(sync.count, 16)  // 15 + +Inf
        XCTAssertEqual(sync.prefix(15).map(\.le), (0..<15).map { 0.001 * Double(1 << $0) })
        XCTAssertEqual(sync.first?.le, 0.001)
        XCTAssertEqual(sync[14].le, 16.384)
        XCTAssertEqual(sync.last?.le, .infinity)

        let np = text.buckets(ProxyMetrics.Name.networkProgramming, v4).map(\.le)
        XCTAssertEqual(np.count, 82)  // 0, 2 + 59 + 12 + 7, +Inf
        XCTAssertEqual(Array(np.prefix(5)), [0, 0.25, 0.5, 1, 2])
        XCTAssertEqual(np[61], 59)
        XCTAssertEqual(Array(np[62...73]), stride(from: 60.0, through: 115, by: 5).map { $0 })
        XCTAssertEqual(Array(np[74...80]), stride(from: 120.0, through: 300, by: 30).map { $0 })
        XCTAssertEqual(np.last, .infinity)
    }

    func testSyncsOperationsFailuresAndTimestamps() throws {
        let m = ProxyMetrics()
        m.syncFinished(result(full: true, ops: [.ipvs: 5, .ipset: 3, .iptables: 1], ms: 3), at: t0)
        m.syncFinished(result(full: false, ops: [.ipvs: 2], ms: 20), at: t0 + 10)
        m.syncFinished(result(full: false, ms: 5000, error: "netlink: EPERM"), at: t0 + 20)
        let text = try Exposition(m.render())
        let name = ProxyMetrics.Name.syncDuration
        XCTAssertEqual(text[name + "_count", v4], 3, "failed syncs are timed too, as upstream")
        XCTAssertEqual(text[name + "_sum", v4]!, 5.023, accuracy: 1e-9)
        XCTAssertEqual(text[name + "_bucket", ["ip_family": "IPv4", "le": "0.002"]], 0)
        XCTAssertEqual(text[name + "_bucket", ["ip_family": "IPv4", "le": "0.004"]], 1)
        XCTAssertEqual(text[name + "_bucket", ["ip_family": "IPv4", "le": "0.032"]], 2)
        XCTAssertEqual(text[name + "_bucket", ["ip_family": "IPv4", "le": "4.096"]], 2)
        XCTAssertEqual(text[name + "_bucket", ["ip_family": "IPv4", "le": "8.192"]], 3)
        XCTAssertEqual(text[name + "_bucket", ["ip_family": "IPv4", "le": "+Inf"]], 3)

        XCTAssertEqual(text[ProxyMetrics.Name.lastTimestamp, v4], t0 + 10, "a failed sync does not move it")
        XCTAssertEqual(text[ProxyMetrics.Name.syncFailures], 1)
        XCTAssertNil(text.types[ProxyMetrics.Name.iptablesRestoreFailures], "not an iptables failure")
        XCTAssertEqual(text[ProxyMetrics.Name.syncs, ["type": "full"]], 1)
        XCTAssertEqual(text[ProxyMetrics.Name.syncs, ["type": "partial"]], 2)
        XCTAssertEqual(text[ProxyMetrics.Name.operationsApplied, ["kind": "ipvs"]], 7)
        XCTAssertEqual(text[ProxyMetrics.Name.operationsApplied, ["kind": "ipset"]], 3)
        XCTAssertEqual(text[ProxyMetrics.Name.operationsApplied, ["kind": "iptables"]], 1)
        XCTAssertEqual(text[ProxyMetrics.Name.operationsApplied, ["kind": "link"]], 0)
    }

    /// A dual-stack node: every series upstream labels with ip_family exists for both families, a
    /// sync counts under each family it programmed, endpoint changes and Services without local
    /// endpoints under their own family, iptables failures under the family of the failed table.
    func testIPFamilyLabelsOnADualStackNode() throws {
        let m = ProxyMetrics(families: [.ipv4, .ipv6])
        m.changeQueued(at: t0 - 1)
        m.syncFinished(result(full: true, ms: 3, families: [.ipv4, .ipv6]), at: t0)
        m.networkProgrammed(changeTimes: [.ipv4: [t0 - 0.1], .ipv6: [t0 - 2.5, t0 - 100]], at: t0)
        m.setNoLocalEndpoints(internal: [.ipv6: 2], external: [.ipv4: 1])
        var failed = result(full: false, ms: 1, error: "2 kernel operation(s) failed", families: [.ipv4, .ipv6])
        failed.kernelErrors = [KernelError(subsystem: .iptables, operation: "ip6tables-restore", object: "IPv6 nat"),
                               KernelError(subsystem: .ipvs, operation: "IPVS_CMD_NEW_DEST")]
        m.syncFinished(failed, at: t0 + 1)
        let text = try Exposition(m.render())
        for (labels, programmed) in [(v4, 1.0), (v6, 2.0)] {
            XCTAssertEqual(text[ProxyMetrics.Name.syncDuration + "_count", labels], 2)
            XCTAssertEqual(text[ProxyMetrics.Name.lastTimestamp, labels], t0)
            XCTAssertEqual(text[ProxyMetrics.Name.lastQueuedTimestamp, labels], t0 - 1)
            XCTAssertEqual(text[ProxyMetrics.Name.networkProgramming + "_count", labels], programmed)
        }
        XCTAssertEqual(Set(text.samples.filter { $0.name == ProxyMetrics.Name.lastTimestamp }.compactMap { $0.labels["ip_family"] }),
                       ["IPv4", "IPv6"])
        XCTAssertEqual(text[ProxyMetrics.Name.networkProgramming + "_bucket", ["ip_family": "IPv6", "le": "3.0"]], 1)
        let noLocal = ProxyMetrics.Name.noLocalEndpoints
        XCTAssertEqual(text[noLocal, ["ip_family": "IPv4", "traffic_policy": "internal"]], 0)
        XCTAssertEqual(text[noLocal, ["ip_family": "IPv6", "traffic_policy": "internal"]], 2)
        XCTAssertEqual(text[noLocal, ["ip_family": "IPv4", "traffic_policy": "external"]], 1)
        XCTAssertEqual(text[noLocal, ["ip_family": "IPv6", "traffic_policy": "external"]], 0)
        XCTAssertEqual(text.types[ProxyMetrics.Name.iptablesRestoreFailures], "counter")
        XCTAssertEqual(text.help[ProxyMetrics.Name.iptablesRestoreFailures], "[ALPHA] Cumulative proxy iptables restore failures")
        XCTAssertEqual(text[ProxyMetrics.Name.iptablesRestoreFailures, v6], 1)
        XCTAssertNil(text[ProxyMetrics.Name.iptablesRestoreFailures, v4])
    }

    /// An iptables error that names no table (the xtables lock) counts for every family programmed.
    func testIPTablesFailureWithoutAFamily() {
        let lock = KernelError(subsystem: .iptables, operation: "flock", object: "/run/xtables.lock")
        XCTAssertEqual(ProxyMetrics.iptablesFailureFamilies([lock], programmed: [.ipv4, .ipv6]), [.ipv4, .ipv6])
        XCTAssertEqual(ProxyMetrics.iptablesFailureFamilies([KernelError(subsystem: .ipset, operation: "add")], programmed: [.ipv4]), [])
    }

    /// A family first seen in a sync (the first IPv6 Service) gets its series then.
    func testAFamilyAddedLater() throws {
        let m = ProxyMetrics()
        XCTAssertNil(try Exposition(m.render())[ProxyMetrics.Name.lastTimestamp, v6])
        m.syncFinished(result(full: true, families: [.ipv4, .ipv6]), at: t0)
        XCTAssertEqual(try Exposition(m.render())[ProxyMetrics.Name.lastTimestamp, v6], t0)
    }

    func testReapsAndConntrackCleanups() throws {
        let m = ProxyMetrics()
        m.syncFinished(result(full: true, ops: [.ipvs: 2], ms: 3), at: t0)
        var reap = result(full: false, ops: [.ipvs: 1], ms: 1)
        reap.reap = true
        m.syncFinished(reap, at: t0 + 5)
        var udp = result(full: false, ops: [.ipvs: 1], ms: 2)
        udp.conntrackDeleted = 4
        m.syncFinished(udp, at: t0 + 6)
        var broken = result(full: false, ops: [.ipvs: 1], ms: 2)
        broken.conntrackError = "ctnetlink: EPERM"
        m.syncFinished(broken, at: t0 + 7)
        let text = try Exposition(m.render())
        XCTAssertEqual(text[ProxyMetrics.Name.syncDuration + "_count", v4], 3, "a reap of drained real servers is not a sync")
        XCTAssertEqual(text[ProxyMetrics.Name.syncs, ["type": "partial"]], 2)
        XCTAssertEqual(text[ProxyMetrics.Name.lastTimestamp, v4], t0 + 7)
        XCTAssertEqual(text[ProxyMetrics.Name.operationsApplied, ["kind": "ipvs"]], 5, "its operations count")
        XCTAssertEqual(text[ProxyMetrics.Name.conntrackDeleted], 4)
        XCTAssertEqual(text[ProxyMetrics.Name.conntrackFailures], 1)
        XCTAssertEqual(text[ProxyMetrics.Name.syncFailures], 0, "a conntrack failure is not a sync failure")
    }

    /// Services served with a fallback scheduler, as the last sync counted them.
    func testSchedulerFallbacks() throws {
        let m = ProxyMetrics()
        XCTAssertEqual(try Exposition(m.render())[ProxyMetrics.Name.schedulerFallbacks], 0)
        var r = result(full: true, ms: 1)
        r.schedulerFallbacks = [ObjectRef(namespace: "a", name: "b"): SchedulerFallback(wanted: "twos", used: "rr"),
                                ObjectRef(namespace: "a", name: "c"): SchedulerFallback(wanted: "twos", used: "rr")]
        m.syncFinished(r, at: t0)
        XCTAssertEqual(try Exposition(m.render())[ProxyMetrics.Name.schedulerFallbacks], 2)
        m.syncFinished(result(full: false, ms: 1), at: t0 + 1)
        XCTAssertEqual(try Exposition(m.render())[ProxyMetrics.Name.schedulerFallbacks], 0)
    }

    /// A sysctl or module that could not be set is counted, and is not a failed sync.
    func testPrerequisiteFailures() throws {
        let m = ProxyMetrics()
        var r = result(full: true, ms: 1)
        r.prerequisiteError = "sysctl open net.ipv6.conf.all.forwarding: ENOENT"
        m.syncFinished(r, at: t0)
        let text = try Exposition(m.render())
        XCTAssertEqual(text[ProxyMetrics.Name.prerequisiteFailures], 1)
        XCTAssertEqual(text[ProxyMetrics.Name.syncFailures], 0)
        XCTAssertEqual(text[ProxyMetrics.Name.lastTimestamp, v4], t0)
    }

    func counts(services: Int, endpoints: Int, servicesPending: Int, endpointsPending: Int) -> ChangeCounters {
        ChangeCounters(serviceChangesTotal: services, endpointChangesTotal: endpoints, servicesPending: servicesPending,
                       endpointsPending: endpointsPending)
    }

    func testChangeCountsFollowTotalsAndPending() throws {
        let m = ProxyMetrics()
        m.changeQueued(at: t0)
        m.setChangeCounts(counts(services: 3, endpoints: 5, servicesPending: 2, endpointsPending: 4))
        m.changeQueued(at: t0 + 1.5)
        m.setChangeCounts(counts(services: 4, endpoints: 5, servicesPending: 3, endpointsPending: 4))
        m.setChangeCounts(counts(services: 4, endpoints: 9, servicesPending: 0, endpointsPending: 0))
        m.setChangeCounts(counts(services: 2, endpoints: 1, servicesPending: 0, endpointsPending: 0))  // never backwards
        let text = try Exposition(m.render())
        XCTAssertEqual(text[ProxyMetrics.Name.lastQueuedTimestamp, v4], t0 + 1.5)
        XCTAssertEqual(text[ProxyMetrics.Name.serviceChangesTotal], 4)
        XCTAssertEqual(text[ProxyMetrics.Name.endpointChangesTotal], 9)
        XCTAssertEqual(text[ProxyMetrics.Name.serviceChangesPending], 0)
        XCTAssertEqual(text[ProxyMetrics.Name.endpointChangesPending], 0)
    }

    func testNetworkProgrammingNoLocalInvalidObjectsAndProbes() throws {
        let m = ProxyMetrics()
        m.networkProgrammed(changeTimes: [.ipv4: [t0 - 0.1, t0 - 1.5, t0 - 400, t0 + 2]], at: t0)
        m.setNoLocalEndpoints(internal: [.ipv4: 2], external: [.ipv4: 1])
        m.invalidObject(resource: "Service")
        m.invalidObject(resource: "Service")
        m.invalidObject(resource: "EndpointSlice")
        m.healthProbe(.healthz, code: 200)
        m.healthProbe(.healthz, code: 503)
        m.healthProbe(.healthz, code: 200)
        m.healthProbe(.livez, code: 200)
        let text = try Exposition(m.render())

        let np = ProxyMetrics.Name.networkProgramming
        XCTAssertEqual(text[np + "_count", v4], 4)
        XCTAssertEqual(text[np + "_bucket", ["ip_family": "IPv4", "le": "0.0"]], 1, "a change time ahead of the clock counts as 0")
        XCTAssertEqual(text[np + "_bucket", ["ip_family": "IPv4", "le": "0.25"]], 2)
        XCTAssertEqual(text[np + "_bucket", ["ip_family": "IPv4", "le": "1.0"]], 2)
        XCTAssertEqual(text[np + "_bucket", ["ip_family": "IPv4", "le": "2.0"]], 3)
        XCTAssertEqual(text[np + "_bucket", ["ip_family": "IPv4", "le": "300.0"]], 3)
        XCTAssertEqual(text[np + "_bucket", ["ip_family": "IPv4", "le": "+Inf"]], 4)

        XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["ip_family": "IPv4", "traffic_policy": "internal"]], 2)
        XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["ip_family": "IPv4", "traffic_policy": "external"]], 1)
        XCTAssertEqual(text.types[ProxyMetrics.Name.invalidObjects], "counter")
        XCTAssertEqual(text[ProxyMetrics.Name.invalidObjects, ["resource": "Service"]], 2)
        XCTAssertEqual(text[ProxyMetrics.Name.invalidObjects, ["resource": "EndpointSlice"]], 1)
        XCTAssertEqual(text.types[ProxyMetrics.Name.healthzTotal], "counter")
        XCTAssertEqual(text.help[ProxyMetrics.Name.healthzTotal], "[ALPHA] Cumulative proxy healthz HTTP status")
        XCTAssertEqual(text.help[ProxyMetrics.Name.livezTotal], "[ALPHA] Cumulative proxy livez HTTP status")
        XCTAssertEqual(text[ProxyMetrics.Name.healthzTotal, ["code": "200"]], 2)
        XCTAssertEqual(text[ProxyMetrics.Name.healthzTotal, ["code": "503"]], 1)
        XCTAssertEqual(text[ProxyMetrics.Name.livezTotal, ["code": "200"]], 1)
    }

    /// client-go's request metrics: one count per attempt by code (`<error>` before any response),
    /// latency of finished requests in client-go's buckets.
    func testRestClientMetrics() throws {
        let m = ProxyMetrics()
        XCTAssertNil(try Exposition(m.render()).types[RestClientMetrics.Name.requests], "absent until the first request")
        let host = "10.0.0.1:6443"
        for code in [200, 200, 410, nil] as [Int?] { m.restClient.observe(APIRequestEvent(verb: "GET", host: host, kind: .result(code: code))) }
        m.restClient.observe(APIRequestEvent(verb: "GET", host: host, kind: .latency(seconds: 0.02)))
        m.restClient.observe(APIRequestEvent(verb: "GET", host: host, kind: .latency(seconds: 3)))
        let text = try Exposition(m.render())
        let r = RestClientMetrics.Name.requests, d = RestClientMetrics.Name.duration
        XCTAssertEqual(text.types[r], "counter")
        XCTAssertEqual(text.help[r], "[ALPHA] Number of HTTP requests, partitioned by status code, method, and host.")
        XCTAssertEqual(text[r, ["code": "200", "host": host, "method": "GET"]], 2)
        XCTAssertEqual(text[r, ["code": "410", "host": host, "method": "GET"]], 1)
        XCTAssertEqual(text[r, ["code": "<error>", "host": host, "method": "GET"]], 1)
        XCTAssertEqual(text.types[d], "histogram")
        XCTAssertEqual(text.help[d], "[ALPHA] Request latency in seconds. Broken down by verb, and host.")
        let labels = ["host": host, "verb": "GET"]
        XCTAssertEqual(text.buckets(d, labels).map(\.le), [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, .infinity])
        XCTAssertEqual(text[d + "_count", labels], 2)
        XCTAssertEqual(text[d + "_bucket", labels.merging(["le": "0.025"]) { a, _ in a }], 1)
        XCTAssertEqual(text[d + "_bucket", labels.merging(["le": "4.0"]) { a, _ in a }], 2)
    }

    /// client_golang's process collector, read from /proc: present and plausible.
    func testProcessMetrics() throws {
        let p = ProcessMetrics.read()
        XCTAssertGreaterThan(p.residentMemoryBytes ?? 0, 0)
        XCTAssertGreaterThanOrEqual(p.openFDs ?? 0, 3)
        XCTAssertGreaterThanOrEqual(p.maxFDs ?? 0, p.openFDs ?? .infinity)
        XCTAssertGreaterThanOrEqual(p.virtualMemoryBytes ?? 0, p.residentMemoryBytes ?? .infinity)
        XCTAssertGreaterThan(p.virtualMemoryMaxBytes ?? 0, 0)
        XCTAssertGreaterThanOrEqual(p.cpuSeconds ?? -1, 0)
        let start = try XCTUnwrap(p.startTimeSeconds)
        XCTAssertGreaterThan(start, 1_600_000_000)
        XCTAssertLessThanOrEqual(start, Date().timeIntervalSince1970 + 1)
        let text = try Exposition(ProxyMetrics().render())
        for f in ProcessMetrics.families { XCTAssertNotNil(text[f.name], f.name) }
        // The first sync's log fields: time since the start, anonymous memory and its peak.
        let since = try XCTUnwrap(ProcessMetrics.secondsSinceStart())
        XCTAssertGreaterThanOrEqual(since, 0)
        XCTAssertLessThan(since, 24 * 3600)
        let anon = try XCTUnwrap(ProcessMetrics.statusKiB("RssAnon"))
        XCTAssertGreaterThan(anon, 0)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(ProcessMetrics.statusKiB("VmHWM")), anon)
        XCTAssertNil(ProcessMetrics.statusKiB("NoSuchRow"))
    }

    /// The daemon's malloc settings step aside when the operator tunes malloc through glibc's
    /// own variable; other tunables (or none) leave them on.
    func testMallocTuningYieldsToTheOperatorsTunables() {
        XCTAssertTrue(MallocTuning.appliesOwnSettings(environment: [:]))
        XCTAssertTrue(MallocTuning.appliesOwnSettings(environment: ["GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=512"]))
        XCTAssertFalse(MallocTuning.appliesOwnSettings(environment: ["GLIBC_TUNABLES": "glibc.malloc.arena_max=4"]))
        XCTAssertFalse(MallocTuning.appliesOwnSettings(environment: ["GLIBC_TUNABLES": "glibc.rtld.x=1:glibc.malloc.mmap_threshold=131072"]))
    }

    /// The stat line's command may hold spaces and parentheses; limits read as Go's procfs does.
    func testProcParsing() {
        let stat = "42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 123456789 2048 18446744073709551615"
        let f = ProcessMetrics.statFields(stat)
        XCTAssertEqual(f?[0], "S")
        XCTAssertEqual(f?[11], "250")
        XCTAssertEqual(f?[21], "2048")
        let limits = """
        Limit                     Soft Limit           Hard Limit           Units
        Max address space         unlimited            unlimited            bytes
        Max open files            1024                 524288               files
        """
        XCTAssertEqual(ProcessMetrics.softLimit(limits, "Max open files"), 1024)
        XCTAssertEqual(ProcessMetrics.softLimit(limits, "Max address space"), 18446744073709551615)
    }

    /// Numbers as Go's text format writes them.
    func testGoFloatFormat() {
        XCTAssertEqual(ProcessMetrics.goFloat(125), "125")
        XCTAssertEqual(ProcessMetrics.goFloat(0), "0")
        XCTAssertEqual(ProcessMetrics.goFloat(0.27), "0.27")
        XCTAssertEqual(ProcessMetrics.goFloat(1_234_567), "1.234567e+06")
        XCTAssertEqual(ProcessMetrics.goFloat(24_576_000), "2.4576e+07")
        XCTAssertEqual(ProcessMetrics.goFloat(1_704_164_645.12), "1.70416464512e+09")
        XCTAssertEqual(ProcessMetrics.goFloat(18446744073709551615), "1.8446744073709552e+19")
        XCTAssertEqual(ProcessMetrics.goFloat(0.00005), "5e-05")
        XCTAssertEqual(ProcessMetrics.goFloat(100_000), "100000")
    }

    func testEveryLineIsWellFormed() throws {
        let m = ProxyMetrics(families: [.ipv4, .ipv6])
        m.syncFinished(result(full: true, ops: [.ipvs: 1]), at: t0)
        m.invalidObject(resource: "Node")
        m.restClient.observe(APIRequestEvent(verb: "GET", host: "[::1]:6443", kind: .result(code: nil)))
        let raw = String(decoding: m.render(), as: UTF8.self)
        XCTAssertTrue(raw.hasSuffix("\n"))
        for line in raw.split(separator: "\n") {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") { continue }
            XCTAssertNotNil(line.range(of: #"^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+]?[0-9.e+-]+$"#, options: .regularExpression),
                            String(line))
        }
    }
}

// MARK: - A small parser of the Prometheus text format, enough for these tests

struct Exposition {
    var types: [String: String] = [:]
    var help: [String: String] = [:]
    /// Samples in file order: name, labels, value.
    var samples: [(name: String, labels: [String: String], value: Double)] = []

    struct Malformed: Error { var line: String }

    init(_ bytes: [UInt8]) throws {
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init) {
            if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1).map(String.init)
                guard parts.count == 2, types[parts[0]] == nil else { throw Malformed(line: line) }
                types[parts[0]] = parts[1]
            } else if line.hasPrefix("# HELP ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw Malformed(line: line) }
                help[parts[0]] = parts[1]
            } else {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                    throw Malformed(line: line)
                }
                let series = line[..<space]
                var labels: [String: String] = [:]
                var name = String(series)
                if let open = series.firstIndex(of: "{") {
                    guard series.hasSuffix("}") else { throw Malformed(line: line) }
                    name = String(series[..<open])
                    let inner = series[series.index(after: open)..<series.index(before: series.endIndex)]
                    for pair in inner.split(separator: ",") {
                        let kv = pair.split(separator: "=", maxSplits: 1)
                        guard kv.count == 2, kv[1].hasPrefix("\""), kv[1].hasSuffix("\"") else { throw Malformed(line: line) }
                        labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
                    }
                }
                samples.append((name, labels, value))
            }
        }
    }

    subscript(name: String, labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The `_bucket` samples of a histogram's series with `labels`, in file order.
    func buckets(_ name: String, _ labels: [String: String] = [:]) -> [(le: Double, count: Double)] {
        samples.filter { $0.name == name + "_bucket" && $0.labels.filter { $0.key != "le" } == labels }.map {
            (le: $0.labels["le"] == "+Inf" ? .infinity : Double($0.labels["le"]!)!, count: $0.value)
        }
    }
}
