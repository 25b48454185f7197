// MARK: - A small HTTP/1.1 server for /healthz, /livez and /metrics
//
// kube-proxy serves these with Go's net/http; here they are a few routes on a SwiftNIO HTTP/1.1
// server pipeline, so the daemon needs no web framework. GET and HEAD only; keep-alive; one task
// per connection, all of them children of `run()`, so that a graceful shutdown (or cancellation)
// ends them together and then closes the listening socket. Idle connections are closed and their
// number is capped (ConnectionLimits.swift).
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// What a route answers to a GET (a HEAD gets the same head without the body).
public struct HTTPResponse: Sendable, Equatable {
    /// The status code, such as 200 or 503.
    public var status: Int
    /// The `Content-Type` header.
    public var contentType: String
    public var body: [UInt8]
    /// Further headers, written in name order (Content-Type, Content-Length and
    /// X-Content-Type-Options are always written).
    public var headers: [String: String]

    public init(status: Int = 200, contentType: String, body: [UInt8], headers: [String: String] = [:]) {
        self.status = status; self.contentType = contentType; self.body = body; self.headers = headers
    }

    public init(status: Int = 200, contentType: String = "text/plain; charset=utf-8", text: String, headers: [String: String] = [:]) {
        self.init(status: status, contentType: contentType, body: Array(text.utf8), headers: headers)
    }

    /// Go's `http.NotFound`.
    static let notFound = HTTPResponse(status: 404, text: "404 page not found\n")
    /// Go's ServeMux answer to a method no pattern allows.
    static let methodNotAllowed = HTTPResponse(status: 405, text: "Method Not Allowed\n")
}

// MARK: - Bind addresses

/// An address to listen on, written as kube-proxy's `healthzBindAddress` and `metricsBindAddress`:
/// `0.0.0.0:10256`, `127.0.0.1:10249`, `[::]:10256`, or `:10256` for every address.
public struct BindAddress: Sendable, Hashable, CustomStringConvertible {
    /// An IPv4 or IPv6 address (no brackets); empty for every address of both families.
    public var host: String
    /// The TCP port; 0 asks the kernel for a free one (tests).
    public var port: Int

    public init(host: String, port: Int) { self.host = host; self.port = port }

    /// Parses `text` as kube-proxy does: `IP:port`, `[IPv6]:port`, `:port`, or a bare IP, which
    /// gets `defaultPort` (kube-proxy's AppendPortIfNeeded) and is an error without one.
    /// The port must be 1-65535. `setting` (`healthzBindAddress`, `--metrics-bind-address`...)
    /// names the setting in the error.
    public static func parse(_ text: String, setting: String, defaultPort: Int? = nil) throws -> BindAddress {
        func bad(_ why: String) -> HTTPServerError {
            HTTPServerError(setting: setting, address: text, reason: .invalidAddress(why))
        }
        guard !text.isEmpty else { throw bad("must be IP:port, such as 0.0.0.0:10256") }
        if isIP(text) {
            guard let defaultPort else { throw bad("missing port (must be IP:port)") }
            return BindAddress(host: text, port: defaultPort)
        }
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw bad("missing ']' after the IPv6 address") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw bad("missing port after ']' (must be [IPv6]:port)") }
            portText = rest.dropFirst()
            guard host.contains(":"), isIP(String(host)) else { throw bad("\"\(host)\" is not an IPv6 address") }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw bad("missing port (must be IP:port)") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { throw bad("an IPv6 address needs brackets: [IPv6]:port") }
            if !host.isEmpty && !isIP(String(host)) { throw bad("\"\(host)\" is not an IP address") }
        }
        guard !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }), portText.count <= 5,
              let port = Int(portText), (1...65535).contains(port) else {
            throw bad("\"\(portText)\" is not a valid port (1-65535)")
        }
        return BindAddress(host: String(host), port: port)
    }

    private static func isIP(_ s: String) -> Bool {
        (try? SocketAddress(ipAddress: s, port: 0)) != nil
    }

    /// `IP:port`, `[IPv6]:port` or `:port`.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// A bad bind address, or a socket that could not be bound.
public struct HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// The text is not an address kube-proxy accepts; says why.
        case invalidAddress(String)
        /// bind(2) or listen(2) failed; the errno when known, and its text.
        case bindFailed(errno: Int32?, message: String)
    }
    /// The setting the address came from, such as `healthzBindAddress`.
    public var setting: String
    /// The address as given.
    public var address: String
    public var reason: Reason

    public var description: String {
        switch reason {
        case .invalidAddress(let why):
            return "invalid \(setting) \"\(address)\": \(why)"
        case .bindFailed(let errno, let message):
            let code = errno.map { " (errno \($0))" } ?? ""
            return "\(setting): cannot listen on \(address): \(message)\(code)"
        }
    }
}

// MARK: - The server

/// An HTTP/1.1 server answering GET and HEAD from a routing closure; a swift-service-lifecycle
/// `Service` that serves until graceful shutdown or cancellation, then closes its socket.
public final class HTTPServer: Service, Sendable {
    /// Answers a path (without the query string); nil for 404.
    public typealias Routes = @Sendable (_ path: String) -> HTTPResponse?
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
    typealias Listener = NIOAsyncChannel<Connection, Never>

    /// Where it listens.
    public let address: BindAddress
    /// The setting `address` came from, for logs and errors.
    public let setting: String
    private let routes: Routes
    private let logger: Logger
    private let group: any EventLoopGroup
    /// The idle timeout and the connection cap (see ConnectionLimits.swift).
    public let limits: ConnectionLimits
    let connections: ConnectionTracker

    private enum State {
        case idle
        case bound(Listener, port: Int)
        case running(port: Int)
    }
    private let state = Mutex(State.idle)

    public init(address: BindAddress, setting: String, logger: Logger,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                limits: ConnectionLimits = ConnectionLimits(), routes: @escaping Routes) {
        self.address = address; self.setting = setting; self.logger = logger
        self.group = eventLoopGroup; self.routes = routes
        self.limits = limits
        self.connections = ConnectionTracker(maxConnections: limits.maxConnections)
    }

    /// The port it listens on once `start()` has returned (the real one when asked for port 0).
    public var port: Int? {
        state.withLock {
            switch $0 {
            case .bound(_, let port), .running(let port): return port
            case .idle: return nil
            }
        }
    }

    /// Binds the socket now, so that a busy port fails at startup; returns the bound port.
    /// `run()` calls it when it has not been called; calling it again returns the same port.
    @discardableResult
    public func start() async throws -> Int {
        if let port { return port }
        let listener = try await bind()
        let port = listener.channel.localAddress?.port ?? address.port
        let kept = state.withLock { s -> Bool in
            guard case .idle = s else { return false }
            s = .bound(listener, port: port)
            return true
        }
        if !kept {  // a concurrent start() won
            await Self.discard(listener)
            return self.port ?? port
        }
        logger.info("listening", metadata: ["setting": "\(setting)", "address": "\(BindAddress(host: address.host, port: port))"])
        return port
    }

    /// Closes the socket bound by `start()` when `run()` has not taken it over (a caller that
    /// gives up between the two); does nothing otherwise.
    public func close() async {
        let listener: Listener? = state.withLock { s in
            guard case .bound(let l, _) = s else { return nil }
            s = .idle
            return l
        }
        if let listener { await Self.discard(listener) }
    }

    /// The serving tasks of one `run()`: each removes itself when done; at shutdown all are
    /// cancelled, including any started afterwards.
    private final class ServingTasks: Sendable {
        private let state = Mutex((tasks: [Int: Task<Void, Never>](), next: 0, cancelled: false))
        func start(_ body: @escaping @Sendable () async -> Void) {
            let key = state.withLock { s -> Int in s.next += 1; return s.next }
            let task = Task {
                await body()
                _ = self.state.withLock { $0.tasks.removeValue(forKey: key) }
            }
            let cancelNow = state.withLock { s -> Bool in
                s.tasks[key] = task
                return s.cancelled
            }
            if cancelNow { task.cancel() }
        }
        func cancelAll() {
            let tasks = state.withLock { s -> [Task<Void, Never>] in s.cancelled = true; return Array(s.tasks.values) }
            for t in tasks { t.cancel() }
        }
        /// Waits until every running task has ended.
        func waitAll() async {
            while let (key, task) = state.withLock({ s in s.tasks.first.map { ($0.key, $0.value) } }) {
                await task.value
                _ = state.withLock { $0.tasks.removeValue(forKey: key) }  // if it ended before it was stored
            }
        }
    }

    /// Closes a listener that `run()` never took over. An NIOAsyncChannel must end through
    /// `executeThenClose` (dropping one with its writer unfinished is a fatal error in NIO), and
    /// so must every connection it accepted meanwhile: close the socket, then drain and close
    /// the connections still queued.
    private static func discard(_ listener: Listener) async {
        try? await listener.channel.close()
        try? await listener.executeThenClose { inbound in
            for try await connection in inbound {
                try? await connection.executeThenClose { _, _ in }
            }
        }
    }

    /// Serves until graceful shutdown or cancellation, then closes every connection and the socket.
    public func run() async throws {
        try await start()
        let listener: Listener? = state.withLock { s in
            guard case .bound(let l, let port) = s else { return nil }
            s = .running(port: port)
            return l
        }
        guard let listener else { return }  // already running in another task
        defer { state.withLock { $0 = .idle } }  // start() or run() may bind again
        // Shutdown closes the socket instead of cancelling the accept loop: a cancelled iterator
        // drops the connections still queued, and NIO traps on a connection dropped without
        // executeThenClose. A closed socket ends the loop after every queued connection has been
        // handed to serve(), whose task is cancelled at once (it closes the connection).
        let connections = ServingTasks()
        do {
            try await cancelWhenGracefulShutdown {
                try await withTaskCancellationHandler {
                    try await listener.executeThenClose { inbound in
                        let accept = Task {
                            for try await connection in inbound { connections.start { await self.serve(connection) } }
                        }
                        _ = await accept.result
                        await connections.waitAll()
                    }
                } onCancel: {
                    listener.channel.close(promise: nil)
                    connections.cancelAll()
                }
                try Task.checkCancellation()
            }
        } catch is CancellationError {
            // Shutdown, not a failure: executeThenClose has closed the socket.
        }
        logger.info("stopped listening", metadata: ["setting": "\(setting)"])
    }

    // MARK: - Binding

    private func bind() async throws -> Listener {
        if address.host.isEmpty {
            // Every address, as Go's net.Listen(":port"): IPv6 "::" accepts IPv4 too (bindv6only=0);
            // fall back to 0.0.0.0 on a node without IPv6.
            do {
                return try await bind(host: "::")
            } catch let e as HTTPServerError {
                guard case .bindFailed(let errno?, _) = e.reason, errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL else { throw e }
                return try await bind(host: "0.0.0.0")
            }
        }
        return try await bind(host: address.host)
    }

    private func bind(host: String) async throws -> Listener {
        let socketAddress: SocketAddress
        do {
            socketAddress = try SocketAddress(ipAddress: host, port: address.port)
        } catch {
            throw HTTPServerError(setting: setting, address: address.description,
                                  reason: .invalidAddress("\"\(host)\" is not an IP address"))
        }
        do {
            let idle = limits.idleTimeout, connections = self.connections
            return try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(ChannelOptions.backlog, value: 128)
                .bind(to: socketAddress) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        connections.opened(channel)
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: idle))
                        try channel.pipeline.syncOperations.addHandler(IdleConnectionCloser())
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        return try Connection(wrappingChannelSynchronously: channel)
                    }
                }
        } catch let e as IOError {
            throw HTTPServerError(setting: setting, address: address.description,
                                  reason: .bindFailed(errno: e.errnoCode, message: Self.strerror(e.errnoCode)))
        } catch {
            throw HTTPServerError(setting: setting, address: address.description,
                                  reason: .bindFailed(errno: nil, message: "\(error)"))
        }
    }

    private static func strerror(_ code: Int32) -> String {
        #if canImport(Glibc)
        return String(cString: Glibc.strerror(code)).lowercased()
        #else
        return "errno \(code)"
        #endif
    }

    // MARK: - Serving

    private func serve(_ connection: Connection) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                    case .body:
                        continue  // no route reads a body
                    case .end:
                        guard let request = head else { continue }
                        head = nil
                        try await self.respond(to: request, outbound: outbound)
                        if !request.isKeepAlive { return }
                    }
                }
            }
        } catch {
            logger.debug("connection ended", metadata: ["setting": "\(setting)", "error": "\(error)"])
        }
    }

    /// The response to one request, as the status code, headers and body it gets.
    func response(to request: HTTPRequestHead) -> (HTTPResponse, extraHeaders: [(String, String)]) {
        guard request.method == .GET || request.method == .HEAD else {
            return (.methodNotAllowed, [("Allow", "GET, HEAD")])
        }
        return (routes(Self.path(of: request.uri)) ?? .notFound, [])
    }

    private func respond(to request: HTTPRequestHead, outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        let (r, extra) = response(to: request)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: r.contentType)
        headers.add(name: "Content-Length", value: String(r.body.count))
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        for (name, value) in r.headers.sorted(by: { $0.key < $1.key }) { headers.add(name: name, value: value) }
        for (name, value) in extra { headers.add(name: name, value: value) }
        if request.isKeepAlive {
            if request.version.major == 1 && request.version.minor == 0 { headers.add(name: "Connection", value: "keep-alive") }
        } else {
            headers.add(name: "Connection", value: "close")
        }
        let head = HTTPResponseHead(version: request.version, status: HTTPResponseStatus(statusCode: r.status), headers: headers)
        try await outbound.write(.head(head))
        // The encoder drops the body of a response to HEAD; do not hand it one.
        if request.method != .HEAD && !r.body.isEmpty {
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: r.body))))
        }
        try await outbound.write(.end(nil))
    }

    /// The path of a request target: origin form (`/healthz?x=1`) or absolute form
    /// (`http://host/healthz`), without query or fragment.
    static func path(of uri: String) -> String {
        var target = Substring(uri)
        if !target.hasPrefix("/"), let scheme = target.firstRange(of: "://") {
            let afterScheme = target[scheme.upperBound...]
            target = afterScheme.firstIndex(of: "/").map { afterScheme[$0...] } ?? "/"
        }
        if let end = target.firstIndex(where: { $0 == "?" || $0 == "#" }) { target = target[..<end] }
        return String(target)
    }
}
