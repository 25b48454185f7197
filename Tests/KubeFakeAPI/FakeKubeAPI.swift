import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

// MARK: - A fake kube-apiserver on 127.0.0.1, for tests
//
// Just enough of the API's list/watch protocol to test a client against its edge cases:
// - a store of JSON objects per collection path, with one global resourceVersion counter and an
//   event history; `compact()` forgets the history so older resourceVersions get 410;
// - lists with `limit`/`continue` (continue tokens can be made to expire);
// - watches: chunked, one JSON event per line, replaying history after `resourceVersion`, then
//   live changes; BOOKMARK on demand; ERROR 410 for compacted resourceVersions;
// - protobuf lists, watches and error Statuses for requests that accept it, once switched on
//   (`setServesProtobuf`); JSON otherwise, as a server without protobuf for a type;
// - `fieldSelector=metadata.name=X`; other selectors are recorded and ignored;
// - faults: slow answers, error statuses (with Retry-After), closed or hanging connections, list
//   bodies cut or stalled part-way, watches answered with an ERROR 410, dropping open watches,
//   and every watch closed after a lifetime (seconds or events); each injected fault is counted;
// - a required bearer token (rotated by the test), and TLS with optional client certificates;
// - discovery (`/apis/discovery.k8s.io`) with the versions a test chooses, and `/version`.
// Every request is recorded for assertions. It never listens on anything but 127.0.0.1.

/// A request as the fake server saw it.
public struct FakeRequest: Sendable, CustomStringConvertible {
    public var method: String
    public var path: String
    /// Query parameters, percent-decoded.
    public var query: [String: String]
    public var authorization: String?
    /// The `Accept` header.
    public var accept: String?
    /// Whether it accepts the API's protobuf.
    public var acceptsProtobuf: Bool { accept?.contains(FakeProtobuf.mediaType) ?? false }
    /// When the server read the request: seconds on a monotonic clock (`FakeKubeAPI.now`).
    public var receivedAt: Double = FakeKubeAPI.now
    /// The injected fault it was answered with (`FakeFault.name`), if any.
    public var fault: String?
    /// Whether this is a watch (`watch=true` or `watch=1`).
    public var isWatch: Bool { query["watch"] == "true" || query["watch"] == "1" }
    public var description: String {
        let q = query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        return "\(method) \(path)\(q.isEmpty ? "" : "?" + q)"
    }
}

/// Something going wrong on purpose, for the next matching request(s).
public enum FakeFault: Sendable {
    /// Answer normally, but only after this many seconds.
    case delay(Double)
    /// Answer with this HTTP status and a Status body.
    case status(Int)
    /// Close the connection without answering.
    case close
    /// Never answer; keep the connection open.
    case hang
    /// Answer with this HTTP status, a Status body and `Retry-After: value` (sent as given, so a
    /// test can send a malformed one).
    case statusRetryAfter(Int, retryAfter: String)
    /// Answer normally (head with the full Content-Length) but send only the first `afterBytes`
    /// bytes of the body, then nothing more, keeping the connection open: a server that stops
    /// answering in the middle of a list.
    case stallBody(afterBytes: Int)
    /// Like `stallBody`, but close the connection after those bytes: a list cut short.
    case cutBody(afterBytes: Int)
    /// For a watch: a 200 answer carrying one ERROR event with a 410 Expired Status, then the end.
    case goneEvent
    /// A 200 answer with this Content-Type and body, as given (chunked), then the end: a stream a
    /// test builds byte by byte (a cut or oversized protobuf frame).
    case rawStream([UInt8], contentType: String)

    /// A short name for counting (`FakeKubeAPI.injectedFaults`).
    public var name: String {
        switch self {
        case .delay: return "delay"
        case .status(let code): return "status-\(code)"
        case .close: return "close"
        case .hang: return "hang"
        case .statusRetryAfter(let code, _): return "status-\(code)-retry-after"
        case .stallBody: return "stall-body"
        case .cutBody: return "cut-body"
        case .goneEvent: return "gone-event"
        case .rawStream: return "raw-stream"
        }
    }
}

/// TLS settings of the fake server.
public struct FakeTLS: Sendable {
    public var certificatePEM: String
    public var keyPEM: String
    /// When set, clients must present a certificate signed by this CA.
    public var clientCAPEM: String?
    public init(certificatePEM: String = TestCertificates.serverCertificate, keyPEM: String = TestCertificates.serverKey,
                clientCAPEM: String? = nil) {
        self.certificatePEM = certificatePEM; self.keyPEM = keyPEM; self.clientCAPEM = clientCAPEM
    }
}

/// The fake API server. Start it, fill it, point a client at `url`, shut it down.
public final class FakeKubeAPI: Sendable {
    /// `http(s)://127.0.0.1:PORT`.
    public let url: String
    public let port: Int
    private let serverChannel: Channel
    let state: NIOLockedValueBox<FakeState>

    private init(url: String, port: Int, serverChannel: Channel, state: NIOLockedValueBox<FakeState>) {
        self.url = url; self.port = port; self.serverChannel = serverChannel; self.state = state
    }

    /// Starts a server on 127.0.0.1 and an ephemeral port, with TLS when `tls` is given.
    public static func start(tls: FakeTLS? = nil) async throws -> FakeKubeAPI {
        let state = NIOLockedValueBox(FakeState())
        var sslContext: NIOSSLContext? = nil
        if let tls {
            var c = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(tls.certificatePEM.utf8)).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(tls.keyPEM.utf8), format: .pem)))
            if let ca = tls.clientCAPEM {
                c.certificateVerification = .noHostnameVerification
                c.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.utf8)))
            }
            sslContext = try NIOSSLContext(configuration: c)
        }
        let ssl = sslContext
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let ssl {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: ssl))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(FakeHandler(state: state))
                    state.withLockedValue { $0.connections[ObjectIdentifier(channel)] = channel }
                    channel.closeFuture.whenComplete { _ in
                        state.withLockedValue { $0.connections[ObjectIdentifier(channel)] = nil }
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        return FakeKubeAPI(url: "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)", port: port,
                           serverChannel: channel, state: state)
    }

    /// Stops listening and closes every connection.
    public func shutdown() async throws {
        try? await serverChannel.close()
        let open = state.withLockedValue { s -> [Channel] in
            let c = Array(s.connections.values); s.watchers.removeAll(); return c
        }
        for c in open { try? await c.close() }
    }

    // MARK: - Store

    /// Creates or replaces an object (keyed by metadata namespace/name) and returns its new
    /// resourceVersion; open watches see ADDED or MODIFIED.
    @discardableResult
    public func put<T: Encodable>(_ path: String, _ object: T) throws -> String {
        let data = try JSONEncoder().encode(object)
        return try put(path, json: data)
    }

    /// Like `put(_:_:)` with the object as JSON.
    @discardableResult
    public func put(_ path: String, json: Data) throws -> String {
        guard var dict = try JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw FakeError("object is not a JSON object")
        }
        var meta = dict["metadata"] as? [String: Any] ?? [:]
        guard let name = meta["name"] as? String else { throw FakeError("object without metadata.name") }
        let key = (meta["namespace"] as? String).map { "\($0)/\(name)" } ?? name
        return try state.withLockedValue { s in
            s.resourceVersion += 1
            meta["resourceVersion"] = String(s.resourceVersion)
            dict["metadata"] = meta
            let stored = try JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys])
            let type = s.objects[path, default: [:]][key] == nil ? "ADDED" : "MODIFIED"
            s.objects[path, default: [:]][key] = StoredObject(name: name, json: stored)
            s.record(path: path, type: type, name: name, json: stored)
            return String(s.resourceVersion)
        }
    }

    /// Deletes an object; open watches see DELETED (with a new resourceVersion).
    public func delete(_ path: String, namespace: String? = nil, name: String) throws {
        let key = namespace.map { "\($0)/\(name)" } ?? name
        try state.withLockedValue { s in
            guard let old = s.objects[path]?[key] else { throw FakeError("no object \(key) in \(path)") }
            s.resourceVersion += 1
            guard var dict = try JSONSerialization.jsonObject(with: old.json) as? [String: Any] else { return }
            var meta = dict["metadata"] as? [String: Any] ?? [:]
            meta["resourceVersion"] = String(s.resourceVersion)
            dict["metadata"] = meta
            let json = try JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys])
            s.objects[path]?[key] = nil
            s.record(path: path, type: "DELETED", name: old.name, json: json)
        }
    }

    /// The current resourceVersion of the whole store.
    public var resourceVersion: String { String(state.withLockedValue { $0.resourceVersion }) }

    /// Forgets the event history: watches and continue tokens from before now get 410 Gone.
    public func compact() {
        state.withLockedValue { s in
            s.history.removeAll()
            s.compactedBefore = s.resourceVersion
        }
    }

    /// Sends a BOOKMARK at the current resourceVersion to open watches of `path` that allow them.
    /// Moves the resourceVersion on first, as the real server's progress does between bookmarks.
    public func bookmark(_ path: String) {
        state.withLockedValue { s in
            s.resourceVersion += 1
            let rv = s.resourceVersion
            for w in s.watchers.values where w.path == path && w.bookmarks {
                w.send(.line(w.event(type: "BOOKMARK",
                                     json: Data("{\"kind\":\"Bookmark\",\"metadata\":{\"resourceVersion\":\"\(rv)\"}}".utf8))))
            }
        }
    }

    /// Sends ERROR 410 to the open watches of `path` and ends them (as after a compaction).
    public func expireWatches(_ path: String) {
        state.withLockedValue { s in
            for (id, w) in s.watchers where w.path == path {
                w.send(.line(w.event(type: "ERROR", json: FakeState.statusJSON(410, reason: "Expired",
                    message: "too old resource version"))))
                w.send(.end)
                s.watchers[id] = nil
            }
        }
    }

    /// Closes the connections of all open watches abruptly (no final chunk), like a dead peer.
    public func dropWatches() {
        state.withLockedValue { s in
            for w in s.watchers.values { w.send(.drop) }
            s.watchers.removeAll()
        }
    }

    // MARK: - Behaviour

    /// Requires `Authorization: Bearer TOKEN` on every request; nil accepts anything.
    public func requireToken(_ token: String?) { state.withLockedValue { $0.requiredToken = token } }

    /// The versions `/apis/discovery.k8s.io` offers; nil answers 404 (no such group).
    public func setDiscoveryVersions(_ versions: [String]?) { state.withLockedValue { $0.discoveryVersions = versions } }

    /// When true, lists, watches and error Statuses are answered in protobuf to requests that
    /// accept it (for the collections FakeProtobuf knows); when false (the default), in JSON.
    public func setServesProtobuf(_ on: Bool) { state.withLockedValue { $0.servesProtobuf = on } }

    /// When true, every continue token is answered with 410 Expired.
    public func setContinueTokensExpire(_ on: Bool) { state.withLockedValue { $0.continueTokensExpire = on } }

    /// When true, a watch from a compacted resourceVersion is refused with HTTP 410 instead of a
    /// 200 response carrying an ERROR event (servers have done both).
    public func setWatchGoneAsHTTPStatus(_ on: Bool) { state.withLockedValue { $0.watchGoneAsHTTPStatus = on } }

    /// Applies `fault` to the next `times` requests for which `when` is true. Rules are tried in
    /// the order they were injected; the first that matches and has uses left applies.
    public func inject(_ fault: FakeFault, times: Int = 1, when: @escaping @Sendable (FakeRequest) -> Bool) {
        state.withLockedValue { $0.faults.append(FaultRule(fault: fault, remaining: times, matches: when)) }
    }

    /// Forgets every injected fault that has not been used up (ends a storm).
    public func clearFaults() { state.withLockedValue { $0.faults.removeAll() } }

    /// Ends every watch that starts from now on (normally: final chunk, no ERROR) once it has been
    /// open `seconds` or has sent `events` lines (replayed history included), whichever comes
    /// first; nil for both: watches live until their timeoutSeconds. Watches already open keep
    /// the lifetime they started with.
    public func setWatchLifetime(seconds: Double?, events: Int? = nil) {
        state.withLockedValue { $0.watchLifetime = (seconds, events) }
    }

    /// Faults used so far, by `FakeFault.name`; watches ended by `setWatchLifetime` count as
    /// `watch-lifetime`.
    public var injectedFaults: [String: Int] { state.withLockedValue { $0.injected } }

    /// The monotonic clock of `FakeRequest.receivedAt`, in seconds.
    public static var now: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    // MARK: - Observation

    /// Every request so far, in order of arrival.
    public var requests: [FakeRequest] { state.withLockedValue { $0.requests } }

    /// Number of watches currently streaming.
    public var openWatches: Int { state.withLockedValue { $0.watchers.count } }

    /// Waits until `condition` holds (polling), or fails after `timeout` seconds.
    public func wait(timeout: Double = 10, _ what: String = "condition",
                     until condition: @Sendable (FakeKubeAPI) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition(self) {
            if Date() > deadline { throw FakeError("timed out waiting for \(what)") }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }
}

/// An error of the fake server's own API (bad test input, wait timeout).
public struct FakeError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

// MARK: - State

struct StoredObject: Sendable {
    var name: String
    var json: Data
}

struct HistoryEntry: Sendable {
    var resourceVersion: Int
    var path: String
    var name: String
    var type: String
    var json: Data
}

/// What a watch connection is told to do.
enum WatchOutput: Sendable {
    case line([UInt8])
    case end
    case drop
}

struct Watcher: Sendable {
    var path: String
    var name: String?
    var bookmarks: Bool
    /// Whether this watch streams protobuf frames rather than JSON lines.
    var protobuf: Bool = false
    var send: @Sendable (WatchOutput) -> Void

    /// One event in this watch's encoding.
    func event(type: String, json: Data) -> [UInt8] {
        FakeState.event(path: path, type: type, json: json, protobuf: protobuf)
    }
}

struct FaultRule: Sendable {
    var fault: FakeFault
    var remaining: Int
    var matches: @Sendable (FakeRequest) -> Bool
}

struct FakeState: Sendable {
    var objects: [String: [String: StoredObject]] = [:]
    var resourceVersion = 100
    var history: [HistoryEntry] = []
    /// Watches and continue tokens from resourceVersions below this are gone.
    var compactedBefore = 0
    var watchers: [Int: Watcher] = [:]
    var nextWatcherID = 0
    var connections: [ObjectIdentifier: Channel] = [:]
    var requests: [FakeRequest] = []
    var faults: [FaultRule] = []
    var requiredToken: String? = nil
    var discoveryVersions: [String]? = ["v1", "v1beta1"]
    var continueTokensExpire = false
    var servesProtobuf = false
    var watchGoneAsHTTPStatus = false
    var watchLifetime: (seconds: Double?, events: Int?) = (nil, nil)
    var injected: [String: Int] = [:]

    mutating func record(path: String, type: String, name: String, json: Data) {
        history.append(HistoryEntry(resourceVersion: resourceVersion, path: path, name: name, type: type, json: json))
        for w in watchers.values where w.path == path && (w.name == nil || w.name == name) {
            w.send(.line(w.event(type: type, json: json)))
        }
    }

    /// The first fault matching `request`, consumed.
    mutating func takeFault(for request: FakeRequest) -> FakeFault? {
        for i in faults.indices where faults[i].remaining > 0 && faults[i].matches(request) {
            faults[i].remaining -= 1
            injected[faults[i].fault.name, default: 0] += 1
            return faults[i].fault
        }
        return nil
    }

    /// One watch event: a protobuf frame, or a JSON line (also when the object has no protobuf
    /// form, which the client then fails to read, as it should).
    static func event(path: String, type: String, json: Data, protobuf: Bool) -> [UInt8] {
        if protobuf, let frame = try? FakeProtobuf.frame(path: path, type: type, json: json) { return frame }
        return eventLine(type: type, json: json)
    }

    static func eventLine(type: String, json: Data) -> [UInt8] {
        Array("{\"type\":\"\(type)\",\"object\":".utf8) + Array(json) + Array("}\n".utf8)
    }

    static func statusJSON(_ code: Int, reason: String, message: String) -> Data {
        let obj: [String: Any] = ["kind": "Status", "apiVersion": "v1", "metadata": [String: Any](),
                                  "status": "Failure", "reason": reason, "message": message, "code": code]
        return (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])) ?? Data()
    }
}
