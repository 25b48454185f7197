import Foundation
import KubeClient
import KubeFakeAPI
import KubeModel
import XCTest

// MARK: - The client in protobuf against the fake API server: negotiation, lists, watches, errors

final class ProtobufClientTests: XCTestCase {
    private var fake: FakeKubeAPI!
    private var clients: [APIClient] = []
    private var tasks: [Task<Void, Never>] = []
    private let services = "/api/v1/services"

    override func setUp() async throws {
        fake = try await FakeKubeAPI.start()
        fake.setServesProtobuf(true)
    }

    override func tearDown() async throws {
        for t in tasks { t.cancel(); await t.value }
        tasks = []
        for c in clients { try? await c.shutdown() }
        clients = []
        try await fake?.shutdown()
    }

    private func client(_ encoding: APIEncoding = .protobuf) throws -> APIClient {
        var options = fastOptions(requestTimeout: 1)
        options.encoding = encoding
        let c = try APIClient(config: KubeConfig(server: fake.url), options: options)
        clients.append(c)
        return c
    }

    func testPagedListInProtobuf() async throws {
        for i in 1...7 { try fake.put(services, json: serviceJSON("svc-\(i)")) }
        let rv = fake.resourceVersion
        let list = try await client().list(ServiceResource.self, .services, pageSize: 3)
        XCTAssertEqual(list.encoding, .protobuf)
        XCTAssertEqual(list.pages, 3)
        XCTAssertEqual(list.resourceVersion, rv)
        XCTAssertEqual(list.items.compactMap { $0.metadata?.name }, (1...7).map { "svc-\($0)" })
        XCTAssertEqual(list.items.first?.spec?.ports?.first?.targetPort, .int(8080))
        XCTAssertEqual(Set(listRequests(fake, services).map(\.accept)), ["application/vnd.kubernetes.protobuf, application/json"])
        // The same store read as JSON gives the same objects (less the kind and apiVersion JSON
        // items may carry, which nothing reads).
        let json = try await client(.json).list(ServiceResource.self, .services, pageSize: 3)
        XCTAssertEqual(json.encoding, .json)
        XCTAssertEqual(list.items, json.items.map { var s = $0; s.kind = nil; s.apiVersion = nil; return s })
    }

    func testAServerAnsweringJSONIsReadAsJSON() async throws {
        fake.setServesProtobuf(false)
        try fake.put(services, json: serviceJSON("a"))
        let list = try await client().list(ServiceResource.self, .services)
        XCTAssertEqual(list.encoding, .json)
        XCTAssertEqual(list.items.compactMap { $0.metadata?.name }, ["a"])
        XCTAssertEqual(listRequests(fake, services).last?.accept, "application/vnd.kubernetes.protobuf, application/json")
    }

    func testJSONEncodingAsksForJSONOnly() async throws {
        try fake.put(services, json: serviceJSON("a"))
        let list = try await client(.json).list(ServiceResource.self, .services)
        XCTAssertEqual(list.encoding, .json)
        XCTAssertEqual(listRequests(fake, services).last?.accept, "application/json")
        _ = try await client(.json).serverVersion()
        _ = try await client().preferredEndpointSliceVersion()
        // Discovery and version ask for JSON whatever the encoding.
        XCTAssertEqual(fake.requests.filter { $0.path == "/version" || $0.path == "/apis/discovery.k8s.io" }.map(\.accept),
                       ["application/json", "application/json"])
    }

    func testErrorStatusInProtobufIsRead() async throws {
        fake.inject(.statusRetryAfter(429, retryAfter: "3"), times: 1) { $0.path == "/api/v1/services" }
        do {
            _ = try await client().list(ServiceResource.self, .services)
            XCTFail("expected an error")
        } catch let e as APIError {
            guard case .http(let code, let status, _, _, let retryAfter) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(code, 429)
            XCTAssertEqual(status?.reason, "TooManyRequests")
            XCTAssertEqual(status?.code, 429)
            XCTAssertEqual(retryAfter, 3)
        }
    }

    func testExpiredContinueTokenInProtobufRelists() async throws {
        for i in 1...5 { try fake.put(services, json: serviceJSON("svc-\(i)")) }
        fake.setContinueTokensExpire(true)
        let list = try await client().list(ServiceResource.self, .services, pageSize: 2)
        XCTAssertEqual(list.items.count, 5)
        XCTAssertEqual(list.pages, 1)  // the unpaginated relist after the 410 (in protobuf)
    }

    func testReflectorWatchesInProtobufWithBookmarksAndExpiry() async throws {
        try fake.put(services, json: serviceJSON("a"))  // 101
        let diagnostics = DiagnosticLog()
        let log = EventLog()
        let reflector = Reflector<ServiceResource>(client: try client(), kind: .services, options: fastReflectorOptions(diagnostics))
        tasks.append(startReflector(reflector, into: log))
        try await log.wait { $0 == ["replaced[a]"] }
        try await fake.wait(timeout: 5, "the watch") { $0.openWatches == 1 }
        XCTAssertEqual(watchRequests(fake, services).last?.accept, "application/vnd.kubernetes.protobuf, application/json")

        try fake.put(services, json: serviceJSON("b"))  // 102
        try fake.put(services, json: serviceJSON("a", clusterIP: "10.96.0.99"))  // 103
        try fake.delete(services, namespace: "default", name: "b")  // 104
        try await log.wait { $0.count == 4 }
        fake.bookmark(services)  // 105
        try await Task.sleep(nanoseconds: 100_000_000)
        fake.compact()
        fake.dropWatches()
        try await fake.wait(timeout: 5, "the watch after the bookmark") { watchRequests($0, "/api/v1/services").count == 2 && $0.openWatches == 1 }
        XCTAssertEqual(watchRequests(fake, services)[1].query["resourceVersion"], "105")

        // ERROR 410 in protobuf: a relist, and a new .replaced.
        fake.expireWatches(services)
        try await log.wait { $0.count == 5 }
        let events = await log.events
        XCTAssertEqual(events, ["replaced[a]", "added b@102", "modified a@103", "deleted b@104", "replaced[a]"])
        XCTAssertTrue(diagnostics.all.contains { $0.contains("resourceVersion expired (410 Expired too old resource version)") },
                      "\(diagnostics.all)")
        XCTAssertTrue(diagnostics.all.contains { $0.hasSuffix("(protobuf)") && $0.contains("listed 1 objects") }, "\(diagnostics.all)")
    }

    func testNodeAndSliceWatchesInProtobuf() async throws {
        try fake.put("/api/v1/nodes", json: nodeJSON("n1", address: "192.168.0.1"))
        let nodes = EventLog(), slices = EventLog()
        let c = try client()
        tasks.append(startReflector(Reflector<NodeResource>(client: c, kind: .node(named: "n1"), options: fastReflectorOptions()), into: nodes))
        let kind = ResourceKind.endpointSlices(version: "v1beta1")
        tasks.append(startReflector(Reflector<EndpointSliceResource>(client: c, kind: kind, options: fastReflectorOptions()), into: slices))
        try await nodes.wait { $0 == ["replaced[n1]"] }
        try await slices.wait { $0 == ["replaced[]"] }
        try await fake.wait(timeout: 5, "both watches") { $0.openWatches == 2 }
        try fake.put(kind.path, json: sliceJSON("web-1", service: "web", address: "10.0.0.1"))
        try fake.put("/api/v1/nodes", json: nodeJSON("n1", address: "192.168.0.9"))
        try await slices.wait { $0.count == 2 }
        try await nodes.wait { $0.count == 2 }
        XCTAssertEqual(fake.requests.filter(\.isWatch).map(\.accept), Array(repeating: "application/vnd.kubernetes.protobuf, application/json", count: 2))
    }

    private func watchError(_ bytes: [UInt8]) async throws -> String {
        fake.inject(.rawStream(bytes, contentType: "application/vnd.kubernetes.protobuf;stream=watch"), times: 1) { $0.isWatch }
        do {
            for try await _ in try client().watch(ServiceResource.self, .services, resourceVersion: "1") {}
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testTruncatedAndOversizedFramesFailTheWatchNamingTheResource() async throws {
        let frame = try FakeProtobuf.frame(path: services, type: "ADDED", json: Data(serviceJSON("a")))
        let truncated = try await watchError(Array(frame.dropLast(2)))
        XCTAssertTrue(truncated.hasPrefix("/api/v1/services: invalid response: watch event: the stream ended inside a frame"), truncated)
        let oversized = try await watchError([0x7F, 0xFF, 0xFF, 0xFF, 0x00])
        XCTAssertEqual(oversized, "/api/v1/services: invalid response: watch event: a frame of 2147483647 bytes, longer than the limit of \(64 << 20) bytes")
    }
}
