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

// The daemon end to end in-process: the in-repo fake API server, the real reflectors and loop, and
// an in-memory kernel. (The same against a real kube-apiserver and a real kernel is the
// real-apiserver tier's 03-daemon-e2e.)

private let services = "/api/v1/services"
private let slices = "/apis/discovery.k8s.io/v1/endpointslices"
private let nodes = "/api/v1/nodes"
private let vip = IPAddress("10.254.10.128")!
private let vsKey = VirtualServerKey(address: vip, proto: .tcp, port: 80)

private func service(_ name: String = "web-service", ip: String = "10.254.10.128", port: Int = 80) -> Data {
    KubeJSON.service(name, ip: ip, port: port).utf8Data
}

private func slice(_ addresses: [String], service: String = "web-service", trigger: String? = nil) -> Data {
    KubeJSON.slice(service: service, addresses.map { KubeJSON.sliceEndpoint($0) }, trigger: trigger).utf8Data
}

private let node1 = KubeJSON.node(podCIDR: "10.244.1.0/24").utf8Data

/// What the hooks saw.
private final class Recorder: Sendable {
    private let seen = Locked<(syncs: [SyncResult], invalid: [String], eligible: [Bool])>(([], [], []))
    func sync(_ r: SyncResult) { seen.mutate { $0.syncs.append(r) } }
    func invalid(_ s: String) { seen.mutate { $0.invalid.append(s) } }
    func eligible(_ b: Bool) { seen.mutate { $0.eligible.append(b) } }
    var syncs: [SyncResult] { seen.value.syncs }
    var invalid: [String] { seen.value.invalid }
    var eligible: [Bool] { seen.value.eligible }
}

final class ProxyDaemonTests: XCTestCase {
    var fake: FakeKubeAPI!

    override func setUp() async throws {
        fake = try await FakeKubeAPI.start()
        fake.setDiscoveryVersions(["v1"])
    }

    override func tearDown() async throws {
        try await fake.shutdown()
    }

    private func start(kernel: InMemoryKernel, recorder: Recorder, minSync: Double = 0) -> Task<Void, Error> {
        var config = ProxyConfig()
        config.clusterCIDRs = [CIDR("10.244.0.0/16")!]
        config.minSyncPeriod = minSync
        let settings = DaemonSettings(config: config, nodeName: "node1", kubeConfig: KubeConfig(server: fake.url),
                                      endpointsSource: .endpointSlices)
        var hooks = DaemonHooks()
        hooks.syncFinished = { r, _ in recorder.sync(r) }
        hooks.invalidObject = { recorder.invalid($0) }
        hooks.nodeEligible = { recorder.eligible($0) }
        var reflector = ReflectorOptions()
        reflector.backoff = Backoff(initial: 0.05, maximum: 0.2)
        let daemon = ProxyDaemon(settings: settings, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), hooks: hooks,
                                 reflectorOptions: reflector, makeKernel: { kernel })
        return Task { try await daemon.run() }
    }

    private func realServers(_ k: InMemoryKernel) -> [String] {
        (k.state.family(.ipv4).virtualServers[vsKey]?.realServers.keys.map { "\($0.address)" } ?? []).sorted()
    }

    func testProgramsFollowsChangesAndStopsWithoutTouchingTheKernel() async throws {
        try fake.put(services, json: service())
        try fake.put(slices, json: slice(["10.244.1.2", "10.244.1.3"]))
        try fake.put(nodes, json: node1)
        let kernel = InMemoryKernel()
        let rec = Recorder()
        let task = start(kernel: kernel, recorder: rec)

        // The kernel changes before the hook hears of the sync: wait for both.
        try await waitFor("the seed") { realServers(kernel) == ["10.244.1.2", "10.244.1.3"] && !rec.syncs.isEmpty }
        XCTAssertTrue(kernel.state.family(.ipv4).boundAddresses.contains(vip))
        XCTAssertEqual(rec.syncs.first?.full, true)

        // A third endpoint: one IPVS operation, the trigger time carried to the sync result.
        try fake.put(slices, json: slice(["10.244.1.2", "10.244.1.3", "10.244.1.4"], trigger: "2026-11-23T10:00:00Z"))
        try await waitFor("the third endpoint") { realServers(kernel).count == 3 && rec.syncs.filter { $0.total > 0 }.count >= 2 }
        let add = rec.syncs.last { $0.total > 0 }
        XCTAssertEqual(add?.operations[.ipvs], 1)
        XCTAssertEqual(add?.endpointChangeTimes, [RFC3339.seconds("2026-11-23T10:00:00Z")!])

        // An invalid Service is reported and skipped; the others are untouched.
        try fake.put(services, json: service("broken", ip: "10.254.10.129", port: 70000))
        try await waitFor("the invalid Service reported") { rec.invalid == ["Service"] }
        XCTAssertEqual(realServers(kernel).count, 3)

        // Deleting the Service removes its virtual server and address at once.
        try fake.delete(services, namespace: "default", name: "web-service")
        try await waitFor("the Service removed") { kernel.state.family(.ipv4).virtualServers[vsKey] == nil }
        XCTAssertFalse(kernel.state.family(.ipv4).boundAddresses.contains(vip))

        // Stopping: no further kernel change.
        let before = kernel.state
        task.cancel()
        _ = try? await task.value
        XCTAssertEqual(kernel.state, before)
        XCTAssertEqual(rec.eligible.last, true)
    }

    func testNothingIsProgrammedUntilEveryFirstListArrives() async throws {
        try fake.put(services, json: service())
        try fake.put(slices, json: slice(["10.244.1.2"]))
        // The Node list fails for a while.
        fake.inject(.status(500), times: 5) { $0.path == nodes && !$0.isWatch }
        let kernel = InMemoryKernel()
        let rec = Recorder()
        let task = start(kernel: kernel, recorder: rec)
        try await fake.wait(timeout: 10, "five failed Node lists") { f in
            f.requests.filter { $0.path == nodes && !$0.isWatch }.count >= 5
        }
        XCTAssertTrue(rec.syncs.isEmpty, "no sync before the Node list")
        try await waitFor("the seed after the Node list") { realServers(kernel) == ["10.244.1.2"] }
        task.cancel()
        _ = try? await task.value
    }

    func testRelistAfterTheServerForgotTheResourceVersion() async throws {
        try fake.put(services, json: service())
        try fake.put(slices, json: slice(["10.244.1.2"]))
        try fake.put(nodes, json: node1)
        let kernel = InMemoryKernel()
        let rec = Recorder()
        let task = start(kernel: kernel, recorder: rec)
        try await waitFor("the seed") { realServers(kernel) == ["10.244.1.2"] }
        // The watches break; meanwhile the endpoints change and history is compacted (410 on resume).
        fake.dropWatches()
        try fake.put(slices, json: slice(["10.244.1.3"]))
        fake.compact()
        fake.expireWatches(slices)
        try await waitFor("the change after the relist") { realServers(kernel) == ["10.244.1.3"] }
        task.cancel()
        _ = try? await task.value
    }
}
