#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel

// MARK: - Errors of the API client

/// `metav1.Status`: what the API server says when a request fails, also sent as a watch ERROR event.
public struct APIStatus: Codable, Sendable, Hashable, CustomStringConvertible {
    public var kind: String?
    public var apiVersion: String?
    /// `Success` or `Failure`.
    public var status: String?
    public var message: String?
    /// Machine-readable reason, e.g. `Expired`, `Gone`, `Unauthorized`, `NotFound`.
    public var reason: String?
    /// The HTTP status code this stands for, e.g. 410.
    public var code: Int?

    /// A status from parts (tests, the fake server).
    public init(status: String? = "Failure", message: String? = nil, reason: String? = nil, code: Int? = nil) {
        self.kind = "Status"; self.apiVersion = "v1"
        self.status = status; self.message = message; self.reason = reason; self.code = code
    }

    public var description: String {
        var parts: [String] = []
        if let code { parts.append(String(code)) }
        if let reason, !reason.isEmpty { parts.append(reason) }
        if let message, !message.isEmpty { parts.append(message) }
        return parts.isEmpty ? "Status" : parts.joined(separator: " ")
    }
}

/// Why a request to the API server failed.
public enum APIError: Error, Sendable, CustomStringConvertible {
    /// The server answered with a non-2xx status; `status` is its body when it was a Status, and
    /// `retryAfter` its `Retry-After` header in seconds (429, 503), when it sent a valid one.
    case http(code: Int, status: APIStatus?, method: String, path: String, retryAfter: Double? = nil)
    /// No complete answer within the request timeout.
    case timeout(operation: String, seconds: Double)
    /// A watch stream sent nothing (not even a bookmark) for this long.
    case watchIdle(path: String, seconds: Double)
    /// The body was not what the API promises (bad JSON, unknown watch event type, too large).
    case invalidResponse(path: String, reason: String)
    /// The transport failed (connection refused or dropped, TLS handshake, ...).
    case transport(path: String, underlying: String)
    /// The server offers no EndpointSlice version kube-ipvs can read.
    case endpointSlicesUnavailable(offered: [String])

    /// The HTTP status code, when the server answered with one.
    public var httpCode: Int? {
        if case .http(let code, _, _, _, _) = self { return code }
        return nil
    }

    /// Seconds the server asked the client to wait before the next request (`Retry-After`).
    public var retryAfter: Double? {
        if case .http(_, _, _, _, let seconds) = self { return seconds }
        return nil
    }

    /// Longest `Retry-After` taken from a server, in seconds; a larger value is read as this.
    public static let maximumRetryAfter: Double = 86_400

    /// The seconds of a `Retry-After` header: delta-seconds only (what the API server sends);
    /// nil for an HTTP date, a negative or malformed value. Never traps on large numbers.
    public static func parseRetryAfter(_ value: String?) -> Double? {
        guard let v = value?.trimmingWhitespace(), !v.isEmpty,
              v.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        // All digits: only an overflow makes Int(_:) fail, and that is "very long".
        return min(Double(Int(v) ?? Int.max), maximumRetryAfter)
    }

    /// 410 Gone / Expired: the resourceVersion or continue token is too old; list again.
    public var isGone: Bool { httpCode == 410 }

    public var description: String {
        switch self {
        case .http(let code, let status, let method, let path, let retryAfter):
            let detail = status.map { ": \($0.reason ?? "")\($0.message.map { " \($0)" } ?? "")" } ?? ""
            let wait = retryAfter.map { " (Retry-After \(FixedDecimal.format($0, digits: 0))s)" } ?? ""
            return "\(method) \(path): HTTP \(code)\(detail)\(wait)"
        case .timeout(let op, let s): return "\(op): no answer within \(s)s"
        case .watchIdle(let path, let s): return "watch \(path): nothing received for \(s)s"
        case .invalidResponse(let path, let reason): return "\(path): invalid response: \(reason)"
        case .transport(let path, let underlying): return "\(path): \(underlying)"
        case .endpointSlicesUnavailable(let offered):
            return "the API server offers no discovery.k8s.io EndpointSlice version kube-ipvs reads (offered: \(offered.isEmpty ? "none" : offered.joined(separator: ", ")))"
        }
    }
}
