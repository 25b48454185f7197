import AsyncHTTPClient
import Daemon
import Foundation
import KernelPort
import KubeClient
import KubeFakeAPI
import KubeModel
import Logging
import NIOCore
import ProxyCore
import Reconciler
import ServiceLifecycle
import TestSupport
import XCTest

// /metrics and /configz scraped from a running daemon (the fake API server, the real reflectors
// and loop, the in-memory kernel), and bindAddressHardFail on a busy port.

private let services = "/api/v1/services"
private let slices = "/apis/discovery.k8s.io/v1/endpointslices"
private let nodes = "/api/v1/nodes"

/// Collects log messages.
private struct CapturingLogHandler: LogHandler {
    let lines: Locked<[String]>
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        lines.mutate { $0.append("\(message)") }
    }
}

final class MetricsEndpointTests: XCTestCase {
    let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func scrape(_ port: Int, _ path: String) async throws -> (status: Int, contentType: String?, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), response.headers.first(name: "Content-Type"), String(buffer: body))
    }

    /// A dual-stack daemon: every upstream metric with its type, ip_family "IPv4" and "IPv6", the
    /// process metrics, and client-go's request metrics counting the lists and watches the fake API
    /// server answered.
    func testScrapeARunningDualStackDaemon() async throws {
        let fake = try await FakeKubeAPI.start()
        fake.setDiscoveryVersions(["v1"])
        try fake.put(services, json: KubeJSON.service().utf8Data)
        try fake.put(slices, json: KubeJSON.slice(service: "web-service", [KubeJSON.sliceEndpoint("10.244.1.2")]).utf8Data)
        try fake.put(services, json: KubeJSON.service("web6", ip: "fd00:10::80").utf8Data)
        try fake.put(slices, json: KubeJSON.slice(service: "web6", [KubeJSON.sliceEndpoint("fd00:244::2")], addressType: "IPv6").utf8Data)
        try fake.put(nodes, json: KubeJSON.node(podCIDR: "10.244.1.0/24").utf8Data)

        var config = ProxyConfig()
        config.clusterCIDRs = [CIDR("10.244.0.0/16")!, CIDR("fd00:244::/56")!]
        config.minSyncPeriod = 0
        let health = ProxyHealth(syncPeriod: config.syncPeriod)
        let metrics = ProxyMetrics(families: ProxyLoop.families(for: config))
        let synced = Locked(0)
        var hooks = DaemonHooks.reporting(to: health, metrics: metrics, config: config)
        let report = hooks.syncFinished
        hooks.syncFinished = { r, now in report(r, now); if r.error == nil { synced.mutate { $0 += 1 } } }
        var reflector = ReflectorOptions()
        reflector.backoff = Backoff(initial: 0.05, maximum: 0.2)
        let settings = DaemonSettings(config: config, nodeName: "node1", kubeConfig: KubeConfig(server: fake.url), endpointsSource: .endpointSlices)
        let daemon = ProxyDaemon(settings: settings, logger: quiet, hooks: hooks, reflectorOptions: reflector, makeKernel: { InMemoryKernel() })
        let server = HTTPServer.metricsServer(address: BindAddress(host: "127.0.0.1", port: 0), metrics: metrics, logger: quiet)
        let port = try await server.start()
        let serving = Task { try await server.run() }
        let running = Task { try await daemon.run() }
        defer { running.cancel(); serving.cancel() }

        // The first sync, and the three watches open (Services, EndpointSlices, the Node).
        try await waitFor("the first sync and the watches") { synced.value >= 1 && fake.openWatches >= 3 }
        let before = fake.requests
        let r = try await scrape(port, "/metrics")
        let after = fake.requests
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.contentType, "text/plain; version=0.0.4; charset=utf-8")
        let text = try Exposition(Array(r.body.utf8))

        let upstream: [String: String] = [
            "kubeproxy_sync_proxy_rules_duration_seconds": "histogram", "kubeproxy_sync_proxy_rules_last_timestamp_seconds": "gauge",
            "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds": "gauge", "kubeproxy_network_programming_duration_seconds": "histogram",
            "kubeproxy_sync_proxy_rules_endpoint_changes_pending": "gauge", "kubeproxy_sync_proxy_rules_endpoint_changes_total": "counter",
            "kubeproxy_sync_proxy_rules_service_changes_pending": "gauge", "kubeproxy_sync_proxy_rules_service_changes_total": "counter",
            "kubeproxy_sync_proxy_rules_no_local_endpoints_total": "gauge",
            "rest_client_requests_total": "counter", "rest_client_request_duration_seconds": "histogram",
            "process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge", "process_virtual_memory_bytes": "gauge",
            "process_virtual_memory_max_bytes": "gauge", "process_start_time_seconds": "gauge", "process_open_fds": "gauge",
            "process_max_fds": "gauge",
        ]
        for (name, type) in upstream { XCTAssertEqual(text.types[name], type, name) }

        // ip_family: both values on every series upstream labels with it.
        for name in ["kubeproxy_sync_proxy_rules_duration_seconds_count", "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                     "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", "kubeproxy_network_programming_duration_seconds_count",
                     "kubeproxy_sync_proxy_rules_no_local_endpoints_total"] {
            XCTAssertEqual(Set(text.samples.filter { $0.name == name }.compactMap { $0.labels["ip_family"] }), ["IPv4", "IPv6"], name)
        }
        for family in ["IPv4", "IPv6"] {
            XCTAssertGreaterThanOrEqual(text["kubeproxy_sync_proxy_rules_duration_seconds_count", ["ip_family": family]] ?? 0, 1, family)
            XCTAssertGreaterThan(text["kubeproxy_sync_proxy_rules_last_timestamp_seconds", ["ip_family": family]] ?? 0, 1_600_000_000, family)
            XCTAssertEqual(text["kubeproxy_network_programming_duration_seconds_count", ["ip_family": family]], 1,
                           "the one slice of \(family)")
        }
        XCTAssertEqual(text.buckets("kubeproxy_sync_proxy_rules_duration_seconds", ["ip_family": "IPv6"]).count, 16)

        // The process.
        XCTAssertGreaterThan(text["process_resident_memory_bytes"] ?? 0, 0)
        XCTAssertGreaterThanOrEqual(text["process_open_fds"] ?? 0, 3)

        // Every request the fake server answered before the scrape was counted, and no more than it received.
        let host = APIRequestEvent.host(ofServer: fake.url)
        let counted = text.samples.filter { $0.name == "rest_client_requests_total" }
        XCTAssertEqual(Set(counted.map { $0.labels["host"] }), [host])
        XCTAssertEqual(Set(counted.map { $0.labels["method"] }), ["GET"])
        let ok = text["rest_client_requests_total", ["code": "200", "host": host, "method": "GET"]] ?? 0
        let lists = before.filter { !$0.isWatch }.count
        let watches = before.filter(\.isWatch).count
        XCTAssertGreaterThanOrEqual(watches, 3)
        XCTAssertGreaterThanOrEqual(ok, Double(lists + 3), "the lists (and discovery) and the three open watches")
        XCTAssertLessThanOrEqual(counted.map(\.value).reduce(0, +), Double(after.count))
        let latencies = text["rest_client_request_duration_seconds_count", ["host": host, "verb": "GET"]] ?? 0
        XCTAssertGreaterThanOrEqual(latencies, Double(lists), "every list and discovery request, not the watches")
        XCTAssertLessThanOrEqual(latencies, Double(after.filter { !$0.isWatch }.count))

        running.cancel()
        _ = try? await running.value
        serving.cancel()
        _ = try? await serving.value
        try await fake.shutdown()
    }

    /// /configz answers upstream's body: the effective configuration under its API group.
    func testConfigz() async throws {
        var config = ProxyConfig()
        config.scheduler = "lc"
        config.metricsBindAddress = "127.0.0.1:0"
        config.bindAddressHardFail = true
        let effective = config
        let server = HTTPServer.metricsServer(address: BindAddress(host: "127.0.0.1", port: 0), metrics: ProxyMetrics(),
                                              configz: { effective.configzJSON() }, logger: quiet)
        let port = try await server.start()
        let serving = Task { try await server.run() }
        let r = try await scrape(port, "/configz")
        serving.cancel()
        _ = try? await serving.value
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.contentType, "application/json")
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any])
        XCTAssertEqual(Array(object.keys), ["kubeproxy.config.k8s.io"])
        let c = try XCTUnwrap(object["kubeproxy.config.k8s.io"] as? [String: Any])
        XCTAssertEqual(c["Mode"] as? String, "ipvs")
        XCTAssertEqual((c["IPVS"] as? [String: Any])?["Scheduler"] as? String, "lc")
        XCTAssertEqual(c["MetricsBindAddress"] as? String, "127.0.0.1:0")
        XCTAssertEqual(c["BindAddressHardFail"] as? Bool, true)
        XCTAssertEqual(c["HealthzBindAddress"] as? String, "0.0.0.0:10256")

        // Without a configuration to show, no route (404), as a server without configz installed.
        let bare = HTTPServer.metricsServer(address: BindAddress(host: "127.0.0.1", port: 0), metrics: ProxyMetrics(), logger: quiet)
        let barePort = try await bare.start()
        let bareServing = Task { try await bare.run() }
        let missing = try await scrape(barePort, "/configz")
        bareServing.cancel()
        _ = try? await bareServing.value
        XCTAssertEqual(missing.status, 404)
    }

    /// bindAddressHardFail true: a busy port ends the server's service with the bind error (the
    /// ServiceGroup then ends the daemon, and the process exits).
    func testHardFailEndsOnABusyPort() async throws {
        let blocker = HTTPServer(address: BindAddress(host: "127.0.0.1", port: 0), setting: "blocker", logger: quiet) { _ in nil }
        let port = try await blocker.start()
        let server = HTTPServer.metricsServer(address: BindAddress(host: "127.0.0.1", port: port), metrics: ProxyMetrics(), logger: quiet)
        let outcome = Locked<Result<Void, any Error>?>(nil)
        let keeper = KeepServing(server, logger: quiet, retryInterval: 0.01, hardFail: true)
        let keep = Task {
            do { try await keeper.run(); outcome.mutate { $0 = .success(()) } }
            catch { outcome.mutate { $0 = .failure(error) } }
        }
        defer { keep.cancel() }
        try await waitFor("the service to end") { outcome.value != nil }
        guard case .failure(let error) = outcome.value, let e = error as? HTTPServerError, case .bindFailed(let errno, _) = e.reason else {
            return XCTFail("expected the bind error, got \(String(describing: outcome.value))")
        }
        XCTAssertEqual(errno, EADDRINUSE)
        XCTAssertEqual(e.setting, "metricsBindAddress")
        await blocker.close()
    }

    /// bindAddressHardFail false (the default): a busy port is logged and retried until it is free.
    func testWithoutHardFailABusyPortIsRetried() async throws {
        let blocker = HTTPServer(address: BindAddress(host: "127.0.0.1", port: 0), setting: "blocker", logger: quiet) { _ in nil }
        let port = try await blocker.start()
        let lines = Locked<[String]>([])
        let logger = Logger(label: "test", factory: { _ in CapturingLogHandler(lines: lines) })
        let server = HTTPServer.metricsServer(address: BindAddress(host: "127.0.0.1", port: port), metrics: ProxyMetrics(), logger: quiet)
        let keep = Task { try await KeepServing(server, logger: logger, retryInterval: 0.01, hardFail: false).run() }
        try await waitFor("two retries") { lines.value.filter { $0.contains("retrying") }.count >= 2 }
        XCTAssertTrue(lines.value.allSatisfy { $0.contains("cannot listen on 127.0.0.1:\(port)") }, "\(lines.value)")
        await blocker.close()
        try await waitFor("the server listening once the port is free") { server.port == port }
        let r = try await scrape(port, "/healthz")
        XCTAssertEqual(r.body, "ok")
        keep.cancel()
        try await keep.value
    }
}
