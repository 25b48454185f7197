import AsyncHTTPClient
import Daemon
import Foundation
import KubeClient
import KubeFakeAPI
import KubeModel
import Logging
import ProxyCore
import Reconciler
import XCTest
import KernelPort
import TestSupport

/// The daemon end to end (fake API server, in-memory kernel as in `run --dry-run`): the Node
/// object's addresses stand for the node's, and an externalTrafficPolicy Local LoadBalancer gets
/// its health-check node port and counts in the no-local-endpoints metric.
final class DaemonHealthCheckTests: XCTestCase {
    var fake: FakeKubeAPI!
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    override func setUp() async throws {
        fake = try await FakeKubeAPI.start()
        fake.setDiscoveryVersions(["v1"])
    }

    override func tearDown() async throws {
        try await fake.shutdown()
    }

    func status(_ port: UInt16) async -> Int? {
        guard let r = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/"), timeout: .seconds(5)) else { return nil }
        _ = try? await r.body.collect(upTo: 1 << 16)
        return Int(r.status.code)
    }

    func slice(_ node: String) -> Data {
        KubeJSON.slice(service: "lb", [KubeJSON.sliceEndpoint("10.244.1.2", node: node)], portName: "http").utf8Data
    }

    func testLoadBalancerWithLocalPolicy() async throws {
        // A port nothing listens on (healthCheckNodePort): bound to 0 and closed.
        let probe = HTTPServer(address: BindAddress(host: "127.0.0.1", port: 0), setting: "probe", logger: logger) { _ in nil }
        let port = UInt16(try await probe.start())
        await probe.close()

        try fake.put("/api/v1/services", json: Data("""
        {"apiVersion":"v1","kind":"Service","metadata":{"name":"lb","namespace":"default"},
         "spec":{"type":"LoadBalancer","clusterIP":"10.254.0.9","externalTrafficPolicy":"Local","healthCheckNodePort":\(port),
                 "ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080}]}}
        """.utf8))
        try fake.put("/apis/discovery.k8s.io/v1/endpointslices", json: slice("node1"))
        try fake.put("/api/v1/nodes", json: Data("""
        {"apiVersion":"v1","kind":"Node","metadata":{"name":"node1"},
         "status":{"addresses":[{"type":"Hostname","address":"node1"},{"type":"InternalIP","address":"10.0.0.5"}]}}
        """.utf8))

        var config = ProxyConfig()
        config.clusterCIDRs = [CIDR("10.244.0.0/16")!]
        config.minSyncPeriod = 0
        let health = ProxyHealth(syncPeriod: 30)
        let metrics = ProxyMetrics()
        let checks = ServiceHealthServers(logger: logger, health: health)
        var hooks = DaemonHooks.reporting(to: health, metrics: metrics, healthChecks: checks, config: config)
        let last = Locked<SyncResult?>(nil)
        let report = hooks.syncFinished
        hooks.syncFinished = { r, now in report(r, now); last.mutate { $0 = r } }
        var reflector = ReflectorOptions()
        reflector.backoff = Backoff(initial: 0.05, maximum: 0.2)
        let daemon = ProxyDaemon(settings: DaemonSettings(config: config, nodeName: "node1", kubeConfig: KubeConfig(server: fake.url),
                                                          endpointsSource: .endpointSlices),
                                 logger: logger, hooks: hooks, reflectorOptions: reflector, makeKernel: { InMemoryKernel() })
        let task = Task { try await daemon.run() }
        defer { task.cancel() }

        try await waitFor("the health check answers 200") { await status(port) == 200 }
        XCTAssertEqual(last.value?.nodeAddresses.nodePortAddresses, [IPAddress("10.0.0.5")!], "the Node object's InternalIP (dry-run)")
        var text = try Exposition(metrics.render())
        XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["ip_family": "IPv4", "traffic_policy": "external"]], 0)

        // The endpoint moves to another node: 503, and the Service counts as having no local endpoint.
        try fake.put("/apis/discovery.k8s.io/v1/endpointslices", json: slice("node2"))
        try await waitFor("the health check answers 503") { await status(port) == 503 }
        try await waitFor("the metric") {
            (try? Exposition(metrics.render()))?[ProxyMetrics.Name.noLocalEndpoints, ["ip_family": "IPv4", "traffic_policy": "external"]] == 1
        }

        // The Service goes: the port closes.
        try fake.delete("/api/v1/services", namespace: "default", name: "lb")
        try await waitFor("the port closed") { await status(port) == nil }
        text = try Exposition(metrics.render())
        XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["ip_family": "IPv4", "traffic_policy": "external"]], 0)
        task.cancel()
        _ = try? await task.value
        await checks.stop()
    }
}
