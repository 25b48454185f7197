import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL

// MARK: - A small Kubernetes API client: list (paginated), watch, discovery
//
// (Over 400 lines: one client whose list, watch and discovery share the connection, timeout and
// error handling below; split, each part would need the others' internals.)
//
// Only GETs: kube-ipvs reads the API, it never writes. Every request has a timeout: a request
// that answers with a body must finish within `requestTimeout`; a watch must send its response
// head within `requestTimeout` and then something (an event or a bookmark) at least every
// `idleTimeout` (by default the server-side timeoutSeconds plus a grace period).

/// One page-joined list: the objects and the collection's resourceVersion to watch from.
public struct ListResult<T: Sendable>: Sendable {
    public var items: [T]
    /// The list's `metadata.resourceVersion`; a watch from it sees every later change.
    public var resourceVersion: String
    /// Number of requests (pages) it took.
    public var pages: Int
    /// The encoding the server answered the last page in.
    public var encoding: APIEncoding = .json
}

/// Reads a Kubernetes API server: `list`, `watch`, discovery. Safe to share between tasks.
public final class APIClient: Sendable {
    /// Timeouts and limits.
    public struct Options: Sendable {
        /// Seconds a non-watch request may take in all (head and body), and a watch's head.
        public var requestTimeout: Double = 30
        /// Seconds to establish a connection (TCP and TLS).
        public var connectTimeout: Double = 10
        /// Seconds between re-reads of a bearer token file (it is also re-read after a 401).
        public var tokenRecheckInterval: Double = 5
        /// Largest response body accepted for a list page or an error, in bytes.
        public var maximumBodyBytes: Int = 256 << 20
        /// Longest single watch event accepted, in bytes (a JSON line or a protobuf frame).
        public var maximumWatchLineBytes: Int = 64 << 20
        /// The encoding lists and watches ask for (clientConnection.contentType); the answer is
        /// read in whatever encoding the server chose.
        public var encoding: APIEncoding = .protobuf
        /// Sent as `User-Agent`.
        public var userAgent: String = "kube-ipvs"
        /// Receives one line per request step (start, response head, failure, watch end), for
        /// trace-level logs; nil: nothing is traced.
        public var trace: (@Sendable (String) -> Void)? = nil
        /// Client-side limit of requests (clientConnection.qps/burst); nil: none.
        public var rateLimit: (qps: Double, burst: Int)? = nil
        /// Receives every request's result and every list or get's latency (the daemon's
        /// rest_client_* metrics); nil: nothing is reported.
        public var onRequest: (@Sendable (APIRequestEvent) -> Void)? = nil
        /// Default options.
        public init() {}
    }

    /// The settings this client was built from.
    public let config: KubeConfig
    /// The timeouts and limits in force.
    public let options: Options
    private let http: HTTPClient
    private let credentials: Credentials
    private let isShutDown = NIOLockedValueBox(false)
    /// The client-side rate limit (`Options.rateLimit`), nil when there is none.
    public let limiter: RateLimiter?
    /// The server's `host:port` as written in its URL (client-go's `host` label).
    public let serverHost: String

    /// Builds a client; throws `KubeConfigError` when the TLS material cannot be used.
    public init(config: KubeConfig, options: Options = Options()) throws {
        self.config = config
        self.options = options
        self.limiter = options.rateLimit.map { RateLimiter(qps: $0.qps, burst: $0.burst) }
        self.serverHost = APIRequestEvent.host(ofServer: config.server)
        self.credentials = Credentials(config: config, recheckInterval: .nanoseconds(Int64(options.tokenRecheckInterval * 1e9)))
        let tls = try Self.tlsConfiguration(config)
        var conf = HTTPClient.Configuration(
            tlsConfiguration: tls,
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(Int64(options.connectTimeout * 1e9)), read: nil),
            decompression: .disabled)
        // The reflector retries with its own backoff; a failed connection should surface at once.
        conf.connectionPool.retryConnectionEstablishment = false
        // Four long-lived watches plus lists must never queue behind each other on HTTP/1.1.
        conf.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: conf)
    }

    /// Closes connections; ongoing requests fail. Dropping the client without it also shuts
    /// the connections down (in the background), so this is for an orderly, awaited stop.
    public func shutdown() async throws {
        guard isShutDown.withLockedValue({ was in defer { was = true }; return !was }) else { return }
        try await http.shutdown()
    }

    deinit {
        // AsyncHTTPClient traps in debug builds when a client is dropped while running.
        if !isShutDown.withLockedValue({ $0 }) { http.shutdown { _ in } }
    }

    // MARK: - TLS

    static func tlsConfiguration(_ config: KubeConfig) throws -> TLSConfiguration? {
        guard config.server.lowercased().hasPrefix("https:") else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        if config.insecureSkipTLSVerify {
            tls.certificateVerification = .none
        } else if let ca = config.certificateAuthorityPEM {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(ca))
            } catch {
                throw KubeConfigError(file: config.source, field: "certificate-authority", message: "not a PEM certificate (\(error))")
            }
        }
        if let cert = config.clientCertificatePEM, let key = config.clientKeyPEM {
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(cert).map { .certificate($0) }
            } catch {
                throw KubeConfigError(file: config.source, field: "client-certificate", message: "not a PEM certificate (\(error))")
            }
            do {
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
            } catch {
                throw KubeConfigError(file: config.source, field: "client-key", message: "not a PEM private key (\(error))")
            }
        }
        return tls
    }

    // MARK: - Requests

    /// The URL for `path` with `query` (values percent-encoded).
    func url(_ path: String, _ query: [(String, String)]) -> String {
        var s = config.server + path
        if !query.isEmpty {
            s += "?" + query.map { "\($0.0)=\(Self.percentEncode($0.1))" }.joined(separator: "&")
        }
        return s
    }

    static func percentEncode(_ s: String) -> String {
        // RFC 3986 unreserved characters stay; everything else (=, !, ",", /) is encoded.
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            default:
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xf)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Sends a GET and returns the response head; retries once after a 401 when the token rotated.
    /// `charged`: whether it takes a token of the rate limiter (a list's later pages do not).
    private func execute(_ path: String, _ query: [(String, String)], accept: String, charged: Bool = true) async throws -> HTTPClientResponse {
        var retried = false
        while true {
            if charged || retried { try await limiter?.acquire() }
            var request = HTTPClientRequest(url: url(path, query))
            request.method = .GET
            request.headers.add(name: "Accept", value: accept)
            request.headers.add(name: "User-Agent", value: options.userAgent)
            if let auth = credentials.authorization() {
                request.headers.add(name: "Authorization", value: auth)
            }
            let response: HTTPClientResponse
            let trace = options.trace
            trace?("GET \(RedactedURL(request.url)): sending")
            do {
                // The deadline here covers the response head only; callers bound the body.
                response = try await http.execute(request, timeout: .nanoseconds(Int64(options.requestTimeout * 1e9)))
            } catch {
                options.onRequest?(APIRequestEvent(verb: "GET", host: serverHost, kind: .result(code: nil)))
                trace?("GET \(path): failed before the response head: \(error)")
                throw Self.mapError(error, path: path, timeout: options.requestTimeout)
            }
            trace?("GET \(path): HTTP \(response.status.code) (\(response.headers.first(name: "Content-Type") ?? "no Content-Type"))")
            options.onRequest?(APIRequestEvent(verb: "GET", host: serverHost, kind: .result(code: Int(response.status.code))))
            if response.status == .unauthorized, !retried, credentials.reloadAfterUnauthorized() {
                retried = true
                _ = try? await response.body.collect(upTo: 1 << 20)
                continue
            }
            return response
        }
    }

    /// GET `path` and return its JSON body decoded as `T`; non-2xx answers throw `APIError.http`.
    public func get<T: Decodable & Sendable>(_ type: T.Type, path: String, query: [(String, String)] = []) async throws -> T {
        let body = try await getBody(path: path, query: query, accept: "application/json").bytes
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw APIError.invalidResponse(path: path, reason: ListBodyDecoder.describe(error))
        }
    }

    /// GET with a body: the whole exchange must finish within `requestTimeout`. Returns the body
    /// and the encoding its `Content-Type` names.
    private func getBody(path: String, query: [(String, String)], accept: String, charged: Bool = true) async throws -> (bytes: [UInt8], encoding: APIEncoding) {
        let limit = options.maximumBodyBytes
        let timeout = options.requestTimeout
        let q = query
        // As client-go: from the first attempt to the end of the body, failures included.
        let start = NIODeadline.now()
        defer {
            let seconds = Double((NIODeadline.now() - start).nanoseconds) / 1e9
            options.onRequest?(APIRequestEvent(verb: "GET", host: serverHost, kind: .latency(seconds: seconds)))
        }
        return try await withTimeout(timeout, operation: "GET \(path)") {
            let response = try await self.execute(path, q, accept: accept, charged: charged)
            let buffer: ByteBuffer
            do {
                buffer = try await response.body.collect(upTo: limit)
            } catch let e as NIOTooManyBytesError {
                throw APIError.invalidResponse(path: path, reason: "body larger than \(limit) bytes (\(e))")
            } catch {
                throw Self.mapError(error, path: path, timeout: timeout)
            }
            guard (200..<300).contains(Int(response.status.code)) else {
                throw Self.httpError(response, buffer, path: path)
            }
            return (Array(buffer.readableBytesView), APIEncoding.ofResponse(contentType: response.headers.first(name: "Content-Type")))
        }
    }

    static func httpError(_ response: HTTPClientResponse, _ body: ByteBuffer, path: String) -> APIError {
        // A protobuf Accept gets error Statuses in protobuf too.
        let s: APIStatus?
        if APIEncoding.isProtobuf(response.headers.first(name: "Content-Type")) {
            s = (try? ProtobufEnvelope(Array(body.readableBytesView)).status()) ?? nil
        } else {
            s = try? JSONDecoder().decode(APIStatus.self, from: Data(body.readableBytesView))
        }
        return .http(code: Int(response.status.code), status: s?.kind == "Status" ? s : nil, method: "GET", path: path,
                     retryAfter: APIError.parseRetryAfter(response.headers.first(name: "Retry-After")))
    }

    static func mapError(_ error: any Error, path: String, timeout: Double) -> any Error {
        if error is APIError || error is CancellationError { return error }
        if let e = error as? HTTPClientError {
            if e == .deadlineExceeded { return APIError.timeout(operation: "GET \(path)", seconds: timeout) }
            if e == .cancelled, Task.isCancelled { return CancellationError() }
        }
        return APIError.transport(path: path, underlying: ListBodyDecoder.describe(error))
    }

    // MARK: - List

    private func selectorQuery(_ kind: ResourceKind) -> [(String, String)] {
        var q: [(String, String)] = []
        if let f = kind.fieldSelector { q.append(("fieldSelector", f)) }
        if let l = kind.labelSelector { q.append(("labelSelector", l)) }
        return q
    }

    /// Lists a whole collection, `pageSize` objects per request (limit/continue). When a continue
    /// token expires (410 on a later page) the list starts over once in a single unpaginated
    /// request, as client-go's pager does. A list takes one token of the rate limiter, whatever
    /// its pages: kube-proxy's informers list from the watch cache (resourceVersion=0), which
    /// answers in one page, and paging here only bounds the memory of one response.
    public func list<T: KubeObject>(_ type: T.Type, _ kind: ResourceKind, pageSize: Int = 500) async throws -> ListResult<T> {
        do {
            return try await listPaged(type, kind, pageSize: pageSize)
        } catch is ContinueExpired {
            return try await listPaged(type, kind, pageSize: 0)
        }
    }

    private struct ContinueExpired: Error {}

    private func listPaged<T: KubeObject>(_ type: T.Type, _ kind: ResourceKind, pageSize: Int) async throws -> ListResult<T> {
        var items: [T] = []
        var resourceVersion: String? = nil
        var token: String? = nil
        var pages = 0
        var encoding = APIEncoding.json
        repeat {
            var q = selectorQuery(kind)
            if pageSize > 0 { q.append(("limit", String(pageSize))) }
            if let t = token { q.append(("continue", t)) }
            let body: (bytes: [UInt8], encoding: APIEncoding)
            do {
                body = try await getBody(path: kind.path, query: q, accept: options.encoding.accept, charged: token == nil)
            } catch let e as APIError where e.isGone && token != nil {
                throw ContinueExpired()
            }
            pages += 1
            encoding = body.encoding
            let page: ListPage<T>
            do {
                page = try ListBodyDecoder.decode(T.self, body: body.bytes, encoding: body.encoding, apiVersion: kind.apiVersion)
            } catch {
                throw APIError.invalidResponse(path: kind.path, reason: ListBodyDecoder.describe(error))
            }
            if items.isEmpty { items = page.items } else { items.append(contentsOf: page.items) }
            // Every page carries the resourceVersion of the snapshot the first page was cut from.
            if resourceVersion == nil { resourceVersion = page.resourceVersion }
            token = page.continueToken.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        guard let rv = resourceVersion, !rv.isEmpty else {
            throw APIError.invalidResponse(path: kind.path, reason: "list without metadata.resourceVersion")
        }
        return ListResult(items: items, resourceVersion: rv, pages: pages, encoding: encoding)
    }

    // MARK: - Watch

    /// Watches `kind` from `resourceVersion`: one `WatchEvent` per line (JSON) or frame (protobuf) of the response. The
    /// stream ends when the server closes the watch (normally after `timeoutSeconds`) and throws
    /// on errors, including `APIError.watchIdle` when nothing arrived for `idleTimeout` seconds
    /// (default: `timeoutSeconds + 30`). Ending the iteration cancels the request.
    public func watch<T: KubeObject>(_ type: T.Type, _ kind: ResourceKind, resourceVersion: String?,
                                               timeoutSeconds: Int = 300, allowBookmarks: Bool = true,
                                               idleTimeout: Double? = nil) -> AsyncThrowingStream<WatchEvent<T>, any Error> {
        var q = selectorQuery(kind)
        q.append(("watch", "true"))
        if let rv = resourceVersion { q.append(("resourceVersion", rv)) }
        if allowBookmarks { q.append(("allowWatchBookmarks", "true")) }
        q.append(("timeoutSeconds", String(timeoutSeconds)))
        let idle = idleTimeout ?? Double(timeoutSeconds) + 30
        let query = q
        let path = kind.path
        let (stream, continuation) = AsyncThrowingStream<WatchEvent<T>, any Error>.makeStream()
        let lastActivity = NIOLockedValueBox(NIODeadline.now())
        // Until the response head arrives the request is bounded by requestTimeout, not by the
        // idle timeout: a connection that is accepted but never answers (an API server gone
        // behind a proxy or load balancer that still accepts) must fail in seconds, not minutes.
        let headSeen = NIOLockedValueBox(false)
        let headLimit = self.options.requestTimeout
        let reader = Task {
            do {
                try await self.streamWatch(T.self, kind: kind, query: query, lastActivity: lastActivity, headSeen: headSeen) {
                    continuation.yield($0)
                }
                self.options.trace?("watch \(path): ended by the server")
                continuation.finish()
            } catch {
                // After the watchdog fired this finish is ignored: it has ended the stream already.
                self.options.trace?("watch \(path): ended: \(error)")
                var mapped = Self.mapError(error, path: path, timeout: self.options.requestTimeout)
                // The request's deadline and the watchdog both fire after requestTimeout: whichever
                // wins, an unanswered watch is reported the same way.
                if case .timeout(_, let s)? = mapped as? APIError, !headSeen.withLockedValue({ $0 }) {
                    mapped = APIError.timeout(operation: Self.unansweredWatch(path), seconds: s)
                }
                continuation.finish(throwing: mapped)
            }
        }
        // The watchdog: ends the stream and cancels the reader when no response head arrived within
        // requestTimeout, or the stream went quiet for `idle` seconds.
        let idleNanos = Int64(idle * 1e9)
        let headNanos = Int64(min(headLimit, idle) * 1e9)
        let watchdog = Task {
            while !Task.isCancelled {
                let quiet = NIODeadline.now() - lastActivity.withLockedValue { $0 }
                let head = headSeen.withLockedValue { $0 }
                let left = (head ? idleNanos : headNanos) - quiet.nanoseconds
                if left <= 0 {
                    self.options.trace?("watch \(path): watchdog fired (response head \(head ? "received" : "not received"))")
                    // End the stream here rather than waiting for the reader: a request stuck
                    // below us may ignore cancellation for a long time.
                    if head {
                        continuation.finish(throwing: APIError.watchIdle(path: path, seconds: idle))
                    } else {
                        continuation.finish(throwing: APIError.timeout(operation: Self.unansweredWatch(path), seconds: headLimit))
                    }
                    reader.cancel()
                    return
                }
                try? await eventLoopSleep(Double(min(left, 1_000_000_000)) / 1e9)
            }
        }
        continuation.onTermination = { _ in
            reader.cancel()
            watchdog.cancel()
        }
        return stream
    }

    /// What a watch that got no response head in time is called in its timeout error.
    static func unansweredWatch(_ path: String) -> String { "GET \(path)?watch=true (no response)" }

    private func streamWatch<T: KubeObject>(_ type: T.Type, kind: ResourceKind, query: [(String, String)],
                                            lastActivity: NIOLockedValueBox<NIODeadline>,
                                            headSeen: NIOLockedValueBox<Bool>,
                                            yield: (WatchEvent<T>) -> Void) async throws {
        let path = kind.path
        let response = try await execute(path, query, accept: options.encoding.accept)
        lastActivity.withLockedValue { $0 = .now() }
        headSeen.withLockedValue { $0 = true }
        guard response.status == .ok else {
            let body = (try? await response.body.collect(upTo: 1 << 20)) ?? ByteBuffer()
            throw Self.httpError(response, body, path: path)
        }
        let limit = options.maximumWatchLineBytes
        var reader = WatchStreamReader<T>(encoding: .ofResponse(contentType: response.headers.first(name: "Content-Type")),
                                          maximumEventBytes: limit, apiVersion: kind.apiVersion)
        do {
            for try await chunk in response.body {
                lastActivity.withLockedValue { $0 = .now() }
                for event in try reader.append(chunk.readableBytesView) { yield(event) }
            }
            for event in try reader.finish() { yield(event) }
        } catch let e as WatchStreamReader<T>.Failure {
            throw APIError.invalidResponse(path: path, reason: e.description)
        }
    }

    // MARK: - Discovery

    private struct APIGroup: Decodable {
        struct Version: Decodable { var groupVersion: String?; var version: String? }
        var versions: [Version]?
        var preferredVersion: Version?
    }

    /// The EndpointSlice version to watch: `v1` when the server offers it, else `v1beta1`
    /// (Kubernetes before 1.21), found with GET /apis/discovery.k8s.io.
    public func preferredEndpointSliceVersion() async throws -> String {
        let group: APIGroup
        do {
            group = try await get(APIGroup.self, path: "/apis/discovery.k8s.io")
        } catch let e as APIError where e.httpCode == 404 {
            throw APIError.endpointSlicesUnavailable(offered: [])
        }
        let offered = (group.versions ?? []).compactMap { $0.version }
        for v in ["v1", "v1beta1"] where offered.contains(v) { return v }
        throw APIError.endpointSlicesUnavailable(offered: offered)
    }

    private struct VersionInfo: Decodable { var gitVersion: String? }

    /// The server's version (`gitVersion` of GET /version), e.g. `v1.20.2`.
    public func serverVersion() async throws -> String {
        try await get(VersionInfo.self, path: "/version").gitVersion ?? "unknown"
    }
}

// MARK: - Timeouts

/// Runs `body`, cancelling it and throwing `APIError.timeout` when it takes longer than `seconds`.
func withTimeout<R: Sendable>(_ seconds: Double, operation: String,
                              _ body: @escaping @Sendable () async throws -> R) async throws -> R {
    // Not a task group: a group waits for all its children, so a body that ignores cancellation
    // (a request stuck in a TLS handshake that never ends) would hold the caller forever. Here the
    // caller resumes at the deadline; the body is cancelled and left to end on its own.
    let pending = NIOLockedValueBox<CheckedContinuation<R, any Error>?>(nil)
    let tasks = NIOLockedValueBox<(work: Task<Void, Never>?, timer: Task<Void, Never>?)>((nil, nil))
    @Sendable func settle(_ result: Result<R, any Error>) {
        let c = pending.withLockedValue { p -> CheckedContinuation<R, any Error>? in defer { p = nil }; return p }
        guard let c else { return }
        let (work, timer) = tasks.withLockedValue { $0 }
        work?.cancel()
        timer?.cancel()
        c.resume(with: result)
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<R, any Error>) in
            pending.withLockedValue { $0 = c }
            let work = Task {
                do { settle(.success(try await body())) } catch { settle(.failure(error)) }
            }
            let timer = Task {
                try? await eventLoopSleep(seconds)
                if !Task.isCancelled { settle(.failure(APIError.timeout(operation: operation, seconds: seconds))) }
            }
            tasks.withLockedValue { $0 = (work, timer) }
            // The body may have finished before the tasks were recorded: cancel them now.
            if pending.withLockedValue({ $0 == nil }) { work.cancel(); timer.cancel() }
        }
    } onCancel: {
        settle(.failure(CancellationError()))
    }
}
