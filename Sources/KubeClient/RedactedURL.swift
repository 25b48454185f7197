// MARK: - URLs fit for logs
//
// A kubeconfig's server may carry credentials (`https://user:pass@host`), and a URL's query or
// fragment may carry a token. Anything that logs or prints a URL goes through `RedactedURL`.

/// A URL with its credentials replaced by `redacted`: all user information, and the value of
/// every query or fragment parameter whose name suggests a secret.
public struct RedactedURL: Sendable, Hashable, CustomStringConvertible {
    /// The URL as it may be logged.
    public let description: String

    /// Redacts `url` (any text: a malformed URL is redacted as far as it can be parsed).
    public init(_ url: String) { description = Self.redact(url) }

    /// Parameter names whose values are never logged (matched case-insensitively as substrings).
    static let secretNames = ["token", "password", "passwd", "secret", "key", "auth", "sig", "credential", "session"]

    static func redact(_ url: String) -> String {
        var rest = Substring(url)
        var out = ""
        // Scheme, then the authority up to the first / ? or #; user information ends at its last @.
        if let scheme = rest.firstRange(of: "://") {
            out += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
            let authority = rest[..<end]
            if let at = authority.lastIndex(of: "@") {
                out += "redacted" + authority[at...]
            } else {
                out += authority
            }
            rest = rest[end...]
        } else if let at = rest.firstIndex(of: "@"), !rest[..<at].contains("/") {
            // `user:pass@host:port` without a scheme.
            out += "redacted"
            rest = rest[at...]
        }
        // Path as is, then the parameters of the query and the fragment.
        while let sep = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            out += rest[...sep]
            rest = rest[rest.index(after: sep)...]
            let end = rest.firstIndex(of: "#") ?? rest.endIndex
            out += rest[..<end].split(separator: "&", omittingEmptySubsequences: false).map(redactParameter).joined(separator: "&")
            rest = rest[end...]
        }
        return out + rest
    }

    private static func redactParameter(_ p: Substring) -> String {
        guard let eq = p.firstIndex(of: "=") else { return String(p) }
        let name = p[..<eq].lowercased()
        return secretNames.contains(where: { name.contains($0) }) ? "\(p[..<eq])=redacted" : String(p)
    }
}

extension KubeConfig {
    /// The API server's URL as it may be logged (no credentials).
    public var redactedServer: RedactedURL { RedactedURL(server) }
}
