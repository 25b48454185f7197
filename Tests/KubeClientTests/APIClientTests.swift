import Foundation
#if canImport(Glibc)
import Glibc
#endif
import KubeClient
import KubeFakeAPI
import KubeModel
import XCTest

// MARK: - APIClient against the fake API server: lists, discovery, tokens, TLS, timeouts

final class APIClientTests: XCTestCase {
    private var fake: FakeKubeAPI!
    private var clients: [APIClient] = []
    private var tlsFakes: [FakeKubeAPI] = []

    override func setUp() async throws {
        fake = try await FakeKubeAPI.start()
    }

    override func tearDown() async throws {
        for c in clients { try? await c.shutdown() }
        clients = []
        for f in tlsFakes { try? await f.shutdown() }
        tlsFakes = []
        try await fake?.shutdown()
    }

    private func client(_ config: KubeConfig? = nil, _ options: APIClient.Options = fastOptions()) throws -> APIClient {
        let c = try APIClient(config: config ?? KubeConfig(server: fake.url), options: options)
        clients.append(c)
        return c
    }

    // MARK: List

    func testPaginatedList() async throws {
        for i in 1...7 { try fake.put("/api/v1/services", json: serviceJSON("svc-\(i)")) }
        let rv = fake.resourceVersion
        let list = try await client().list(ServiceResource.self, .services, pageSize: 3)
        XCTAssertEqual(list.items.compactMap { $0.metadata?.name }, (1...7).map { "svc-\($0)" })
        XCTAssertEqual(list.items.first?.spec?.ports?.first?.targetPort, .int(8080))
        XCTAssertEqual(list.resourceVersion, rv)
        XCTAssertEqual(list.pages, 3)
        let reqs = listRequests(fake, "/api/v1/services")
        XCTAssertEqual(reqs.map { $0.query["limit"] }, ["3", "3", "3"])
        XCTAssertNil(reqs[0].query["continue"])
        XCTAssertNotNil(reqs[1].query["continue"])
        XCTAssertNotEqual(reqs[1].query["continue"], reqs[2].query["continue"])
    }

    /// A list costs one token of the client-side rate limiter, whatever its pages (kube-proxy's
    /// resourceVersion=0 list is one request); every other request costs one.
    func testAPaginatedListTakesOneRateLimiterToken() async throws {
        for i in 1...7 { try fake.put("/api/v1/services", json: serviceJSON("svc-\(i)")) }
        var options = fastOptions()
        options.rateLimit = (qps: 1000, burst: 1000)
        let c = try client(nil, options)
        let list = try await c.list(ServiceResource.self, .services, pageSize: 3)
        XCTAssertEqual(list.pages, 3)
        XCTAssertEqual(c.limiter?.tokensTaken, 1)
        _ = try await c.list(ServiceResource.self, .services, pageSize: 0)
        _ = try await c.serverVersion()
        XCTAssertEqual(c.limiter?.tokensTaken, 3)
    }

    func testEmptyListAndFieldSelector() async throws {
        let c = try client()
        let empty = try await c.list(ServiceResource.self, .services)
        XCTAssertEqual(empty.items.count, 0)
        XCTAssertEqual(empty.pages, 1)
        try fake.put("/api/v1/nodes", json: nodeJSON("n1", address: "192.168.0.1"))
        try fake.put("/api/v1/nodes", json: nodeJSON("n2", address: "192.168.0.2"))
        let nodes = try await c.list(NodeResource.self, .node(named: "n2"))
        XCTAssertEqual(nodes.items.map { $0.status?.addresses?.first?.address }, ["192.168.0.2"])
        XCTAssertEqual(fake.requests.last?.query["fieldSelector"], "metadata.name=n2")
    }

    func testExpiredContinueTokenFallsBackToOneFullList() async throws {
        for i in 1...5 { try fake.put("/api/v1/services", json: serviceJSON("svc-\(i)")) }
        fake.setContinueTokensExpire(true)
        let list = try await client().list(ServiceResource.self, .services, pageSize: 2)
        XCTAssertEqual(list.items.count, 5)
        let reqs = listRequests(fake, "/api/v1/services")
        XCTAssertEqual(reqs.count, 3)  // page 1, page 2 (410), then one unpaginated list
        XCTAssertNil(reqs[2].query["limit"])
        XCTAssertNil(reqs[2].query["continue"])
    }

    func testErrorStatusIsReported() async throws {
        fake.inject(.status(403)) { $0.path == "/api/v1/services" }
        do {
            _ = try await client().list(ServiceResource.self, .services)
            XCTFail("expected an error")
        } catch let e as APIError {
            XCTAssertEqual(e.httpCode, 403)
            guard case .http(_, let status?, _, _, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(status.reason, "InjectedFault")
        }
    }

    // MARK: Discovery

    func testEndpointSliceVersionDiscovery() async throws {
        let c = try client()
        let preferred = try await c.preferredEndpointSliceVersion()
        XCTAssertEqual(preferred, "v1")
        fake.setDiscoveryVersions(["v1beta1"])  // Kubernetes 1.20
        let fallback = try await c.preferredEndpointSliceVersion()
        XCTAssertEqual(fallback, "v1beta1")
        fake.setDiscoveryVersions(["v1alpha1"])
        do {
            _ = try await c.preferredEndpointSliceVersion()
            XCTFail("expected an error")
        } catch APIError.endpointSlicesUnavailable(let offered) {
            XCTAssertEqual(offered, ["v1alpha1"])
        }
        fake.setDiscoveryVersions(nil)  // 404: no discovery.k8s.io at all
        do {
            _ = try await c.preferredEndpointSliceVersion()
            XCTFail("expected an error")
        } catch APIError.endpointSlicesUnavailable(let offered) {
            XCTAssertEqual(offered, [])
        }
        let version = try await c.serverVersion()
        XCTAssertEqual(version, "v1.20.2-fake")
    }

    // MARK: Tokens

    func testTokenFileRotationIsPickedUpAfter401() async throws {
        let dir = try temporaryDirectory(self)
        let tokenFile = dir + "/token"
        try write("token-one\n", to: tokenFile)
        fake.requireToken("token-one")
        let c = try client(KubeConfig(server: fake.url, bearerTokenFile: tokenFile), fastOptions(tokenRecheck: 3600))
        _ = try await c.list(ServiceResource.self, .services)

        // The kubelet rotates the token; the server stops accepting the old one.
        try write("token-two\n", to: tokenFile)
        fake.requireToken("token-two")
        _ = try await c.list(ServiceResource.self, .services)
        XCTAssertEqual(fake.requests.map { $0.authorization ?? "-" },
                       ["Bearer token-one", "Bearer token-one", "Bearer token-two"])
    }

    func testTokenFileIsRereadPeriodically() async throws {
        let dir = try temporaryDirectory(self)
        let tokenFile = dir + "/token"
        try write("token-one", to: tokenFile)
        let c = try client(KubeConfig(server: fake.url, bearerTokenFile: tokenFile), fastOptions(tokenRecheck: 0.5))
        _ = try await c.list(ServiceResource.self, .services)
        try write("token-two", to: tokenFile)
        _ = try await c.list(ServiceResource.self, .services)  // within the interval: cached
        try await Task.sleep(nanoseconds: 600_000_000)
        _ = try await c.list(ServiceResource.self, .services)
        XCTAssertEqual(fake.requests.map { $0.authorization ?? "-" },
                       ["Bearer token-one", "Bearer token-one", "Bearer token-two"])
    }

    func testUnauthorizedWithAFixedTokenFailsWithoutRetry() async throws {
        fake.requireToken("right")
        let c = try client(KubeConfig(server: fake.url, bearerToken: "wrong"))
        do {
            _ = try await c.list(ServiceResource.self, .services)
            XCTFail("expected an error")
        } catch let e as APIError {
            XCTAssertEqual(e.httpCode, 401)
        }
        XCTAssertEqual(fake.requests.count, 1)
    }

    // MARK: Timeouts

    func testSlowAnswerTimesOut() async throws {
        fake.inject(.delay(3)) { $0.path == "/api/v1/services" }
        let c = try client(nil, fastOptions(requestTimeout: 0.3))
        let start = Date()
        do {
            _ = try await c.list(ServiceResource.self, .services)
            XCTFail("expected a timeout")
        } catch APIError.timeout(let op, let seconds) {
            XCTAssertEqual(op, "GET /api/v1/services")
            XCTAssertEqual(seconds, 0.3)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
        // The next request is answered at once.
        let list = try await c.list(ServiceResource.self, .services)
        XCTAssertEqual(list.items.count, 0)
    }

    func testHangingServerTimesOut() async throws {
        fake.inject(.hang) { $0.isWatch }
        let c = try client(nil, fastOptions(requestTimeout: 0.3))
        do {
            for try await _ in c.watch(ServiceResource.self, .services, resourceVersion: fake.resourceVersion) {}
            XCTFail("expected a timeout")
        } catch APIError.timeout {}
    }

    func testQuietWatchHitsTheIdleTimeout() async throws {
        let c = try client()
        let start = Date()
        do {
            for try await _ in c.watch(ServiceResource.self, .services, resourceVersion: fake.resourceVersion, idleTimeout: 0.4) {}
            XCTFail("expected an idle timeout")
        } catch APIError.watchIdle(_, let seconds) {
            XCTAssertEqual(seconds, 0.4)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        try await fake.wait(timeout: 2, "the watch to close") { $0.openWatches == 0 }
    }

    // MARK: Watch

    func testWatchStreamsEventsAndBookmarks() async throws {
        let c = try client()
        let from = fake.resourceVersion
        try fake.put("/api/v1/services", json: serviceJSON("a"))  // before the watch: replayed
        var seen: [String] = []
        let stream = c.watch(ServiceResource.self, .services, resourceVersion: from)
        for try await event in stream {
            switch event {
            case .added(let s): seen.append("added \(s.metadata!.name!)")
                try fake.put("/api/v1/services", json: serviceJSON("a", clusterIP: "10.96.0.11"))
            case .modified(let s): seen.append("modified \(s.metadata!.name!) \(s.spec!.clusterIP!)")
                fake.bookmark("/api/v1/services")
            case .bookmark(let rv): seen.append("bookmark \(rv)")
                try fake.delete("/api/v1/services", namespace: "default", name: "a")
            case .deleted(let s): seen.append("deleted \(s.metadata!.name!)")
                fake.expireWatches("/api/v1/services")
            case .error(let st): seen.append("error \(st.code!)")
            }
        }
        XCTAssertEqual(seen, ["added a", "modified a 10.96.0.11", "bookmark 103", "deleted a", "error 410"])
        let w = watchRequests(fake, "/api/v1/services")[0]
        XCTAssertEqual(w.query["resourceVersion"], from)
        XCTAssertEqual(w.query["allowWatchBookmarks"], "true")
        XCTAssertEqual(w.query["timeoutSeconds"], "300")
    }

    func testWatchFromACompactedVersionGets410() async throws {
        let old = fake.resourceVersion
        try fake.put("/api/v1/services", json: serviceJSON("a"))
        fake.compact()
        let c = try client()
        var events: [WatchEvent<ServiceResource>] = []
        for try await e in c.watch(ServiceResource.self, .services, resourceVersion: old) { events.append(e) }
        guard events.count == 1, case .error(let st) = events[0] else { return XCTFail("\(events)") }
        XCTAssertEqual(st.code, 410)

        fake.setWatchGoneAsHTTPStatus(true)
        do {
            for try await _ in c.watch(ServiceResource.self, .services, resourceVersion: old) {}
            XCTFail("expected 410")
        } catch let e as APIError {
            XCTAssertTrue(e.isGone, "\(e)")
        }
    }

    func testDroppedWatchThrows() async throws {
        let c = try client()
        let stream = c.watch(ServiceResource.self, .services, resourceVersion: fake.resourceVersion)
        try await fake.wait(timeout: 5, "the watch") { $0.openWatches == 1 }
        fake.dropWatches()
        do {
            for try await _ in stream {}
            XCTFail("expected an error")
        } catch let e as APIError {
            guard case .transport = e else { return XCTFail("\(e)") }
        }
    }

    // MARK: TLS

    func testTLSVerifiesTheServerAgainstTheConfiguredCA() async throws {
        let tlsFake = try await FakeKubeAPI.start(tls: FakeTLS())
        tlsFakes.append(tlsFake)
        try tlsFake.put("/api/v1/services", json: serviceJSON("a"))

        let good = try client(KubeConfig(server: tlsFake.url, certificateAuthorityPEM: Array(TestCertificates.caCertificate.utf8)))
        let list = try await good.list(ServiceResource.self, .services)
        XCTAssertEqual(list.items.count, 1)

        let wrongCA = try client(KubeConfig(server: tlsFake.url, certificateAuthorityPEM: Array(TestCertificates.otherCACertificate.utf8)))
        await assertTransportError { _ = try await wrongCA.list(ServiceResource.self, .services) }

        let systemRoots = try client(KubeConfig(server: tlsFake.url))
        await assertTransportError { _ = try await systemRoots.list(ServiceResource.self, .services) }

        let insecure = try client(KubeConfig(server: tlsFake.url, insecureSkipTLSVerify: true))
        let again = try await insecure.list(ServiceResource.self, .services)
        XCTAssertEqual(again.items.count, 1)
    }

    func testClientCertificate() async throws {
        let tlsFake = try await FakeKubeAPI.start(tls: FakeTLS(clientCAPEM: TestCertificates.caCertificate))
        tlsFakes.append(tlsFake)
        let ca = Array(TestCertificates.caCertificate.utf8)
        let withCert = try client(KubeConfig(server: tlsFake.url, certificateAuthorityPEM: ca,
                                             clientCertificatePEM: Array(TestCertificates.clientCertificate.utf8),
                                             clientKeyPEM: Array(TestCertificates.clientKey.utf8)))
        let list = try await withCert.list(ServiceResource.self, .services)
        XCTAssertEqual(list.items.count, 0)

        let without = try client(KubeConfig(server: tlsFake.url, certificateAuthorityPEM: ca))
        await assertTransportError { _ = try await without.list(ServiceResource.self, .services) }
    }

    func testKubeconfigEndToEnd() async throws {
        let tlsFake = try await FakeKubeAPI.start(tls: FakeTLS())
        tlsFakes.append(tlsFake)
        tlsFake.requireToken("kc-token")
        let dir = try temporaryDirectory(self)
        try write(TestCertificates.caCertificate, to: dir + "/ca.crt")
        try write("""
        apiVersion: v1
        kind: Config
        clusters: [{name: local, cluster: {server: "\(tlsFake.url)", certificate-authority: ca.crt}}]
        users: [{name: admin, user: {token: kc-token}}]
        contexts: [{name: local, context: {cluster: local, user: admin}}]
        current-context: local
        """, to: dir + "/kubeconfig")
        let c = try client(try KubeConfig.load(kubeconfigPath: dir + "/kubeconfig"))
        let version = try await c.preferredEndpointSliceVersion()
        XCTAssertEqual(version, "v1")
    }

    private func assertTransportError(file: StaticString = #filePath, line: UInt = #line,
                                      _ body: () async throws -> Void) async {
        do {
            try await body()
            XCTFail("expected a TLS failure", file: file, line: line)
        } catch let e as APIError {
            guard case .transport = e else { return XCTFail("\(e)", file: file, line: line) }
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }
}

/// A TCP listener on 127.0.0.1 that accepts connections and never sends a byte (an API server
/// gone behind a proxy that still accepts, like QEMU's guestfwd when its target is down).
final class SilentListener: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private var accepted: [Int32] = []
    private var thread: Thread?

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard ok == 0, listen(fd, 16) == 0 else { throw CocoaError(.fileWriteUnknown) }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.port = Int(UInt16(bigEndian: addr.sin_port))
        let listening = self.fd
        thread = Thread { [weak self] in
            while true {
                let c = accept(listening, nil, nil)
                if c < 0 { return }
                self?.accepted.append(c)
            }
        }
        thread?.start()
    }

    func close() {
        shutdown(fd, Int32(SHUT_RDWR))
        _ = Glibc.close(fd)
        for c in accepted { _ = Glibc.close(c) }
    }
}

extension APIClientTests {
    func testWatchOnAConnectionThatNeverAnswersTimesOut() async throws {
        let silent = try SilentListener()
        defer { silent.close() }
        let c = try client(KubeConfig(server: "https://127.0.0.1:\(silent.port)", insecureSkipTLSVerify: true),
                           fastOptions(requestTimeout: 0.5))
        let start = Date()
        do {
            for try await _ in c.watch(ServiceResource.self, .services, resourceVersion: "1") {}
            XCTFail("expected a timeout")
        } catch APIError.timeout {
        } catch {
            XCTFail("expected APIError.timeout, got \(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "bounded by requestTimeout, not by the watch's idle timeout")
    }
}
