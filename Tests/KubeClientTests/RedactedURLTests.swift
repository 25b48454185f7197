import Foundation
import KubeClient
import XCTest

/// Credentials in a server URL (`user:pass@`) or in a query never reach a log or an error message.
final class RedactedURLTests: XCTestCase {
    func testRedactsUserInformationAndSecretParameters() {
        let cases: [(String, String)] = [
            ("https://10.0.0.1:6443", "https://10.0.0.1:6443"),
            ("https://admin:hunter2@10.0.0.1:6443", "https://redacted@10.0.0.1:6443"),
            ("https://admin@10.0.0.1:6443/api", "https://redacted@10.0.0.1:6443/api"),
            ("https://a:b@c@[fd00::1]:6443/x?y=1", "https://redacted@[fd00::1]:6443/x?y=1"),
            ("https://h/api/v1/services?labelSelector=a%3Db&resourceVersion=7&watch=true",
             "https://h/api/v1/services?labelSelector=a%3Db&resourceVersion=7&watch=true"),
            ("https://h/p?access_token=abc&limit=5&X-Amz-Signature=f00#id_token=xyz",
             "https://h/p?access_token=redacted&limit=5&X-Amz-Signature=redacted#id_token=redacted"),
            ("https://h?password=p&apikey=k&flag", "https://h?password=redacted&apikey=redacted&flag"),
            ("user:pw@host:6443", "redacted@host:6443"),
            ("not a url", "not a url"),
        ]
        for (url, logged) in cases {
            XCTAssertEqual(RedactedURL(url).description, logged, url)
        }
        XCTAssertEqual(KubeConfig(server: "https://u:p@h:6443").redactedServer.description, "https://redacted@h:6443")
    }

    /// A kubeconfig whose server is not a usable URL is named in the error, without its password.
    func testBadServerErrorHasNoPassword() throws {
        let dir = try temporaryDirectory(self)
        let path = "\(dir)/config"
        try write("""
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "ftp://admin:hunter2@10.0.0.1/"}}]
            users: [{name: u, user: {token: t}}]
            contexts: [{name: ctx, context: {cluster: c, user: u}}]
            current-context: ctx
            """, to: path)
        XCTAssertThrowsError(try KubeConfig.load(kubeconfigPath: path)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("not an http(s) URL with a host: ftp://redacted@10.0.0.1/"), text)
            XCTAssertFalse(text.contains("hunter2"), text)
        }
    }

    /// The trace of each request (`--v 6`) shows the URL without the server's credentials.
    func testRequestTraceHasNoCredentials() async throws {
        final class Lines: @unchecked Sendable {
            let lock = NSLock()
            var all: [String] = []
            func add(_ s: String) { lock.lock(); all.append(s); lock.unlock() }
            var snapshot: [String] { lock.lock(); defer { lock.unlock() }; return all }
        }
        let lines = Lines()
        var options = APIClient.Options()
        options.trace = { lines.add($0) }
        options.requestTimeout = 2
        // Port 1 on loopback: refused at once; the request is traced before it is sent.
        let client = try APIClient(config: KubeConfig(server: "http://admin:hunter2@127.0.0.1:1"), options: options)
        _ = try? await client.serverVersion()
        try await client.shutdown()
        let traced = lines.snapshot
        XCTAssertTrue(traced.contains { $0.hasPrefix("GET http://redacted@127.0.0.1:1/version") }, "\(traced)")
        XCTAssertFalse(traced.contains { $0.contains("hunter2") || $0.contains("admin") }, "\(traced)")
    }
}
