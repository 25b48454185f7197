#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel
import NIOSSL

// MARK: - Where the API server is and how to authenticate to it
//
// Two sources, as client-go has them: a kubeconfig file (`--kubeconfig`) and the in-cluster
// service account. Everything is read and checked here, once, so that a bad file fails at start
// with an error naming the file and the field, not later at the first TLS handshake. Only the
// bearer token file is read again later (it rotates; see `BearerTokenSource`).

/// Connection settings for one API server: URL, trust, and credentials.
public struct KubeConfig: Sendable, Hashable {
    /// Base URL of the API server without a trailing slash, e.g. `https://10.0.0.1:6443`.
    public var server: String
    /// PEM certificates trusted for the server (certificate-authority[-data]); nil: the system's roots.
    public var certificateAuthorityPEM: [UInt8]?
    /// Skip verification of the server's certificate (insecure-skip-tls-verify).
    public var insecureSkipTLSVerify: Bool
    /// A fixed bearer token (token), used when there is no token file.
    public var bearerToken: String?
    /// A file holding the bearer token, read again when it changes (tokenFile, service account).
    public var bearerTokenFile: String?
    /// PEM client certificate chain and private key for mutual TLS (client-certificate/-key[-data]).
    public var clientCertificatePEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?
    /// HTTP basic credentials (username/password); rarely used.
    public var username: String?
    public var password: String?
    /// Where this configuration came from, for messages: `kubeconfig /path (context c)` or `in-cluster`.
    public var source: String

    /// A configuration from parts; `load(kubeconfigPath:)` and `inCluster()` are the usual ways.
    public init(server: String, certificateAuthorityPEM: [UInt8]? = nil, insecureSkipTLSVerify: Bool = false,
                bearerToken: String? = nil, bearerTokenFile: String? = nil,
                clientCertificatePEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil,
                username: String? = nil, password: String? = nil, source: String = "configuration") {
        self.server = server
        self.certificateAuthorityPEM = certificateAuthorityPEM
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.bearerToken = bearerToken
        self.bearerTokenFile = bearerTokenFile
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.username = username
        self.password = password
        self.source = source
    }
}

/// A problem with a kubeconfig or the in-cluster settings, naming the file and the field.
public struct KubeConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kubeconfig path, the service-account file, or `in-cluster`.
    public var file: String
    /// Dotted path of the field, e.g. `users[admin].user.client-key-data`; empty for the whole file.
    public var field: String
    public var message: String
    public init(file: String, field: String, message: String) {
        self.file = file; self.field = field; self.message = message
    }
    public var description: String {
        field.isEmpty ? "\(file): \(message)" : "\(file): \(field): \(message)"
    }
}

// MARK: - In-cluster

extension KubeConfig {
    /// The directory where the kubelet mounts a pod's service-account token and CA.
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The in-cluster configuration: `KUBERNETES_SERVICE_HOST`/`_PORT`, the service-account token
    /// (re-read when it rotates) and CA. Parameters exist for tests.
    public static func inCluster(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 serviceAccountDirectory: String = KubeConfig.serviceAccountDirectory) throws -> KubeConfig {
        let where_ = "in-cluster"
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
            throw KubeConfigError(file: where_, field: "KUBERNETES_SERVICE_HOST", message: "not set (not running in a pod?)")
        }
        guard let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
            throw KubeConfigError(file: where_, field: "KUBERNETES_SERVICE_PORT", message: "not set (not running in a pod?)")
        }
        guard let p = Int(port), (1...65535).contains(p) else {
            throw KubeConfigError(file: where_, field: "KUBERNETES_SERVICE_PORT", message: "not a port: \(port)")
        }
        // An IPv6 service address needs brackets in a URL.
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        let dir = serviceAccountDirectory.hasSuffix("/") ? String(serviceAccountDirectory.dropLast()) : serviceAccountDirectory
        let tokenPath = dir + "/token"
        let caPath = dir + "/ca.crt"
        let token = try readFile(tokenPath, file: tokenPath, field: "")
        guard !String(decoding: token, as: UTF8.self).trimmingWhitespaceAndNewlines().isEmpty else {
            throw KubeConfigError(file: tokenPath, field: "", message: "the service-account token is empty")
        }
        let ca = try readFile(caPath, file: caPath, field: "")
        try checkCertificates(ca, file: caPath, field: "")
        return KubeConfig(server: "https://\(hostPart):\(p)", certificateAuthorityPEM: ca,
                          bearerTokenFile: tokenPath, source: where_)
    }
}

// MARK: - kubeconfig

extension KubeConfig {
    /// Loads a kubeconfig file (clusters, users, contexts, current-context). `context` overrides
    /// current-context. Relative file paths inside are resolved against the file's directory.
    public static func load(kubeconfigPath path: String, context: String? = nil) throws -> KubeConfig {
        let data = try readFile(path, file: path, field: "")
        guard let text = String(data: Data(data), encoding: .utf8) else {
            throw KubeConfigError(file: path, field: "", message: "not UTF-8 text")
        }
        let baseDirectory = directory(of: path)
        return try parse(yaml: text, file: path, baseDirectory: baseDirectory.isEmpty ? "." : baseDirectory, context: context)
    }

    /// Parses kubeconfig text as `load` does; `file` names it in errors, and relative paths inside
    /// are resolved against `baseDirectory` (the files they name are read).
    public static func parse(yaml text: String, file: String, baseDirectory: String, context: String? = nil) throws -> KubeConfig {
        let root: YAMLNode
        do {
            guard let node = try YAMLComposer().compose(text) else {
                throw KubeConfigError(file: file, field: "", message: "the file is empty")
            }
            root = node
        } catch let e as KubeConfigError {
            throw e
        } catch {
            throw KubeConfigError(file: file, field: "", message: "not valid YAML: \(error)")
        }
        var parser = KubeconfigParser(file: file, baseDirectory: baseDirectory)
        return try parser.parse(root, context: context)
    }
}

/// Walks the YAML tree of a kubeconfig, keeping the path of the field being read for errors.
private struct KubeconfigParser {
    let file: String
    let baseDirectory: String

    init(file: String, baseDirectory: String) { self.file = file; self.baseDirectory = baseDirectory }

    func error(_ field: String, _ message: String) -> KubeConfigError {
        KubeConfigError(file: file, field: field, message: message)
    }

    mutating func parse(_ root: YAMLNode, context override: String?) throws -> KubeConfig {
        guard let top = root.mapping else { throw error("", "not a mapping (expected a kubeconfig with clusters, users, contexts)") }
        if let kind = try string(top, "kind", at: ""), kind != "Config" {
            throw error("kind", "expected Config, found \(kind)")
        }
        let contextName: String
        if let o = override {
            contextName = o
        } else {
            guard let c = try string(top, "current-context", at: ""), !c.isEmpty else {
                throw error("current-context", "not set (and no context was chosen)")
            }
            contextName = c
        }
        let contextField = override == nil ? "current-context" : "context"
        let (ctx, ctxPath) = try named(top, "contexts", entry: "context", name: contextName,
                                       notFoundField: contextField)
        guard let clusterName = try string(ctx, "cluster", at: ctxPath), !clusterName.isEmpty else {
            throw error(ctxPath + ".cluster", "missing")
        }
        let (cluster, clPath) = try named(top, "clusters", entry: "cluster", name: clusterName,
                                          notFoundField: ctxPath + ".cluster")
        var userMap: YAMLNode.Mapping? = nil
        var uPath = ""
        if let userName = try string(ctx, "user", at: ctxPath), !userName.isEmpty {
            (userMap, uPath) = try named(top, "users", entry: "user", name: userName, notFoundField: ctxPath + ".user")
        }

        // Cluster.
        guard let server = try string(cluster, "server", at: clPath), !server.isEmpty else {
            throw error(clPath + ".server", "missing")
        }
        guard let url = URL(string: server), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http",
              let host = url.host, !host.isEmpty else {
            throw error(clPath + ".server", "not an http(s) URL with a host: \(RedactedURL(server))")
        }
        for unsupported in ["proxy-url", "tls-server-name"] where cluster[unsupported] != nil {
            throw error(clPath + "." + unsupported, "not supported by kube-ipvs")
        }
        let insecure = try bool(cluster, "insecure-skip-tls-verify", at: clPath) ?? false
        let ca = try fileOrData(cluster, file: "certificate-authority", data: "certificate-authority-data", at: clPath)
        if let ca {
            try KubeConfig.checkCertificates(ca.bytes, file: file, field: ca.field)
            if insecure {
                throw error(clPath + ".insecure-skip-tls-verify",
                            "true together with \(ca.field.split(separator: ".").last ?? "") (a CA and no verification contradict each other)")
            }
        }

        var config = KubeConfig(server: server.hasSuffix("/") ? String(server.dropLast()) : server,
                                certificateAuthorityPEM: ca?.bytes, insecureSkipTLSVerify: insecure,
                                source: "kubeconfig \(file) (context \(contextName))")

        // User.
        if let user = userMap {
            for unsupported in ["exec", "auth-provider", "as", "as-groups", "as-uid"] where user[unsupported] != nil {
                throw error(uPath + "." + unsupported, "not supported by kube-ipvs (use a token, a token file or a client certificate)")
            }
            if let token = try string(user, "token", at: uPath), !token.isEmpty {
                config.bearerToken = token.trimmingWhitespaceAndNewlines()
            }
            if let tokenFile = try string(user, "tokenFile", at: uPath), !tokenFile.isEmpty {
                let p = resolve(tokenFile)
                let bytes = try KubeConfig.readFile(p, file: file, field: uPath + ".tokenFile")
                if String(decoding: bytes, as: UTF8.self).trimmingWhitespaceAndNewlines().isEmpty {
                    throw error(uPath + ".tokenFile", "\(p) is empty")
                }
                config.bearerTokenFile = p
            }
            let cert = try fileOrData(user, file: "client-certificate", data: "client-certificate-data", at: uPath)
            let key = try fileOrData(user, file: "client-key", data: "client-key-data", at: uPath)
            switch (cert, key) {
            case (nil, nil): break
            case (.some, nil): throw error(uPath + ".client-key", "missing (client-certificate is set)")
            case (nil, .some): throw error(uPath + ".client-certificate", "missing (client-key is set)")
            case (let c?, let k?):
                try KubeConfig.checkCertificates(c.bytes, file: file, field: c.field)
                do {
                    _ = try NIOSSLPrivateKey(bytes: k.bytes, format: .pem)
                } catch {
                    throw self.error(k.field, "not a PEM private key (\(error))")
                }
                config.clientCertificatePEM = c.bytes
                config.clientKeyPEM = k.bytes
            }
            let username = try string(user, "username", at: uPath)
            let password = try string(user, "password", at: uPath)
            if (username == nil) != (password == nil) {
                throw error(uPath + (username == nil ? ".username" : ".password"), "missing (both username and password are needed)")
            }
            config.username = username
            config.password = password
        }
        return config
    }

    // MARK: Field access

    /// The entry `name` of a list such as `clusters`, as (its inner mapping, its field path).
    func named(_ top: YAMLNode.Mapping, _ list: String, entry: String, name: String,
               notFoundField: String) throws -> (YAMLNode.Mapping, String) {
        guard let node = top[list] else { throw error(notFoundField, "\(list) has no entry named \(name)") }
        guard let seq = node.sequence else { throw error(list, "not a list") }
        for (i, item) in seq.enumerated() {
            guard let m = item.mapping else { throw error("\(list)[\(i)]", "not a mapping") }
            guard let n = m["name"]?.string else { throw error("\(list)[\(i)].name", "missing") }
            guard n == name else { continue }
            let path = "\(list)[\(name)].\(entry)"
            guard let inner = m[entry] else { throw error(path, "missing") }
            guard let innerMap = inner.mapping else { throw error(path, "not a mapping") }
            return (innerMap, path)
        }
        throw error(notFoundField, "\(list) has no entry named \(name)")
    }

    func string(_ m: YAMLNode.Mapping, _ key: String, at path: String) throws -> String? {
        guard let n = m[key] else { return nil }
        if case .scalar(let s) = n {
            // An explicit null (`token: null`, `token: ~`, `token:`) means unset.
            if s.isNull { return nil }
            return s.string
        }
        throw error(join(path, key), "not a string")
    }

    func bool(_ m: YAMLNode.Mapping, _ key: String, at path: String) throws -> Bool? {
        guard let n = m[key] else { return nil }
        guard case .scalar(let s) = n else { throw error(join(path, key), "not true or false") }
        switch s.string {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE", "": return false
        default: throw error(join(path, key), "not true or false: \(s.string)")
        }
    }

    /// A PEM blob given either inline (`…-data`, base64, wins as in kubectl) or as a file path.
    func fileOrData(_ m: YAMLNode.Mapping, file fileKey: String, data dataKey: String,
                    at path: String) throws -> (bytes: [UInt8], field: String)? {
        if let b64 = try string(m, dataKey, at: path), !b64.isEmpty {
            let cleaned = b64.filter { !$0.isWhitespace }
            guard let d = Data(base64Encoded: cleaned), !d.isEmpty else {
                throw error(join(path, dataKey), "not valid base64")
            }
            return (Array(d), join(path, dataKey))
        }
        if let p = try string(m, fileKey, at: path), !p.isEmpty {
            let resolved = resolve(p)
            return (try KubeConfig.readFile(resolved, file: file, field: join(path, fileKey)), join(path, fileKey))
        }
        return nil
    }

    func resolve(_ p: String) -> String {
        p.hasPrefix("/") ? p : (baseDirectory.hasSuffix("/") ? baseDirectory + p : baseDirectory + "/" + p)
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }
}

// MARK: - Shared checks

extension KubeConfig {
    /// Reads a whole file; the error names `file`/`field` and the path that failed.
    static func readFile(_ path: String, file: String, field: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            let why = FileManager.default.fileExists(atPath: path) ? "cannot read" : "no such file"
            throw KubeConfigError(file: file, field: field, message: field.isEmpty ? why : "\(why): \(path)")
        }
        return Array(data)
    }

    /// Checks that `pem` holds at least one PEM certificate.
    static func checkCertificates(_ pem: [UInt8], file: String, field: String) throws {
        do {
            let certs = try NIOSSLCertificate.fromPEMBytes(pem)
            if certs.isEmpty { throw KubeConfigError(file: file, field: field, message: "no PEM certificate found") }
        } catch let e as KubeConfigError {
            throw e
        } catch {
            throw KubeConfigError(file: file, field: field, message: "not a PEM certificate (\(error))")
        }
    }
}

/// The directory part of `path` (NSString's deletingLastPathComponent): "" for a bare name, "/" for
/// a file in the root.
func directory(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return "" }
    var head = trimmed[..<slash]
    while head.hasSuffix("/") { head = head.dropLast() }
    return head.isEmpty ? "/" : String(head)
}
