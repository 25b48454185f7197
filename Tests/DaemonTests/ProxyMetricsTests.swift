import XCTest
import ProxyCore
import KubeModel
@testable import Daemon
@testable import Reconciler

/// The Prometheus text after some calls, parsed line by line.
final class ProxyMetricsTests: XCTestCase {
    let t0 = 1_704_164_645.0

    func result(full: Bool, ops: [OperationKind: Int] = [:], ms: Int64 = 3, error: String? = nil) -> SyncResult {
        SyncResult(full: full, operations: ops, elapsed: .milliseconds(ms), servicesRecomputed: 1, error: error, oldestChange: nil)
    }

    func testFreshRegistryHasEveryMetricWithUpstreamTypesAndHelp() throws {
        let text = try Exposition(ProxyMetrics().render())
        let expected: [(String, String, String)] = [
            (ProxyMetrics.Name.syncDuration, "histogram", "SyncProxyRules latency in seconds"),
            (ProxyMetrics.Name.lastTimestamp, "gauge", "The last time proxy rules were successfully synced"),
            (ProxyMetrics.Name.lastQueuedTimestamp, "gauge", "The last time a sync of proxy rules was queued"),
            (ProxyMetrics.Name.networkProgramming, "histogram", "In Cluster Network Programming Latency in seconds"),
            (ProxyMetrics.Name.endpointChangesPending, "gauge", "Pending proxy rules Endpoint changes"),
            (ProxyMetrics.Name.endpointChangesTotal, "counter", "Cumulative proxy rules Endpoint changes"),
            (ProxyMetrics.Name.serviceChangesPending, "gauge", "Pending proxy rules Service changes"),
            (ProxyMetrics.Name.serviceChangesTotal, "counter", "Cumulative proxy rules Service changes"),
            (ProxyMetrics.Name.noLocalEndpoints, "gauge", "Number of services with a Local traffic policy and no endpoints"),
            (ProxyMetrics.Name.operationsApplied, "counter", ProxyMetrics.Help.operationsApplied),
            (ProxyMetrics.Name.syncs, "counter", ProxyMetrics.Help.syncs),
            (ProxyMetrics.Name.syncFailures, "counter", ProxyMetrics.Help.syncFailures),
            (ProxyMetrics.Name.conntrackDeleted, "counter", ProxyMetrics.Help.conntrackDeleted),
            (ProxyMetrics.Name.conntrackFailures, "counter", ProxyMetrics.Help.conntrackFailures),
            (ProxyMetrics.Name.schedulerFallbacks, "gauge", ProxyMetrics.Help.schedulerFallbacks),
            (ProxyMetrics.Name.prerequisiteFailures, "counter", ProxyMetrics.Help.prerequisiteFailures),
        ]
        for (name, type, help) in expected {
            XCTAssertEqual(text.types[name], type, name)
            XCTAssertEqual(text.help[name], help, name)
        }
        XCTAssertEqual(Set(text.types.keys), Set(expected.map(\.0)), "lazily created series appear only once used")
        // The spec §5 names, spelled out once more.
        for name in ["kubeproxy_sync_proxy_rules_duration_seconds", "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                     "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", "kubeproxy_network_programming_duration_seconds",
                     "kubeproxy_sync_proxy_rules_endpoint_changes_pending", "kubeproxy_sync_proxy_rules_endpoint_changes_total",
                     "kubeproxy_sync_proxy_rules_service_changes_pending", "kubeproxy_sync_proxy_rules_service_changes_total",
                     "kubeproxy_sync_proxy_rules_no_local_endpoints_total"] {
            XCTAssertNotNil(text.types[name], name)
        }
        XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["traffic_policy": "internal"]], 0)
        XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["traffic_policy": "external"]], 0)
        for kind in ["prerequisite", "link", "ipset", "iptables", "ipvs"] {
            XCTAssertEqual(text[ProxyMetrics.Name.operationsApplied, ["kind": kind]], 0, kind)
        }
        XCTAssertEqual(text[ProxyMetrics.Name.syncs, ["type": "full"]], 0)
        XCTAssertEqual(text[ProxyMetrics.Name.syncs, ["type": "partial"]], 0)
    }

    func testUpstreamBuckets() throws {
        let text = try Exposition(ProxyMetrics().render())
        let sync = text.buckets(ProxyMetrics.Name.syncDuration)
        XCTAssertEqual(sync.count, 16)  // 15 + +Inf
        XCTAssertEqual(sync.prefix(15).map(\.le), (0..<15).map { 0.001 * Double(1 << $0) })
        XCTAssertEqual(sync.first?.le, 0.001)
        XCTAssertEqual(sync[14].le, 16.384)
        XCTAssertEqual(sync.last?.le, .infinity)

        let np = text.buckets(ProxyMetrics.Name.networkProgramming).map(\.le)
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
        XCTAssertEqual(text[name + "_count"], 3, "failed syncs are timed too, as upstream")
        XCTAssertEqual(text[name + "_sum"]!, 5.023, accuracy: 1e-9)
        XCTAssertEqual(text[name + "_bucket", ["le": "0.002"]], 0)
        XCTAssertEqual(text[name + "_bucket", ["le": "0.004"]], 1)
        XCTAssertEqual(text[name + "_bucket", ["le": "0.032"]], 2)
        XCTAssertEqual(text[name + "_bucket", ["le": "4.096"]], 2)
        XCTAssertEqual(text[name + "_bucket", ["le": "8.192"]], 3)
        XCTAssertEqual(text[name + "_bucket", ["le": "+Inf"]], 3)

        XCTAssertEqual(text[ProxyMetrics.Name.lastTimestamp], t0 + 10, "a failed sync does not move it")
        XCTAssertEqual(text[ProxyMetrics.Name.syncFailures], 1)
        XCTAssertEqual(text[ProxyMetrics.Name.syncs, ["type": "full"]], 1)
        XCTAssertEqual(text[ProxyMetrics.Name.syncs, ["type": "partial"]], 2)
        XCTAssertEqual(text[ProxyMetrics.Name.operationsApplied, ["kind": "ipvs"]], 7)
        XCTAssertEqual(text[ProxyMetrics.Name.operationsApplied, ["kind": "ipset"]], 3)
        XCTAssertEqual(text[ProxyMetrics.Name.operationsApplied, ["kind": "iptables"]], 1)
        XCTAssertEqual(text[ProxyMetrics.Name.operationsApplied, ["kind": "link"]], 0)
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
        XCTAssertEqual(text[ProxyMetrics.Name.syncDuration + "_count"], 3, "a reap of drained real servers is not a sync")
        XCTAssertEqual(text[ProxyMetrics.Name.syncs, ["type": "partial"]], 2)
        XCTAssertEqual(text[ProxyMetrics.Name.lastTimestamp], t0 + 7)
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
        XCTAssertEqual(text[ProxyMetrics.Name.lastTimestamp], t0)
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
        XCTAssertEqual(text[ProxyMetrics.Name.lastQueuedTimestamp], t0 + 1.5)
        XCTAssertEqual(text[ProxyMetrics.Name.serviceChangesTotal], 4)
        XCTAssertEqual(text[ProxyMetrics.Name.endpointChangesTotal], 9)
        XCTAssertEqual(text[ProxyMetrics.Name.serviceChangesPending], 0)
        XCTAssertEqual(text[ProxyMetrics.Name.endpointChangesPending], 0)
    }

    func testNetworkProgrammingNoLocalInvalidObjectsAndProbes() throws {
        let m = ProxyMetrics()
        m.networkProgrammed(changeTimes: [t0 - 0.1, t0 - 1.5, t0 - 400, t0 + 2], at: t0)
        m.setNoLocalEndpoints(internal: 2, external: 1)
        m.invalidObject(resource: "Service")
        m.invalidObject(resource: "Service")
        m.invalidObject(resource: "EndpointSlice")
        m.healthProbe(.healthz, code: 200)
        m.healthProbe(.healthz, code: 503)
        m.healthProbe(.healthz, code: 200)
        m.healthProbe(.livez, code: 200)
        let text = try Exposition(m.render())

        let np = ProxyMetrics.Name.networkProgramming
        XCTAssertEqual(text[np + "_count"], 4)
        XCTAssertEqual(text[np + "_bucket", ["le": "0.0"]], 1, "a change time ahead of the clock counts as 0")
        XCTAssertEqual(text[np + "_bucket", ["le": "0.25"]], 2)
        XCTAssertEqual(text[np + "_bucket", ["le": "1.0"]], 2)
        XCTAssertEqual(text[np + "_bucket", ["le": "2.0"]], 3)
        XCTAssertEqual(text[np + "_bucket", ["le": "300.0"]], 3)
        XCTAssertEqual(text[np + "_bucket", ["le": "+Inf"]], 4)

        XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["traffic_policy": "internal"]], 2)
        XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["traffic_policy": "external"]], 1)
        XCTAssertEqual(text.types[ProxyMetrics.Name.invalidObjects], "counter")
        XCTAssertEqual(text[ProxyMetrics.Name.invalidObjects, ["resource": "Service"]], 2)
        XCTAssertEqual(text[ProxyMetrics.Name.invalidObjects, ["resource": "EndpointSlice"]], 1)
        XCTAssertEqual(text.types[ProxyMetrics.Name.healthzTotal], "counter")
        XCTAssertEqual(text.help[ProxyMetrics.Name.healthzTotal], "Cumulative proxy healthz HTTP status")
        XCTAssertEqual(text[ProxyMetrics.Name.healthzTotal, ["code": "200"]], 2)
        XCTAssertEqual(text[ProxyMetrics.Name.healthzTotal, ["code": "503"]], 1)
        XCTAssertEqual(text[ProxyMetrics.Name.livezTotal, ["code": "200"]], 1)
    }

    func testEveryLineIsWellFormed() throws {
        let m = ProxyMetrics()
        m.syncFinished(result(full: true, ops: [.ipvs: 1]), at: t0)
        m.invalidObject(resource: "Node")
        let raw = String(decoding: m.render(), as: UTF8.self)
        XCTAssertTrue(raw.hasSuffix("\n"))
        for line in raw.split(separator: "\n") {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") { continue }
            XCTAssertNotNil(line.range(of: #"^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+$"#, options: .regularExpression),
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

    /// The `_bucket` samples of an unlabeled histogram, in file order.
    func buckets(_ name: String) -> [(le: Double, count: Double)] {
        samples.filter { $0.name == name + "_bucket" }.map {
            (le: $0.labels["le"] == "+Inf" ? .infinity : Double($0.labels["le"]!)!, count: $0.value)
        }
    }
}
