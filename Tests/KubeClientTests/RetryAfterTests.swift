import Foundation
import KubeClient
import KubeFakeAPI
import KubeModel
import XCTest

// MARK: - Retry-After: parsed from the answer, carried by the error, honoured by the reflector

final class RetryAfterTests: XCTestCase {
    private var fake: FakeKubeAPI!
    private var client: APIClient!
    private var tasks: [Task<Void, Never>] = []

    override func setUp() async throws {
        fake = try await FakeKubeAPI.start()
        client = try APIClient(config: KubeConfig(server: fake.url), options: fastOptions())
    }

    override func tearDown() async throws {
        for t in tasks { t.cancel(); await t.value }
        try? await client?.shutdown()
        try await fake?.shutdown()
    }

    func testHeaderValues() {
        XCTAssertEqual(APIError.parseRetryAfter("2"), 2)
        XCTAssertEqual(APIError.parseRetryAfter(" 7 "), 7)
        XCTAssertEqual(APIError.parseRetryAfter("0"), 0)
        XCTAssertEqual(APIError.parseRetryAfter("99999999999999999999999"), APIError.maximumRetryAfter, "overflow: the longest wait, no trap")
        XCTAssertEqual(APIError.parseRetryAfter(String(repeating: "9", count: 4096)), APIError.maximumRetryAfter)
        for bad in [nil, "", "-1", "+3", "1.5", "soon", "0x10", "Wed, 21 Oct 2015 07:28:00 GMT", "２"] {
            XCTAssertNil(APIError.parseRetryAfter(bad), "\(bad ?? "nil")")
        }
    }

    func testTheErrorCarriesRetryAfter() async throws {
        fake.inject(.statusRetryAfter(429, retryAfter: "3")) { $0.path == "/api/v1/services" }
        fake.inject(.statusRetryAfter(503, retryAfter: "later")) { $0.path == "/api/v1/nodes" }
        do {
            _ = try await client.list(ServiceResource.self, .services)
            XCTFail("expected a 429")
        } catch let e as APIError {
            XCTAssertEqual(e.httpCode, 429)
            XCTAssertEqual(e.retryAfter, 3)
            XCTAssertTrue(e.description.hasSuffix("HTTP 429: TooManyRequests injected by the test (Retry-After 3s)"), e.description)
        }
        do {
            _ = try await client.list(NodeResource.self, .node(named: "n1"))
            XCTFail("expected a 503")
        } catch let e as APIError {
            XCTAssertEqual(e.httpCode, 503)
            XCTAssertNil(e.retryAfter, "a malformed Retry-After is ignored")
        }
    }

    /// The pause the reflector announces: the server's Retry-After when longer than the backoff,
    /// the backoff otherwise, and never more than `maximumRetryAfter`.
    func testReflectorWaitsRetryAfter() async throws {
        fake.inject(.statusRetryAfter(429, retryAfter: "1"), times: 1) { !$0.isWatch }
        fake.inject(.statusRetryAfter(503, retryAfter: "0"), times: 1) { !$0.isWatch }
        fake.inject(.statusRetryAfter(429, retryAfter: "86400"), times: 1) { $0.isWatch }
        let diagnostics = DiagnosticLog()
        var options = fastReflectorOptions(diagnostics)
        options.maximumRetryAfter = 1.5
        let reflector = Reflector<ServiceResource>(client: client, kind: .services, options: options)
        let log = EventLog()
        tasks.append(startReflector(reflector, into: log))
        try await log.wait { $0 == ["replaced[]"] }
        try await fake.wait(timeout: 10, "the watch after the refused one") { $0.openWatches == 1 }
        let pauses = diagnostics.all.compactMap { line in line.range(of: "retrying in ").map { String(line[$0.upperBound...]) } }
        XCTAssertEqual(pauses, ["1.00s", "0.10s", "1.50s"], "\(diagnostics.all)")
    }
}
