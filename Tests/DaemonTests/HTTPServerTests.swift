import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import XCTest
@testable import Daemon

/// The real servers on 127.0.0.1, port 0, queried with AsyncHTTPClient and raw sockets.
final class HTTPServerTests: XCTestCase {
    let logger = Logger(label: "test")
    let t0 = 1_704_164_645.0
    static let loopback = BindAddress(host: "127.0.0.1", port: 0)

    /// Starts `server`, runs `body` with its port, then cancels it and waits until it has stopped.
    func withRunning<T>(_ server: HTTPServer, _ body: (Int) async throws -> T) async throws -> T {
        let port = try await server.start()
        let task = Task { try await server.run() }
        do {
            let value = try await body(port)
            task.cancel()
            try await task.value
            return value
        } catch {
            task.cancel()
            _ = try? await task.value
            throw error
        }
    }

    struct Reply { var status: Int; var headers: HTTPHeaders; var body: String }

    func fetch(_ port: Int, _ path: String, method: HTTPMethod = .GET) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: body))
    }

    // MARK: - Health server

    func testHealthServerAnswers200And503WithUpstreamBodies() async throws {
        let health = ProxyHealth(syncPeriod: 30)
        let metrics = ProxyMetrics()
        let clock = TestClock(t0)
        let server = HTTPServer.healthServer(address: Self.loopback, health: health, metrics: metrics,
                                             logger: logger, now: { clock.now })
        try await withRunning(server) { port in
            XCTAssertEqual(server.port, port)
            XCTAssertNotEqual(port, 0)

            var r = try await fetch(port, "/healthz")
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.headers.first(name: "Content-Type"), "application/json")
            XCTAssertEqual(r.headers.first(name: "X-Content-Type-Options"), "nosniff")
            XCTAssertEqual(r.body, #"{"lastUpdated": "2024-01-02 03:04:05 +0000 UTC","currentTime": "2024-01-02 03:04:05 +0000 UTC", "nodeEligible": true}"#)

            health.updated(at: t0)
            health.queuedUpdate(at: t0 + 1)
            clock.now = t0 + 61
            r = try await fetch(port, "/healthz")
            XCTAssertEqual(r.status, 503)
            XCTAssertEqual(r.body, #"{"lastUpdated": "2024-01-02 03:04:05 +0000 UTC","currentTime": "2024-01-02 03:05:06 +0000 UTC", "nodeEligible": true}"#)
            r = try await fetch(port, "/livez")
            XCTAssertEqual(r.status, 503)
            XCTAssertEqual(r.body, #"{"lastUpdated": "2024-01-02 03:04:05 +0000 UTC","currentTime": "2024-01-02 03:05:06 +0000 UTC"}"#)

            health.updated(at: t0 + 61)
            health.setNodeEligible(false)
            r = try await fetch(port, "/healthz?verbose")
            XCTAssertEqual(r.status, 503)
            XCTAssertTrue(r.body.hasSuffix(#""nodeEligible": false}"#), r.body)
            r = try await fetch(port, "/livez")
            XCTAssertEqual(r.status, 200)

            r = try await fetch(port, "/metrics")
            XCTAssertEqual(r.status, 404, "metrics live on the other server")
            XCTAssertEqual(r.body, "404 page not found\n")
        }
        let text = try Exposition(metrics.render())
        XCTAssertEqual(text[ProxyMetrics.Name.healthzTotal, ["code": "200"]], 1)
        XCTAssertEqual(text[ProxyMetrics.Name.healthzTotal, ["code": "503"]], 2)
        XCTAssertEqual(text[ProxyMetrics.Name.livezTotal, ["code": "200"]], 1)
        XCTAssertEqual(text[ProxyMetrics.Name.livezTotal, ["code": "503"]], 1)
    }

    func testMethodsAndHead() async throws {
        let server = HTTPServer.healthServer(address: Self.loopback, health: ProxyHealth(syncPeriod: 30), logger: logger,
                                             now: { 0 })
        try await withRunning(server) { port in
            let get = try await fetch(port, "/livez")
            let head = try await fetch(port, "/livez", method: .HEAD)
            XCTAssertEqual(head.status, 200)
            XCTAssertEqual(head.body, "")
            XCTAssertEqual(head.headers.first(name: "Content-Length"), String(get.body.utf8.count))
            XCTAssertEqual(head.headers.first(name: "Content-Type"), "application/json")

            for method in [HTTPMethod.POST, .PUT, .DELETE] {
                let r = try await fetch(port, "/healthz", method: method)
                XCTAssertEqual(r.status, 405, "\(method)")
                XCTAssertEqual(r.headers.first(name: "Allow"), "GET, HEAD")
            }
            let missing = try await fetch(port, "/nope", method: .HEAD)
            XCTAssertEqual(missing.status, 404)
            XCTAssertEqual(missing.body, "")
        }
    }

    func testKeepAliveAndPipelinedRequestsOnOneConnection() async throws {
        let server = HTTPServer.healthServer(address: Self.loopback, health: ProxyHealth(syncPeriod: 30), logger: logger,
                                             now: { 0 })
        let raw = try await withRunning(server) { port in
            try await rawExchange(port: port, """
                GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\
                HEAD /livez HTTP/1.1\r\nHost: x\r\n\r\n\
                POST /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
                GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n
                """)
        }
        // Bodies do not end in CRLF, so a status line may follow a body on the same "line".
        let statusLines = raw.components(separatedBy: "HTTP/1.1 ").dropFirst().map { "HTTP/1.1 " + $0.components(separatedBy: "\r\n")[0] }
        XCTAssertEqual(statusLines, ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 405 Method Not Allowed", "HTTP/1.1 404 Not Found"], raw)
        XCTAssertTrue(raw.hasSuffix("404 page not found\n"), "the server closed after Connection: close: \(raw)")
        XCTAssertEqual(raw.components(separatedBy: "\"currentTime\"").count, 2, "one JSON body: HEAD has none")
    }

    func testHTTP10ClosesUnlessKeepAlive() async throws {
        let server = HTTPServer.metricsServer(address: Self.loopback, metrics: ProxyMetrics(), logger: logger)
        let raw = try await withRunning(server) { port in
            try await rawExchange(port: port, "GET /healthz HTTP/1.0\r\n\r\n")
        }
        XCTAssertTrue(raw.hasPrefix("HTTP/1.0 200 OK\r\n"), raw)
        XCTAssertTrue(raw.hasSuffix("\r\n\r\nok"), raw)
    }

    // MARK: - Metrics server

    func testMetricsServer() async throws {
        let metrics = ProxyMetrics()
        metrics.setNoLocalEndpoints(internal: [.ipv4: 1], external: [:])
        let server = HTTPServer.metricsServer(address: Self.loopback, metrics: metrics, logger: logger)
        try await withRunning(server) { port in
            let r = try await fetch(port, "/metrics")
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.headers.first(name: "Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
            let text = try Exposition(Array(r.body.utf8))
            XCTAssertEqual(text.types[ProxyMetrics.Name.syncDuration], "histogram")
            XCTAssertEqual(text[ProxyMetrics.Name.noLocalEndpoints, ["ip_family": "IPv4", "traffic_policy": "internal"]], 1)

            let h = try await fetch(port, "/healthz")
            XCTAssertEqual(h.status, 200)
            XCTAssertEqual(h.body, "ok")
            let mode = try await fetch(port, "/proxyMode")
            XCTAssertEqual(mode.body, "ipvs")
            let missing = try await fetch(port, "/livez")
            XCTAssertEqual(missing.status, 404)
        }
    }

    // MARK: - Binding and lifecycle

    func testBindConflictNamesAddressAndSetting() async throws {
        let first = HTTPServer.metricsServer(address: Self.loopback, metrics: ProxyMetrics(), logger: logger)
        try await withRunning(first) { port in
            let second = HTTPServer.metricsServer(address: BindAddress(host: "127.0.0.1", port: port),
                                                  setting: "--metrics-bind-address", metrics: ProxyMetrics(), logger: logger)
            do {
                try await second.start()
                XCTFail("bound a port in use")
            } catch let e as HTTPServerError {
                XCTAssertEqual(e.reason, .bindFailed(errno: EADDRINUSE, message: "address already in use"))
                XCTAssertEqual("\(e)", "--metrics-bind-address: cannot listen on 127.0.0.1:\(port): address already in use (errno \(EADDRINUSE))")
            }
            XCTAssertNil(second.port)
            // run() fails the same way, so a ServiceGroup stops with the error.
            do {
                try await second.run()
                XCTFail("ran on a port in use")
            } catch let e as HTTPServerError {
                XCTAssertEqual(e.setting, "--metrics-bind-address")
            }
        }
    }

    func testStartIsIdempotentAndPortIsFreedAfterStop() async throws {
        let server = HTTPServer.metricsServer(address: Self.loopback, metrics: ProxyMetrics(), logger: logger)
        let port = try await withRunning(server) { port in
            let again = try await server.start()
            XCTAssertEqual(again, port)
            return port
        }
        XCTAssertNil(server.port)
        // The socket is closed: the same port can be bound again.
        let next = HTTPServer.metricsServer(address: BindAddress(host: "127.0.0.1", port: port), metrics: ProxyMetrics(), logger: logger)
        try await withRunning(next) { XCTAssertEqual($0, port) }
    }

    /// close() after start() without run(), with a connection already accepted: both the listener
    /// and the queued connection end through executeThenClose (NIO traps on a dropped, unfinished
    /// async channel, which crashed the whole test process now and then), the client sees the
    /// connection closed, and the port is free again.
    func testCloseWithoutRunEndsQueuedConnections() async throws {
        for _ in 0..<5 {
            let server = HTTPServer.metricsServer(address: Self.loopback, metrics: ProxyMetrics(), logger: logger)
            let port = try await server.start()
            try await rawConnection(port: port).executeThenClose { inbound, outbound in
                try await outbound.write(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
                try await Task.sleep(nanoseconds: 50_000_000)  // accepted and queued by the listener
                await server.close()
                var it = inbound.makeAsyncIterator()
                while (try? await it.next()) != nil {}  // ends: the server side was closed unanswered
            }
            XCTAssertNil(server.port)
            let again = HTTPServer.metricsServer(address: BindAddress(host: "127.0.0.1", port: port), metrics: ProxyMetrics(), logger: logger)
            try await withRunning(again) { XCTAssertEqual($0, port) }
        }
    }

    func testAllAddressesAcceptsIPv4() async throws {
        let server = HTTPServer.metricsServer(address: BindAddress(host: "", port: 0), metrics: ProxyMetrics(), logger: logger)
        try await withRunning(server) { port in
            let r = try await fetch(port, "/healthz")
            XCTAssertEqual(r.body, "ok")
        }
    }

    func testGracefulShutdownEndsRunAndOpenConnections() async throws {
        let server = HTTPServer.metricsServer(address: Self.loopback, metrics: ProxyMetrics(), logger: logger)
        let port = try await server.start()
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let running = Task { try await group.run() }

        // An idle keep-alive connection must not hold the shutdown up.
        let idle = try await rawConnection(port: port)
        try await idle.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
            var it = inbound.makeAsyncIterator()
            var got = ""
            while !got.hasSuffix("ok"), let chunk = try await it.next() { got += String(buffer: chunk) }
            XCTAssertTrue(got.hasPrefix("HTTP/1.1 200 OK"), got)

            await group.triggerGracefulShutdown()
            try await running.value
            // The server closed this connection: the stream ends.
            while (try? await it.next()) != nil {}
        }
        XCTAssertNil(server.port)
        do {
            _ = try await rawConnection(port: port)
            XCTFail("still accepting after shutdown")
        } catch {}
    }

    // MARK: - Raw sockets

    typealias RawConnection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    func rawConnection(port: Int) async throws -> RawConnection {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try RawConnection(wrappingChannelSynchronously: channel) }
            }
    }

    /// Sends `request` and returns everything the server sends until it closes the connection.
    func rawExchange(port: Int, _ request: String) async throws -> String {
        try await rawConnection(port: port).executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var all = ""
            for try await chunk in inbound { all += String(buffer: chunk) }
            return all
        }
    }
}

/// A settable clock for the health server.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Double
    init(_ value: Double) { self.value = value }
    var now: Double {
        get { lock.lock(); defer { lock.unlock() }; return value }
        set { lock.lock(); value = newValue; lock.unlock() }
    }
}
