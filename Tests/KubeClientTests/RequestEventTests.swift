import Foundation
import KubeClient
import KubeFakeAPI
import KubeModel
import XCTest

/// What the client reports of each request for client-go's request metrics.
final class RequestEventTests: XCTestCase {
    final class Events: @unchecked Sendable {
        private let lock = NSLock()
        private var all: [APIRequestEvent] = []
        func add(_ e: APIRequestEvent) { lock.lock(); all.append(e); lock.unlock() }
        var snapshot: [APIRequestEvent] { lock.lock(); defer { lock.unlock() }; return all }
    }

    func testHostIsTheURLAuthorityWithoutUserInformation() {
        XCTAssertEqual(APIRequestEvent.host(ofServer: "https://10.96.0.1:443"), "10.96.0.1:443")
        XCTAssertEqual(APIRequestEvent.host(ofServer: "https://[fd00::1]:6443/prefix"), "[fd00::1]:6443")
        XCTAssertEqual(APIRequestEvent.host(ofServer: "http://admin:hunter2@127.0.0.1:1"), "127.0.0.1:1")
        XCTAssertEqual(APIRequestEvent.host(ofServer: "https://api.example"), "api.example")
    }

    /// A list page: its status code and its latency; a refused connection: `nil`, and its latency.
    func testResultsAndLatencies() async throws {
        let fake = try await FakeKubeAPI.start()
        let events = Events()
        var options = APIClient.Options()
        options.onRequest = { events.add($0) }
        options.requestTimeout = 5
        let client = try APIClient(config: KubeConfig(server: fake.url), options: options)
        _ = try await client.list(ServiceResource.self, .services)
        let host = "127.0.0.1:\(fake.port)"
        var seen = events.snapshot
        XCTAssertEqual(seen.count, 2, "\(seen)")
        XCTAssertEqual(seen.first, APIRequestEvent(verb: "GET", host: host, kind: .result(code: 200)))
        guard case .latency(let s)? = seen.last?.kind else { return XCTFail("\(seen)") }
        XCTAssertGreaterThanOrEqual(s, 0)

        _ = try await client.list(ServiceResource.self, .services)
        seen = events.snapshot
        XCTAssertEqual(seen.count, 4, "one result and one latency per request")
        try await client.shutdown()
        try await fake.shutdown()

        let refusedEvents = Events()
        options.onRequest = { refusedEvents.add($0) }
        let refused = try APIClient(config: KubeConfig(server: "http://127.0.0.1:1"), options: options)
        _ = try? await refused.serverVersion()
        try await refused.shutdown()
        XCTAssertEqual(refusedEvents.snapshot.first, APIRequestEvent(verb: "GET", host: "127.0.0.1:1", kind: .result(code: nil)))
        XCTAssertEqual(refusedEvents.snapshot.count, 2, "the failed request's latency too")
    }
}
