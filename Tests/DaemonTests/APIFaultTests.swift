import Daemon
import Foundation
import KernelPort
import KubeClient
import KubeFakeAPI
import KubeModel
import Logging
import ProxyCore
import XCTest

// The daemon (real reflectors and loop, in-memory kernel) against the fake API server while the
// server misbehaves: watches closed every second or two, 410 storms, 429 with Retry-After, 500s,
// lists that stall or are cut part-way. Two promises are checked for each fault:
// - every plan the daemon applies during the fault is checked as it is applied: nothing that
//   belongs to a Service or endpoint still on the server is ever removed (no regression);
// - once the fault ends, the node converges to the server's current state.
// Timing is asserted only as lower bounds (Retry-After) or upper bounds on request counts over a
// window (backoff), which a slow machine can only make safer.

private let servicesPath = "/api/v1/services"
private let slicesPath = "/apis/discovery.k8s.io/v1/endpointslices"
private let nodesPath = "/api/v1/nodes"

/// A Service with its cluster IP, port and ready endpoints, as the test put it on the server.
private struct FaultService {
    var ip: String
    var port: Int
    var endpoints: [String]
}

/// Checks every plan as the in-memory kernel applies it, and keeps its own copy of the kernel
/// state (read without racing the loop).
private final class PlanGuard: @unchecked Sendable {
    private let lock = NSLock()
    /// Cluster IPs of the Services on the server.
    private var liveAddresses: Set<IPAddress> = []
    /// `vip|endpoint` of the endpoints on the server.
    private var liveEndpoints: Set<String> = []
    private var mirror = ObservedState.emptyNode
    private var _violations: [String] = []
    private var _plans = 0
    private var _operations = 0

    func protect(_ ip: String, endpoints: [String]) {
        lock.lock(); defer { lock.unlock() }
        liveAddresses.insert(IPAddress(ip)!)
        for e in endpoints { liveEndpoints.insert("\(ip)|\(e)") }
    }

    /// Called before the server forgets `ip` (or these endpoints of it), so that the plans that
    /// follow may remove them.
    func release(_ ip: String, endpoints: [String], service: Bool) {
        lock.lock(); defer { lock.unlock() }
        if service { liveAddresses.remove(IPAddress(ip)!) }
        for e in endpoints { liveEndpoints.remove("\(ip)|\(e)") }
    }

    func check(_ plan: Plan) {
        lock.lock(); defer { lock.unlock() }
        _plans += 1
        _operations += plan.count
        for op in plan.operations.map(\.operation) {
            switch op {
            case .deleteVirtualServer(let k) where liveAddresses.contains(k.address):
                _violations.append("\(op)")
            case .deleteAddress(let a) where liveAddresses.contains(a):
                _violations.append("\(op)")
            case .deleteSetEntry(_, let entry) where liveAddresses.contains { entry.hasPrefix("\($0),") }:
                _violations.append("\(op)")
            case .deleteRealServer(let k, let r) where liveEndpoints.contains("\(k.address)|\(r.address)"):
                _violations.append("\(op)")
            case .updateRealServer(let k, let r) where r.weight == 0 && liveEndpoints.contains("\(k.address)|\(r.key.address)"):
                _violations.append("\(op)")
            case .destroySet, .deleteChains, .deleteJump, .deleteDummyLink:
                _violations.append("\(op)")
            default:
                break
            }
        }
        mirror.apply(plan)
    }

    var violations: [String] { lock.lock(); defer { lock.unlock() }; return _violations }
    var plans: Int { lock.lock(); defer { lock.unlock() }; return _plans }
    var operations: Int { lock.lock(); defer { lock.unlock() }; return _operations }

    /// Virtual servers of the kernel copy, with the addresses of their real servers that take
    /// traffic (weight > 0; a removed TCP endpoint keeps weight 0 until it drains).
    var programmed: [VirtualServerKey: Set<IPAddress>] {
        lock.lock(); defer { lock.unlock() }
        return mirror.family(.ipv4).virtualServers.mapValues { vs in
            Set(vs.realServers.values.filter { $0.weight > 0 }.map(\.key.address))
        }
    }
}

/// The server side: what the test put on the fake API server, kept in step with the guard.
private final class FaultCluster: @unchecked Sendable {
    let fake: FakeKubeAPI
    let guardian: PlanGuard
    private(set) var services: [String: FaultService] = [:]

    init(fake: FakeKubeAPI, guardian: PlanGuard) { self.fake = fake; self.guardian = guardian }

    func put(_ name: String, _ s: FaultService) throws {
        if let old = services[name] {
            guardian.release(old.ip, endpoints: old.endpoints.filter { !s.endpoints.contains($0) }, service: old.ip != s.ip)
        }
        try fake.put(servicesPath, json: Data("""
        {"apiVersion":"v1","kind":"Service","metadata":{"name":"\(name)","namespace":"default"},
         "spec":{"type":"ClusterIP","clusterIP":"\(s.ip)","ports":[{"protocol":"TCP","port":\(s.port),"targetPort":8080}]}}
        """.utf8))
        let eps = s.endpoints.map { #"{"addresses":["\#($0)"],"conditions":{"ready":true}}"# }.joined(separator: ",")
        try fake.put(slicesPath, json: Data("""
        {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"\(name)-abc","namespace":"default",
         "labels":{"kubernetes.io/service-name":"\(name)"}},"addressType":"IPv4",
         "endpoints":[\(eps)],"ports":[{"port":8080,"protocol":"TCP"}]}
        """.utf8))
        services[name] = s
        guardian.protect(s.ip, endpoints: s.endpoints)
    }

    func setEndpoints(_ name: String, _ endpoints: [String]) throws {
        var s = services[name]!
        s.endpoints = endpoints
        try put(name, s)
    }

    func delete(_ name: String) throws {
        guard let s = services.removeValue(forKey: name) else { return }
        guardian.release(s.ip, endpoints: s.endpoints, service: true)
        try fake.delete(slicesPath, namespace: "default", name: "\(name)-abc")
        try fake.delete(servicesPath, namespace: "default", name: name)
    }

    /// The virtual servers the node should have: one per Service, its endpoints as real servers.
    var expected: [VirtualServerKey: Set<IPAddress>] {
        Dictionary(uniqueKeysWithValues: services.values.map { s in
            (VirtualServerKey(address: IPAddress(s.ip)!, proto: .tcp, port: UInt16(s.port)), Set(s.endpoints.map { IPAddress($0)! }))
        })
    }
}

/// Diagnostics of the daemon's reflectors, as text.
private final class DiagnosticLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ d: ReflectorDiagnostic) { lock.lock(); lines.append(d.description); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

final class APIFaultTests: XCTestCase {
    private var fake: FakeKubeAPI!
    private var guardian: PlanGuard!
    private var cluster: FaultCluster!
    private var daemon: Task<Void, Error>?
    private let diagnostics = DiagnosticLines()

    override func setUp() async throws {
        fake = try await FakeKubeAPI.start()
        fake.setDiscoveryVersions(["v1"])
        guardian = PlanGuard()
        cluster = FaultCluster(fake: fake, guardian: guardian)
        try fake.put(nodesPath, json: Data(#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node1"},"spec":{"podCIDR":"10.244.1.0/24"}}"#.utf8))
        // Five Services: with two objects per page every list takes three requests.
        for i in 1...5 {
            try cluster.put("svc-\(i)", FaultService(ip: "10.96.0.\(i)", port: 80, endpoints: ["10.244.1.\(i)", "10.244.2.\(i)"]))
        }
    }

    override func tearDown() async throws {
        daemon?.cancel()
        _ = try? await daemon?.value
        daemon = nil
        try await fake.shutdown()
    }

    private func startDaemon(requestTimeout: Double = 2, backoff: Backoff = Backoff(initial: 0.05, maximum: 0.2, jitter: 0)) {
        var config = ProxyConfig()
        config.clusterCIDRs = [CIDR("10.244.0.0/16")!]
        config.minSyncPeriod = 0
        var settings = DaemonSettings(config: config, nodeName: "node1", kubeConfig: KubeConfig(server: fake.url),
                                      endpointsSource: .endpointSlices)
        settings.pageSize = 2
        var client = APIClient.Options()
        client.requestTimeout = requestTimeout
        client.connectTimeout = 2
        var reflector = ReflectorOptions()
        reflector.backoff = backoff
        let diagnostics = self.diagnostics
        reflector.onDiagnostic = { diagnostics.append($0) }
        let guardian = self.guardian!
        let kernel = InMemoryKernel(onApply: { guardian.check($0) })
        let d = ProxyDaemon(settings: settings, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                            clientOptions: client, reflectorOptions: reflector, makeKernel: { kernel })
        daemon = Task { try await d.run() }
    }

    /// Waits until the programmed virtual servers are exactly the server's Services and endpoints.
    private func waitConverged(_ what: String, timeout: Double = 15, file: StaticString = #filePath, line: UInt = #line) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while guardian.programmed != cluster.expected {
            if Date() > deadline {
                XCTFail("\(what): not converged; programmed \(guardian.programmed), expected \(cluster.expected); diagnostics \(diagnostics.all.suffix(20))",
                        file: file, line: line)
                throw CancellationError()
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    private func assertNoRegression(_ fault: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(guardian.violations, [], "\(fault): operations removed state of objects still on the server", file: file, line: line)
        // One line per fault kind for the record (the figures the reliability suite reports).
        print("API fault [\(fault)]: injected \(fake.injectedFaults.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")); "
              + "\(fake.requests.count) requests; \(guardian.plans) plans (\(guardian.operations) operations) checked; "
              + "\(guardian.violations.count) regressions")
    }

    private func sleep(_ seconds: Double) async throws { try await Task.sleep(nanoseconds: UInt64(seconds * 1e9)) }

    /// Requests for `path` that start a list (the first page, no continue token).
    private func listStarts(_ path: String, since: Double = 0) -> [FakeRequest] {
        fake.requests.filter { $0.path == path && !$0.isWatch && $0.query["continue"] == nil && $0.receivedAt >= since }
    }

    // MARK: - Watches closed every second or two

    /// Every watch is ended by the server after 1.5 s or two events: each resumes from its
    /// resourceVersion (no relist), none counts as a failure (it lasted over a second or delivered
    /// something, client-go's rule), and every change made meanwhile is programmed.
    func testWatchesClosedEveryFewSeconds() async throws {
        fake.setWatchLifetime(seconds: 1.5, events: 2)
        startDaemon()
        try await waitConverged("the first sync")
        for step in 0..<4 {
            try cluster.setEndpoints("svc-1", ["10.244.1.1", "10.244.3.\(step)"])
            if step == 1 { try cluster.put("svc-6", FaultService(ip: "10.96.0.6", port: 8080, endpoints: ["10.244.1.6"])) }
            if step == 2 { try cluster.delete("svc-2") }
            try await sleep(0.4)
        }
        try await fake.wait(timeout: 10, "six watches ended by the server") { ($0.injectedFaults["watch-lifetime"] ?? 0) >= 6 }
        // The Node never changes: its watches end after 1.5 s each, without an event.
        try await fake.wait(timeout: 10, "three Node watches") { $0.requests.filter { $0.path == nodesPath && $0.isWatch }.count >= 3 }
        try await waitConverged("after the closed watches")
        XCTAssertEqual(listStarts(servicesPath).count, 1, "a closed watch resumes; it does not relist")
        XCTAssertEqual(listStarts(slicesPath).count, 1, "a closed watch resumes; it does not relist")
        XCTAssertGreaterThanOrEqual(fake.requests.filter { $0.path == slicesPath && $0.isWatch }.count, 3)
        XCTAssertFalse(diagnostics.all.contains { $0.contains("watch closed without events") },
                       "a watch that lasted over a second is not a failure: \(diagnostics.all)")
        assertNoRegression("watches closed")
    }

    // MARK: - 410 storm

    /// For four seconds every watch is answered 410 (first as ERROR events, then as the HTTP
    /// status) and every list continue token too. Each relist falls back to one unpaginated list
    /// and is applied whole; the relists back off instead of repeating every `initial` seconds;
    /// after the storm the watches resume and the node converges.
    func testGoneStorm() async throws {
        startDaemon(backoff: Backoff(initial: 0.1, maximum: 1, jitter: 0))
        try await waitConverged("the first sync")
        try await fake.wait(timeout: 10, "the three watches") { $0.openWatches == 3 }

        let stormStart = FakeKubeAPI.now
        fake.inject(.goneEvent, times: 6) { $0.isWatch }
        fake.inject(.status(410), times: 100_000) { $0.isWatch }
        fake.setContinueTokensExpire(true)
        fake.dropWatches()
        for step in 0..<4 {
            try await sleep(1)
            switch step {
            case 0: try cluster.put("svc-6", FaultService(ip: "10.96.0.6", port: 80, endpoints: ["10.244.1.6"]))
            case 1: try cluster.setEndpoints("svc-3", ["10.244.2.3", "10.244.4.3"])
            case 2: try cluster.delete("svc-4")
            default: break
            }
        }
        let stormEnd = FakeKubeAPI.now
        // A relist is a first page (limit, no continue token); its fallback to one unpaginated
        // request after the expired continue token is part of the same relist.
        let relists = listStarts(servicesPath, since: stormStart).filter { $0.receivedAt <= stormEnd && $0.query["limit"] != nil }.count
        let expiredContinues = fake.requests.filter { $0.query["continue"] != nil && $0.receivedAt >= stormStart && $0.receivedAt <= stormEnd }.count
        fake.clearFaults()
        fake.setContinueTokensExpire(false)

        try await waitConverged("after the 410 storm")
        try await fake.wait(timeout: 10, "the watches after the storm") { $0.openWatches == 3 }
        // With the backoff reset by every successful relist there is one relist per 0.1 s or so
        // (30 and more in 4 s); backing off, they are 0.1 + 0.2 + 0.4 + 0.8 + 1 + 1 ... s apart:
        // about 6.
        XCTAssertLessThanOrEqual(relists, 10, "Service relists during the 4 s storm")
        XCTAssertGreaterThanOrEqual(relists, 2, "the storm made the Services relist")
        XCTAssertGreaterThan(expiredContinues, 0, "continue tokens were refused during the storm")
        print("API fault [410 storm]: \(relists) Service relists and \(expiredContinues) expired continue tokens in \(String(format: "%.1f", stormEnd - stormStart)) s")
        assertNoRegression("410 storm")
    }

    // MARK: - 429 with Retry-After

    /// A 429 with `Retry-After: 2` on the first Service list, on a page of a relist, and on a
    /// watch: the next request for that collection comes no sooner than 2 s later (the backoff
    /// alone would retry after 0.05 s), and nothing is lost meanwhile.
    func testTooManyRequestsHonoursRetryAfter() async throws {
        fake.inject(.statusRetryAfter(429, retryAfter: "2"), times: 1) { $0.path == servicesPath && !$0.isWatch }
        startDaemon()
        try await waitConverged("the first sync after a 429")
        try await fake.wait(timeout: 10, "the three watches") { $0.openWatches == 3 }

        // A watch refused with 429: the next watch waits.
        fake.inject(.statusRetryAfter(429, retryAfter: "2"), times: 1) { $0.path == servicesPath && $0.isWatch }
        fake.dropWatches()
        try cluster.put("svc-6", FaultService(ip: "10.96.0.6", port: 80, endpoints: ["10.244.1.6"]))
        try await waitConverged("the change made while the watch was refused")

        // A relist whose second page is refused with 429: the list starts over after 2 s, and the
        // first page alone is never taken for the whole collection.
        // The Service is deleted after the watch expired, so only the whole relist can tell.
        fake.inject(.statusRetryAfter(429, retryAfter: "2"), times: 1) { $0.path == servicesPath && $0.query["continue"] != nil }
        fake.compact()
        fake.expireWatches(servicesPath)
        try cluster.delete("svc-5")
        try await waitConverged("the relist after a refused page")
        XCTAssertEqual(fake.injectedFaults["status-429-retry-after"], 3)

        // Each 429 and the next request for the same collection (list or watch).
        let requests = fake.requests.filter { $0.path == servicesPath }
        let gaps = requests.indices.dropLast().filter { requests[$0].fault == "status-429-retry-after" }
            .map { requests[$0 + 1].receivedAt - requests[$0].receivedAt }
        XCTAssertEqual(gaps.count, 3, "a request after each 429: \(requests.map { "\(String(format: "%.2f", $0.receivedAt)) \($0) \($0.fault ?? "")" })")
        for g in gaps { XCTAssertGreaterThanOrEqual(g, 1.9, "Retry-After: 2 honoured (gaps \(gaps))") }
        print("API fault [429 Retry-After 2]: next request after \(gaps.map { String(format: "%.2f", $0) }.joined(separator: ", ")) s")
        assertNoRegression("429 Retry-After")
    }

    // MARK: - 500s

    /// Every request fails for three seconds (first five 503s with a Retry-After that is not a
    /// number, then 500s): each collection is retried with backoff (0.05 s doubling to 0.4 s),
    /// not in a hot loop; afterwards the node converges.
    func testServerErrorsBackOff() async throws {
        startDaemon(backoff: Backoff(initial: 0.05, maximum: 0.4, jitter: 0))
        try await waitConverged("the first sync")
        try await fake.wait(timeout: 10, "the three watches") { $0.openWatches == 3 }

        let start = FakeKubeAPI.now
        fake.inject(.statusRetryAfter(503, retryAfter: "soon"), times: 5) { _ in true }
        fake.inject(.status(500), times: 100_000) { _ in true }
        fake.dropWatches()
        try cluster.put("svc-6", FaultService(ip: "10.96.0.6", port: 80, endpoints: ["10.244.1.6"]))
        try cluster.setEndpoints("svc-1", ["10.244.9.1"])
        try await sleep(3)
        let end = FakeKubeAPI.now
        fake.clearFaults()
        let window = fake.requests.filter { $0.receivedAt >= start && $0.receivedAt <= end }
        try await waitConverged("after the 500s")

        // 0.05 + 0.1 + 0.2 + 0.4 + 0.4 ... s apart: about 10 attempts per collection in 3 s.
        for path in [servicesPath, slicesPath, nodesPath] {
            let n = window.filter { $0.path == path }.count
            XCTAssertLessThanOrEqual(n, 16, "\(path): requests during 3 s of 500s")
            XCTAssertGreaterThanOrEqual(n, 1, "\(path): retried during the 500s")
        }
        assertNoRegression("500 storm")
    }

    // MARK: - A list that stalls or is cut

    /// After a compaction every collection relists; the first 3 list requests are accepted and
    /// never answered, the next 12 send their head and 40 bytes of body and then nothing (the
    /// server stops answering mid-list), the 5 after them are cut after 60 bytes; the first 2
    /// watches after that get no answer either. Each times out after the client's request
    /// timeout (0.5 s) or fails, and is retried; a stalled or cut list is never applied; the node
    /// converges. (22 abandoned requests also show that a stalled connection does not stay in the
    /// client's pool, which holds 16.)
    func testStalledAndCutListsTimeOutAndAreRetried() async throws {
        startDaemon(requestTimeout: 0.5)
        try await waitConverged("the first sync")
        try await fake.wait(timeout: 10, "the three watches") { $0.openWatches == 3 }

        fake.inject(.hang, times: 3) { !$0.isWatch }
        fake.inject(.hang, times: 2) { $0.isWatch }
        fake.inject(.stallBody(afterBytes: 40), times: 12) { !$0.isWatch }
        fake.inject(.cutBody(afterBytes: 60), times: 5) { !$0.isWatch }
        fake.compact()
        try cluster.delete("svc-2")
        try cluster.setEndpoints("svc-3", ["10.244.7.3"])
        try cluster.put("svc-6", FaultService(ip: "10.96.0.6", port: 80, endpoints: ["10.244.1.6"]))
        for path in [servicesPath, slicesPath, nodesPath] { fake.expireWatches(path) }

        try await fake.wait(timeout: 20, "20 unanswered, stalled or cut lists and 2 unanswered watches") {
            ($0.injectedFaults["hang"] ?? 0) + ($0.injectedFaults["stall-body"] ?? 0) + ($0.injectedFaults["cut-body"] ?? 0) >= 22
        }
        try await waitConverged("after the stalled lists")
        XCTAssertTrue(diagnostics.all.contains { $0.contains("list failed") && $0.contains("no answer within 0.5s") },
                      "a stalled list timed out: \(diagnostics.all)")
        // The unanswered watches come last: wait for their timeouts, then for the watches.
        let diagnostics = self.diagnostics
        try await fake.wait(timeout: 10, "the unanswered watches timed out") { _ in
            diagnostics.all.filter { $0.contains("watch failed") && $0.contains("(no response): no answer within 0.5s") }.count >= 2
        }
        try await fake.wait(timeout: 10, "the three watches") { $0.openWatches == 3 }
        assertNoRegression("stalled and cut lists")
    }
}
