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

// The daemon end to end in-process: the in-repo fake API server, the real reflectors and loop, and
// an in-memory kernel. (The same against a real kube-apiserver and a real kernel is the
// real-apiserver tier's 03-daemon-e2e.)

private let services = "/api/v1/services"
private let slices = "/apis/discovery.k8s.io/v1/endpointslices"
private let nodes = "/api/v1/nodes"
private let vip = IPAddress("10.254.10.128")!
private let vsKey = VirtualServerKey(address: vip, proto: .tcp, port: 80)

private func service(_ name: String = "web-service", ip: String = "10.254.10.128", port: String = "80") -> Data {
    Data("""
    {"apiVersion":"v1","kind":"Service","metadata":{"name":"\(name)","namespace":"default"},
     "spec":{"type":"ClusterIP","clusterIP":"\(ip)","ports":[{"protocol":"TCP","port":\(port),"targetPort":8080}]}}
    """.utf8)
}

private func slice(_ addresses: [String], service: String = "web-service", trigger: String? = nil) -> Data {
    let eps = addresses.map { #"{"addresses":["\#($0)"],"conditions":{"ready":true}}"# }.joined(separator: ",")
    let ann = trigger.map { #","annotations":{"endpoints.kubernetes.io/last-change-trigger-time":"\#($0)"}"# } ?? ""
    return Data("""
    {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"\(service)-abc","namespace":"default",
     "labels":{"kubernetes.io/service-name":"\(service)"}\(ann)},"addressType":"IPv4",
     "endpoints":[\(eps)],"ports":[{"port":8080,"protocol":"TCP"}]}
    """.utf8)
}

private let node1 = Data(#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node1"},"spec":{"podCIDR":"10.244.1.0/24"}}"#.utf8)

/// What the hooks saw.
private final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var _syncs: [SyncResult] = []
    private var _invalid: [String] = []
    private var _eligible: [Bool] = []
    func sync(_ r: SyncResult) { lock.lock(); _syncs.append(r); lock.unlock() }
    func invalid(_ s: String) { lock.lock(); _invalid.append(s); lock.unlock() }
    func eligible(_ b: Bool) { lock.lock(); _eligible.append(b); lock.unlock() }
    var syncs: [SyncResult] { lock.lock(); defer { lock.unlock() }; return _syncs }
    var invalid: [String] { lock.lock(); defer { lock.unlock() }; return _invalid }
    var eligible: [Bool] { lock.lock(); defer { lock.unlock() }; return _eligible }
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

    private func wait(_ what: String, timeout: Double = 10, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { XCTFail("timed out waiting for \(what)"); throw CancellationError() }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
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
        try await wait("the seed") { realServers(kernel) == ["10.244.1.2", "10.244.1.3"] && !rec.syncs.isEmpty }
        XCTAssertTrue(kernel.state.family(.ipv4).boundAddresses.contains(vip))
        XCTAssertEqual(rec.syncs.first?.full, true)

        // A third endpoint: one IPVS operation, the trigger time carried to the sync result.
        try fake.put(slices, json: slice(["10.244.1.2", "10.244.1.3", "10.244.1.4"], trigger: "2026-11-23T10:00:00Z"))
        try await wait("the third endpoint") { realServers(kernel).count == 3 && rec.syncs.filter { $0.total > 0 }.count >= 2 }
        let add = rec.syncs.last { $0.total > 0 }
        XCTAssertEqual(add?.operations[.ipvs], 1)
        XCTAssertEqual(add?.endpointChangeTimes, [RFC3339.seconds("2026-11-23T10:00:00Z")!])

        // An invalid Service is reported and skipped; the others are untouched.
        try fake.put(services, json: service("broken", ip: "10.254.10.129", port: "70000"))
        try await wait("the invalid Service reported") { rec.invalid == ["Service"] }
        XCTAssertEqual(realServers(kernel).count, 3)

        // Deleting the Service removes its virtual server and address at once.
        try fake.delete(services, namespace: "default", name: "web-service")
        try await wait("the Service removed") { kernel.state.family(.ipv4).virtualServers[vsKey] == nil }
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
        try await wait("the seed after the Node list") { realServers(kernel) == ["10.244.1.2"] }
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
        try await wait("the seed") { realServers(kernel) == ["10.244.1.2"] }
        // The watches break; meanwhile the endpoints change and history is compacted (410 on resume).
        fake.dropWatches()
        try fake.put(slices, json: slice(["10.244.1.3"]))
        fake.compact()
        fake.expireWatches(slices)
        try await wait("the change after the relist") { realServers(kernel) == ["10.244.1.3"] }
        task.cancel()
        _ = try? await task.value
    }
}
