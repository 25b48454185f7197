#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel
import NIOConcurrencyHelpers
import NIOCore

// MARK: - The Authorization header, with a token that rotates
//
// Projected service-account tokens are rewritten by the kubelet (an atomic symlink swap, so the
// mtime of the path we hold may not change): the file's content is read again at most every
// `recheckInterval`, and at once after a 401. client-go does the same (cachingTokenSource).

/// Produces the `Authorization` header value for each request.
final class Credentials: Sendable {
    private enum Kind: Sendable {
        case none
        case token(String)
        case tokenFile(path: String, fallback: String?)
        case basic(String)
    }

    private struct Cache: Sendable {
        var token: String?
        var readAt: NIODeadline?
        /// The last read failure, kept so a 401 can be explained.
        var lastError: String?
    }

    private let kind: Kind
    private let recheckInterval: TimeAmount
    private let cache = NIOLockedValueBox(Cache())

    init(config: KubeConfig, recheckInterval: TimeAmount) {
        self.recheckInterval = recheckInterval
        if let file = config.bearerTokenFile {
            kind = .tokenFile(path: file, fallback: config.bearerToken)
        } else if let token = config.bearerToken {
            kind = .token(token)
        } else if let user = config.username, let password = config.password {
            kind = .basic(Data("\(user):\(password)".utf8).base64EncodedString())
        } else {
            kind = .none
        }
    }

    /// Whether a 401 can be cured by reading the token again.
    var rotates: Bool {
        if case .tokenFile = kind { return true }
        return false
    }

    /// The header value, or nil to send none. Reads the token file when due.
    func authorization(now: NIODeadline = .now()) -> String? {
        switch kind {
        case .none: return nil
        case .token(let t): return "Bearer \(t)"
        case .basic(let b): return "Basic \(b)"
        case .tokenFile(let path, let fallback):
            let token = cache.withLockedValue { c -> String? in
                if let readAt = c.readAt, now - readAt < recheckInterval, c.token != nil { return c.token }
                Self.read(path, into: &c, now: now)
                return c.token ?? fallback
            }
            return token.map { "Bearer \($0)" }
        }
    }

    /// After a 401: read the token file now. Returns true when the token changed (worth a retry).
    func reloadAfterUnauthorized(now: NIODeadline = .now()) -> Bool {
        guard case .tokenFile(let path, _) = kind else { return false }
        return cache.withLockedValue { c in
            let before = c.token
            Self.read(path, into: &c, now: now)
            return c.token != nil && c.token != before
        }
    }

    private static func read(_ path: String, into c: inout Cache, now: NIODeadline) {
        c.readAt = now
        guard let data = FileManager.default.contents(atPath: path) else {
            c.lastError = "cannot read \(path)"
            return  // keep the previous token: a rotation in progress may hide the file briefly
        }
        let t = String(decoding: data, as: UTF8.self).trimmingWhitespaceAndNewlines()
        if t.isEmpty { c.lastError = "\(path) is empty"; return }
        c.token = t
        c.lastError = nil
    }
}
