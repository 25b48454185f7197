import AsyncHTTPClient
import Foundation
import KubeModel
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ProxyCore
@testable import Reconciler
import TestSupport
import XCTest
@testable import Daemon

/// Health-check node ports on real sockets (127.0.0.1, free ports), queried with AsyncHTTPClient.
final class ServiceHealthServersTests: XCTestCase {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    let t0 = 1_704_164_645.0
    let front = ObjectRef(namespace: "shop", name: "front")
    let back = ObjectRef(namespace: "shop", name: "back")
    let loopback = ["127.0.0.1"]

    /// A port nothing listens on now (bound to port 0, then closed).
    func freePort() async throws -> UInt16 {
        let s = HTTPServer(address: BindAddress(host: "127.0.0.1", port: 0), setting: "probe", logger: logger) { _ in nil }
        let p = try await s.start()
        await s.close()
        return UInt16(p)
    }

    struct Reply { var status: Int; var headers: HTTPHeaders; var body: String }

    func fetch(_ port: UInt16, _ path: String = "/") async throws -> Reply {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: body))
    }

    /// Whether something accepts connections on `port`.
    func accepts(_ port: UInt16) async -> Bool {
        do {
            let ch = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: Int(port)).get()
            try? await ch.close()
            return true
        } catch {
            return false
        }
    }

    func listening(_ s: ServiceHealthServers, _ ref: ObjectRef) -> Bool {
        if case .listening = s.listenerStates[ref] { return true }
        return false
    }

    func body(_ ns: String, _ name: String, _ n: Int, _ healthy: Bool) -> String {
        "{\n\t\"service\": {\n\t\t\"namespace\": \"\(ns)\",\n\t\t\"name\": \"\(name)\"\n\t},\n\t\"localEndpoints\": \(n),\n\t\"serviceProxyHealthy\": \(healthy)\n}"
    }

    // MARK: - Answers

    func testAnswers200And503WithUpstreamsBodyAndHeaders() async throws {
        let health = ProxyHealth(syncPeriod: 30)
        let clock = TestClock(t0)
        let servers = ServiceHealthServers(logger: logger, health: health, now: { clock.now })
        defer { Task { await servers.stop() } }
        let port = try await freePort()
        servers.update([front: HealthCheckNodePort(port: port, localEndpoints: 2)], hosts: loopback)
        try await waitFor("listening") { listening(servers, front) }

        var r = try await fetch(port, "/any/path?x=1")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body, body("shop", "front", 2, true))
        XCTAssertEqual(r.headers.first(name: "Content-Type"), "application/json")
        XCTAssertEqual(r.headers.first(name: "X-Content-Type-Options"), "nosniff")
        XCTAssertEqual(r.headers.first(name: "X-Load-Balancing-Endpoint-Weight"), "2")

        // No local endpoint: 503, same listener.
        servers.update([front: HealthCheckNodePort(port: port, localEndpoints: 0)], hosts: loopback)
        r = try await fetch(port)
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.body, body("shop", "front", 0, true))
        XCTAssertEqual(r.headers.first(name: "X-Load-Balancing-Endpoint-Weight"), "0")

        // Local endpoints but an unhealthy proxy (a change waiting longer than 2 x syncPeriod): 503.
        servers.update([front: HealthCheckNodePort(port: port, localEndpoints: 3)], hosts: loopback)
        health.updated(at: t0)
        health.queuedUpdate(at: t0 + 1)
        clock.now = t0 + 62
        r = try await fetch(port)
        XCTAssertEqual(r.status, 503)
        XCTAssertEqual(r.body, body("shop", "front", 3, false))
        XCTAssertEqual(r.headers.first(name: "X-Load-Balancing-Endpoint-Weight"), "3")
        health.updated(at: t0 + 62)
        r = try await fetch(port)
        XCTAssertEqual(r.status, 200)
    }

    func testBodyEscapesLikeJSON() {
        XCTAssertEqual(ServiceHealthServers.body(ObjectRef(namespace: "a\"b", name: "c\\d"), localEndpoints: 1, healthy: true),
                       "{\n\t\"service\": {\n\t\t\"namespace\": \"a\\\"b\",\n\t\t\"name\": \"c\\\\d\"\n\t},\n\t\"localEndpoints\": 1,\n\t\"serviceProxyHealthy\": true\n}")
    }

    // MARK: - Start and stop

    func testListenersFollowServicesAndPorts() async throws {
        let servers = ServiceHealthServers(logger: logger, health: ProxyHealth(syncPeriod: 30))
        defer { Task { await servers.stop() } }
        let p1 = try await freePort(), p2 = try await freePort(), p3 = try await freePort()

        servers.update([front: HealthCheckNodePort(port: p1, localEndpoints: 1), back: HealthCheckNodePort(port: p2, localEndpoints: 0)], hosts: loopback)
        try await waitFor("both listening") { listening(servers, front) && listening(servers, back) }
        do { let got = try await fetch(p1).status; XCTAssertEqual(got, 200) }
        do { let got = try await fetch(p2).body; XCTAssertEqual(got, body("shop", "back", 0, true)) }

        // back goes away: its port closes; front is left alone.
        servers.update([front: HealthCheckNodePort(port: p1, localEndpoints: 1)], hosts: loopback)
        try await waitFor("back's port closed") { !(await accepts(p2)) }
        XCTAssertNil(servers.listenerStates[back])
        do { let got = try await fetch(p1).status; XCTAssertEqual(got, 200) }

        // front's port changes: the old one closes, the new one answers.
        servers.update([front: HealthCheckNodePort(port: p3, localEndpoints: 1)], hosts: loopback)
        try await waitFor("front on its new port") { if !listening(servers, front) { return false }; return await accepts(p3) }
        try await waitFor("front's old port closed") { !(await accepts(p1)) }
        do { let got = try await fetch(p3).body; XCTAssertEqual(got, body("shop", "front", 1, true)) }

        // Nothing left: every port closes.
        servers.update([:], hosts: loopback)
        try await waitFor("all closed") { !(await accepts(p3)) }
        XCTAssertTrue(servers.listenerStates.isEmpty)

        // stop() closes everything and ignores later updates.
        servers.update([back: HealthCheckNodePort(port: p2, localEndpoints: 1)], hosts: loopback)
        try await waitFor("back again") { listening(servers, back) }
        await servers.stop()
        do { let open = await accepts(p2); XCTAssertFalse(open) }
        servers.update([back: HealthCheckNodePort(port: p2, localEndpoints: 1)], hosts: loopback)
        try await Task.sleep(nanoseconds: 100_000_000)
        do { let open = await accepts(p2); XCTAssertFalse(open) }
    }

    /// A busy port is reported with the Service's name and retried until it is free; the other
    /// Services are served meanwhile.
    func testBusyPortIsRetried() async throws {
        let servers = ServiceHealthServers(logger: logger, health: ProxyHealth(syncPeriod: 30), retryInterval: 0.1)
        defer { Task { await servers.stop() } }
        let blocker = HTTPServer(address: BindAddress(host: "127.0.0.1", port: 0), setting: "blocker", logger: logger) { _ in nil }
        let busy = UInt16(try await blocker.start())
        let free = try await freePort()

        servers.update([front: HealthCheckNodePort(port: busy, localEndpoints: 1), back: HealthCheckNodePort(port: free, localEndpoints: 1)], hosts: loopback)
        try await waitFor("the bind failure reported") {
            if case .retrying = servers.listenerStates[front] { return true }
            return false
        }
        guard case .retrying(let message) = servers.listenerStates[front] else { return XCTFail() }
        XCTAssertEqual(message, "healthCheckNodePort of Service shop/front: cannot listen on 127.0.0.1:\(busy): address already in use (errno \(EADDRINUSE))")
        try await waitFor("back served meanwhile") { listening(servers, back) }
        do { let got = try await fetch(free).status; XCTAssertEqual(got, 200) }

        await blocker.close()
        try await waitFor("front bound after the retry") { listening(servers, front) }
        do { let got = try await fetch(busy).body; XCTAssertEqual(got, body("shop", "front", 1, true)) }
    }

    /// Listen addresses: every address by default; the NodePort addresses with nodePortAddresses set.
    func testHosts() {
        let selection = NodeAddressSelection(nodePortAddresses: [IPAddress("10.0.0.5")!, IPAddress("fd00::5")!])
        XCTAssertEqual(ServiceHealthServers.hosts(config: ProxyConfig(), nodeAddresses: selection), [""])
        var c = ProxyConfig(); c.nodePortAddresses = ["10.0.0.0/8"]
        XCTAssertEqual(ServiceHealthServers.hosts(config: c, nodeAddresses: selection), ["10.0.0.5", "fd00::5"])
        c.nodePortAddresses = ["primary"]
        XCTAssertEqual(ServiceHealthServers.hosts(config: c, nodeAddresses: NodeAddressSelection()), [])
    }

    /// New listen addresses restart the listeners on them.
    func testHostsChangeRestartsListeners() async throws {
        let servers = ServiceHealthServers(logger: logger, health: ProxyHealth(syncPeriod: 30))
        defer { Task { await servers.stop() } }
        let port = try await freePort()
        servers.update([front: HealthCheckNodePort(port: port, localEndpoints: 1)], hosts: [])
        try await waitFor("registered without an address") { servers.listenerStates[front] == .listening([]) }
        do { let open = await accepts(port); XCTAssertFalse(open) }
        servers.update([front: HealthCheckNodePort(port: port, localEndpoints: 1)], hosts: loopback)
        try await waitFor("listening on 127.0.0.1") { servers.listenerStates[front] == .listening([Int(port)]) }
        do { let got = try await fetch(port).status; XCTAssertEqual(got, 200) }
    }

    // MARK: - Wiring: the sync hook feeds the listeners and the metric

    func testSyncHookFeedsHealthChecksAndNoLocalMetric() async throws {
        let metrics = ProxyMetrics()
        let health = ProxyHealth(syncPeriod: 30)
        let servers = ServiceHealthServers(logger: logger, health: health)
        defer { Task { await servers.stop() } }
        var config = ProxyConfig(); config.nodePortAddresses = ["127.0.0.0/8"]
        let hooks = DaemonHooks.reporting(to: health, metrics: metrics, healthChecks: servers, config: config)
        let port = try await freePort()

        var r = SyncResult(full: true, operations: [:], elapsed: .milliseconds(1), servicesRecomputed: 2, error: nil, oldestChange: nil)
        r.nodeAddresses = NodeAddressSelection(nodePortAddresses: [IPAddress("127.0.0.1")!])
        r.localEndpoints = LocalEndpointSummary(noLocalInternal: 2, noLocalExternal: 1,
                                                healthChecks: [front: HealthCheckNodePort(port: port, localEndpoints: 4)],
                                                noLocalInternalByFamily: [.ipv4: 2], noLocalExternalByFamily: [.ipv4: 1])
        hooks.syncFinished(r, t0)
        let text = try Exposition(metrics.render())
        XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["ip_family": "IPv4", "traffic_policy": "internal"]], 2)
        XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["ip_family": "IPv4", "traffic_policy": "external"]], 1)
        try await waitFor("listening on the NodePort address") { servers.listenerStates[front] == .listening([Int(port)]) }
        do { let got = try await fetch(port).headers.first(name: "X-Load-Balancing-Endpoint-Weight"); XCTAssertEqual(got, "4") }

        // The next sync: no more Local Services.
        r.localEndpoints = LocalEndpointSummary()
        hooks.syncFinished(r, t0 + 1)
        let after = try Exposition(metrics.render())
        XCTAssertEqual(after[ProxyMetrics.Name.noLocalEndpoints, ["ip_family": "IPv4", "traffic_policy": "internal"]], 0)
        XCTAssertEqual(after[ProxyMetrics.Name.noLocalEndpoints, ["ip_family": "IPv4", "traffic_policy": "external"]], 0)
        try await waitFor("closed") { !(await accepts(port)) }

        // A reap (deleting drained real servers) is not a sync: nothing changes.
        var reap = r
        reap.reap = true
        reap.localEndpoints = nil
        hooks.syncFinished(reap, t0 + 2)
        XCTAssertTrue(servers.listenerStates.isEmpty)
    }
}
