import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

// MARK: - One HTTP/1.1 connection of the fake API server
//
// Runs on the connection's event loop. Plain requests get a Content-Length answer; a watch gets a
// chunked answer whose chunks are pushed by the store (`Watcher.send` hops onto this loop).

final class FakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: NIOLockedValueBox<FakeState>
    private var context: ChannelHandlerContext?
    private var head: HTTPRequestHead?
    /// The watch this connection streams, if any.
    private var watcherID: Int?
    /// How the next plain answer is sent short (`FakeFault.stallBody`, `.cutBody`): the bytes of
    /// its body to send, and whether to close the connection after them.
    private var shortBody: (bytes: Int, close: Bool)?
    /// Lines still allowed on this watch before it is ended (`FakeKubeAPI.setWatchLifetime`).
    private var linesLeft: Int?
    /// Whether a chunked answer is open: lines queued for a watch that has ended are dropped
    /// (NIO's server pipeline traps on a body part after the end).
    private var streamOpen = false
    /// Whether the request being answered accepts protobuf and the server serves it: its list,
    /// watch or error Status is then in protobuf where the collection has a protobuf form.
    private var answersProtobuf = false

    init(state: NIOLockedValueBox<FakeState>) { self.state = state }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelInactive(context: ChannelHandlerContext) {
        if let id = watcherID { _ = state.withLockedValue { $0.watchers.removeValue(forKey: id) } }
        watcherID = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            head = nil
            handle(Self.parse(h), context: context)
        }
    }

    static func parse(_ head: HTTPRequestHead) -> FakeRequest {
        let parts = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query: [String: String] = [:]
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let k = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                let v = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
                query[k] = v
            }
        }
        return FakeRequest(method: head.method.rawValue, path: String(parts[0]), query: query,
                           authorization: head.headers.first(name: "Authorization"), accept: head.headers.first(name: "Accept"))
    }

    // MARK: Dispatch

    private func handle(_ request: FakeRequest, context: ChannelHandlerContext) {
        let (fault, protobuf) = state.withLockedValue { s -> (FakeFault?, Bool) in
            var seen = request
            let fault = s.takeFault(for: request)
            seen.fault = fault?.name
            s.requests.append(seen)
            return (fault, s.servesProtobuf && request.acceptsProtobuf)
        }
        answersProtobuf = protobuf
        switch fault {
        case .delay(let seconds)?:
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) { bound.value.answer(request) }
        case .status(let code)?:
            respond(code, FakeState.statusJSON(code, reason: "InjectedFault", message: "injected by the test"))
        case .close?:
            context.close(promise: nil)
        case .hang?:
            break
        case .statusRetryAfter(let code, let value)?:
            respond(code, FakeState.statusJSON(code, reason: code == 429 ? "TooManyRequests" : "InjectedFault",
                                               message: "injected by the test"),
                    extraHeaders: [("Retry-After", value)])
        case .stallBody(let bytes)?:
            shortBody = (bytes, false)
            answer(request)
        case .cutBody(let bytes)?:
            shortBody = (bytes, true)
            answer(request)
        case .goneEvent?:
            writeStreamHead(contentType: protobuf ? FakeProtobuf.mediaType + ";stream=watch" : "application/json")
            emit(.line(FakeState.event(path: request.path, type: "ERROR", json: FakeState.statusJSON(410, reason: "Expired",
                                                                                          message: "injected by the test"),
                                       protobuf: protobuf)))
            emit(.end)
        case .rawStream(let bytes, let contentType)?:
            writeStreamHead(contentType: contentType)
            emit(.line(bytes))
            emit(.end)
        case nil:
            answer(request)
        }
    }

    private func answer(_ request: FakeRequest) {
        guard context != nil else { return }  // the client went away meanwhile
        let (token, versions) = state.withLockedValue { ($0.requiredToken, $0.discoveryVersions) }
        if let token, request.authorization != "Bearer \(token)" {
            respond(401, FakeState.statusJSON(401, reason: "Unauthorized", message: "Unauthorized"))
            return
        }
        guard request.method == "GET" else {
            respond(405, FakeState.statusJSON(405, reason: "MethodNotAllowed", message: "the fake server only reads"))
            return
        }
        switch request.path {
        case "/version":
            respond(200, Data(#"{"major":"1","minor":"20","gitVersion":"v1.20.2-fake"}"#.utf8))
        case "/apis/discovery.k8s.io":
            guard let versions else {
                respond(404, FakeState.statusJSON(404, reason: "NotFound", message: "the server could not find the requested resource"))
                return
            }
            let list = versions.map { #"{"groupVersion":"discovery.k8s.io/\#($0)","version":"\#($0)"}"# }
            let preferred = versions.first.map { #","preferredVersion":{"groupVersion":"discovery.k8s.io/\#($0)","version":"\#($0)"}"# } ?? ""
            respond(200, Data(#"{"kind":"APIGroup","apiVersion":"v1","name":"discovery.k8s.io","versions":[\#(list.joined(separator: ","))]\#(preferred)}"#.utf8))
        default:
            if request.isWatch { startWatch(request) } else { list(request) }
        }
    }

    private static func nameSelector(_ request: FakeRequest) -> String? {
        guard let f = request.query["fieldSelector"] else { return nil }
        for term in f.split(separator: ",") {
            let t = term.replacingOccurrences(of: "==", with: "=")
            if t.hasPrefix("metadata.name=") { return String(t.dropFirst("metadata.name=".count)) }
        }
        return nil
    }

    // MARK: List

    private func list(_ request: FakeRequest) {
        enum Outcome { case gone, bad(String), page(Data), protobufPage([UInt8]) }
        let protobuf = answersProtobuf && FakeProtobuf.schema(request.path) != nil
        let name = Self.nameSelector(request)
        let outcome = state.withLockedValue { s -> Outcome in
            var snapshot = s.resourceVersion
            var after: String? = nil
            if let token = request.query["continue"], !token.isEmpty {
                guard let raw = Data(base64Encoded: token).flatMap({ String(data: $0, encoding: .utf8) }),
                      let bar = raw.firstIndex(of: "|"), let rv = Int(raw[..<bar]) else { return .bad("bad continue token") }
                if s.continueTokensExpire || rv < s.compactedBefore { return .gone }
                snapshot = rv
                after = String(raw[raw.index(after: bar)...])
            }
            let collection = s.objects[request.path] ?? [:]
            var keys = collection.keys.sorted().filter { k in name == nil || collection[k]?.name == name }
            if let after { keys = keys.filter { $0 > after } }
            var next: String? = nil
            if let limit = request.query["limit"].flatMap(Int.init), limit > 0, keys.count > limit {
                keys = Array(keys.prefix(limit))
                next = Data("\(snapshot)|\(keys.last!)".utf8).base64EncodedString()
            }
            if protobuf {
                do {
                    return .protobufPage(try FakeProtobuf.list(request.path, resourceVersion: String(snapshot), continueToken: next,
                                                               objects: keys.map { collection[$0]!.json }))
                } catch {
                    return .bad("cannot encode in protobuf: \(error)")
                }
            }
            var body = Data(#"{"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"\#(snapshot)""#.utf8)
            if let next { body += Data(#","continue":"\#(next)""#.utf8) }
            body += Data(#"},"items":["#.utf8)
            for (i, k) in keys.enumerated() {
                if i > 0 { body += Data(",".utf8) }
                body += collection[k]!.json
            }
            body += Data("]}".utf8)
            return .page(body)
        }
        switch outcome {
        case .gone:
            respond(410, FakeState.statusJSON(410, reason: "Expired", message: "The provided continue parameter is too old"))
        case .bad(let why):
            respond(400, FakeState.statusJSON(400, reason: "BadRequest", message: why))
        case .page(let body):
            respond(200, body)
        case .protobufPage(let body):
            respond(200, Data(body), contentType: FakeProtobuf.mediaType)
        }
    }

    // MARK: Watch

    private func startWatch(_ request: FakeRequest) {
        guard let context else { return }
        enum Start { case gone(asHTTP: Bool), stream(id: Int, replay: [[UInt8]]) }
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let send: @Sendable (WatchOutput) -> Void = { out in loop.execute { bound.value.emit(out) } }
        let name = Self.nameSelector(request)
        let bookmarks = request.query["allowWatchBookmarks"] == "true"
        let from = request.query["resourceVersion"].flatMap(Int.init) ?? 0
        let path = request.path
        let protobuf = answersProtobuf && FakeProtobuf.schema(path) != nil
        let start = state.withLockedValue { s -> Start in
            if from != 0 && from < s.compactedBefore { return .gone(asHTTP: s.watchGoneAsHTTPStatus) }
            let replay: [[UInt8]]
            if from != 0 {
                replay = s.history.filter { $0.path == path && $0.resourceVersion > from && (name == nil || $0.name == name) }
                    .map { FakeState.event(path: path, type: $0.type, json: $0.json, protobuf: protobuf) }
            } else {
                // No resourceVersion: the current state as synthetic ADDED events.
                let c = s.objects[path] ?? [:]
                replay = c.keys.sorted().compactMap { c[$0] }.filter { name == nil || $0.name == name }
                    .map { FakeState.event(path: path, type: "ADDED", json: $0.json, protobuf: protobuf) }
            }
            let id = s.nextWatcherID
            s.nextWatcherID += 1
            s.watchers[id] = Watcher(path: path, name: name, bookmarks: bookmarks, protobuf: protobuf, send: send)
            return .stream(id: id, replay: replay)
        }
        switch start {
        case .gone(asHTTP: true):
            respond(410, FakeState.statusJSON(410, reason: "Expired", message: "too old resource version: \(from)"))
        case .gone(asHTTP: false):
            writeStreamHead(contentType: protobuf ? FakeProtobuf.mediaType + ";stream=watch" : "application/json")
            emit(.line(FakeState.event(path: path, type: "ERROR", json: FakeState.statusJSON(410, reason: "Expired",
                                                                                         message: "too old resource version: \(from)"),
                                       protobuf: protobuf)))
            emit(.end)
        case .stream(let id, let replay):
            watcherID = id
            let lifetime = state.withLockedValue { $0.watchLifetime }
            linesLeft = lifetime.events
            writeStreamHead(contentType: protobuf ? FakeProtobuf.mediaType + ";stream=watch" : "application/json")
            for line in replay { emit(.line(line)) }
            let st = state
            if let seconds = request.query["timeoutSeconds"].flatMap(Int.init), seconds > 0 {
                loop.scheduleTask(in: .seconds(Int64(seconds))) {
                    if st.withLockedValue({ $0.watchers.removeValue(forKey: id) }) != nil { bound.value.emit(.end) }
                }
            }
            if let seconds = lifetime.seconds {
                loop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) {
                    if st.withLockedValue({ $0.watchers.removeValue(forKey: id) }) != nil {
                        st.withLockedValue { $0.injected["watch-lifetime", default: 0] += 1 }
                        bound.value.emit(.end)
                    }
                }
            }
        }
    }

    private func writeStreamHead(contentType: String) {
        guard let context else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Transfer-Encoding", value: "chunked")
        streamOpen = true
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
    }

    fileprivate func emit(_ output: WatchOutput) {
        guard let context else { return }
        switch output {
        case .line(let bytes):
            guard streamOpen else { return }
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes)))), promise: nil)
            if let left = linesLeft, let id = watcherID {
                linesLeft = left - 1
                if left <= 1, state.withLockedValue({ $0.watchers.removeValue(forKey: id) }) != nil {
                    state.withLockedValue { $0.injected["watch-lifetime", default: 0] += 1 }
                    emit(.end)
                }
            }
        case .end:
            guard streamOpen else { return }
            streamOpen = false
            watcherID = nil
            linesLeft = nil
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .drop:
            streamOpen = false
            watcherID = nil
            context.close(promise: nil)
        }
    }

    private func respond(_ code: Int, _ body: Data, contentType: String = "application/json", extraHeaders: [(String, String)] = []) {
        guard let context else { return }
        var body = body, contentType = contentType
        // Error Statuses in the encoding the request asked for, as the API server answers them.
        if code >= 400, answersProtobuf, contentType == "application/json" {
            body = Data(FakeProtobuf.status(body))
            contentType = FakeProtobuf.mediaType
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: code), headers: headers))),
                      promise: nil)
        if let short = shortBody {
            // Part of the body, then silence (or a close): the client sees a response that never ends.
            shortBody = nil
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body.prefix(max(0, min(short.bytes, body.count - 1))))))),
                                  promise: nil)
            if short.close { context.close(promise: nil) }
            return
        }
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
