// MARK: - What the client reports of each request (for request metrics)
//
// client-go feeds kube-proxy's rest_client_requests_total and rest_client_request_duration_seconds
// from hooks in its request code; these events carry the same facts, so that the daemon can keep
// the metrics without this target depending on a metrics library.

/// One fact about a request to the API server.
public struct APIRequestEvent: Sendable, Equatable {
    /// What happened.
    public enum Kind: Sendable, Equatable {
        /// An attempt got a response head with this status code, or failed before one (nil). Every
        /// attempt counts, a watch's too, and the retry after a 401 is a second one.
        case result(code: Int?)
        /// A list page, get or discovery request ended (body read, or failed) after this many
        /// seconds, retries included. Watches have none: they last until the server ends them.
        case latency(seconds: Double)
    }
    /// The HTTP method (kube-ipvs only reads: `GET`).
    public var verb: String
    /// The API server's `host:port` as in its URL.
    public var host: String
    public var kind: Kind

    public init(verb: String, host: String, kind: Kind) { self.verb = verb; self.host = host; self.kind = kind }

    /// The authority of a server URL without user information: `10.0.0.1:6443`, `[::1]:6443`,
    /// `api.example` (Go's `url.URL.Host`).
    public static func host(ofServer server: String) -> String {
        var rest = Substring(server)
        if let scheme = rest.firstRange(of: "://") { rest = rest[scheme.upperBound...] }
        if let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        return String(rest)
    }
}
