import Foundation
import KubeClient
import KubeFakeAPI
import XCTest

// MARK: - kubeconfig and in-cluster configuration

final class KubeConfigTests: XCTestCase {
    private func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

    /// A kubeconfig with one cluster `c`, one user `u`, one context `ctx`.
    private func kubeconfig(cluster: String, user: String, extra: String = "", current: String? = "ctx") -> String {
        """
        apiVersion: v1
        kind: Config
        clusters:
        - name: c
          cluster:
        \(cluster.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        users:
        - name: u
          user:
        \(user.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        contexts:
        - name: ctx
          context:
            cluster: c
            user: u
            namespace: kube-system
        \(extra)
        \(current.map { "current-context: \($0)" } ?? "")
        """
    }

    func testTokenAndInlineCA() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/config"
        try write(kubeconfig(cluster: "server: https://127.0.0.1:6443/\ncertificate-authority-data: \(b64(TestCertificates.caCertificate))",
                             user: "token: abc.def"), to: path)
        let c = try KubeConfig.load(kubeconfigPath: path)
        XCTAssertEqual(c.server, "https://127.0.0.1:6443")
        XCTAssertEqual(c.bearerToken, "abc.def")
        XCTAssertNil(c.bearerTokenFile)
        XCTAssertEqual(c.certificateAuthorityPEM, Array(TestCertificates.caCertificate.utf8))
        XCTAssertFalse(c.insecureSkipTLSVerify)
        XCTAssertEqual(c.source, "kubeconfig \(path) (context ctx)")
    }

    func testRelativePathsResolveAgainstTheKubeconfigDirectory() throws {
        let dir = try temporaryDirectory(self)
        try FileManager.default.createDirectory(atPath: dir + "/pki", withIntermediateDirectories: true)
        try write(TestCertificates.caCertificate + "\n", to: dir + "/pki/ca.crt")
        try write(TestCertificates.clientCertificate + "\n", to: dir + "/pki/client.crt")
        try write(TestCertificates.clientKey + "\n", to: dir + "/pki/client.key")
        try write("tok-1\n", to: dir + "/token")
        let path = dir + "/config"
        try write(kubeconfig(cluster: "server: https://localhost:6443\ncertificate-authority: pki/ca.crt",
                             user: "client-certificate: pki/client.crt\nclient-key: pki/client.key\ntokenFile: token"), to: path)
        let c = try KubeConfig.load(kubeconfigPath: path)
        XCTAssertEqual(c.certificateAuthorityPEM, Array((TestCertificates.caCertificate + "\n").utf8))
        XCTAssertEqual(c.clientCertificatePEM, Array((TestCertificates.clientCertificate + "\n").utf8))
        XCTAssertEqual(c.clientKeyPEM, Array((TestCertificates.clientKey + "\n").utf8))
        XCTAssertEqual(c.bearerTokenFile, dir + "/token")
    }

    func testInsecureContextOverrideJSONAndBasicAuth() throws {
        let dir = try temporaryDirectory(self)
        let path = dir + "/config.json"
        try write("""
        {"apiVersion":"v1","kind":"Config","current-context":"a",
         "clusters":[{"name":"c1","cluster":{"server":"https://10.0.0.1"}},
                     {"name":"c2","cluster":{"server":"http://127.0.0.1:8080","insecure-skip-tls-verify":true}}],
         "users":[{"name":"u2","user":{"username":"admin","password":"secret"}}],
         "contexts":[{"name":"a","context":{"cluster":"c1"}},{"name":"b","context":{"cluster":"c2","user":"u2"}}]}
        """, to: path)
        let a = try KubeConfig.load(kubeconfigPath: path)
        XCTAssertEqual(a.server, "https://10.0.0.1")
        XCTAssertNil(a.bearerToken)
        let b = try KubeConfig.load(kubeconfigPath: path, context: "b")
        XCTAssertEqual(b.server, "http://127.0.0.1:8080")
        XCTAssertTrue(b.insecureSkipTLSVerify)
        XCTAssertEqual(b.username, "admin")
        XCTAssertEqual(b.password, "secret")
    }

    /// Bad files: each error names the file and the field.
    func testBadKubeconfigsNameTheField() throws {
        let dir = try temporaryDirectory(self)
        let goodCA = "certificate-authority-data: \(b64(TestCertificates.caCertificate))"
        let cases: [(String, String, String, String)] = [
            // (what, file content, expected field, expected message fragment)
            ("no current-context", kubeconfig(cluster: "server: https://a", user: "token: t", current: nil),
             "current-context", "not set"),
            ("unknown context", kubeconfig(cluster: "server: https://a", user: "token: t", current: "nope"),
             "current-context", "no entry named nope"),
            ("no server", kubeconfig(cluster: goodCA, user: "token: t"), "clusters[c].cluster.server", "missing"),
            ("bad server", kubeconfig(cluster: "server: ftp://a", user: "token: t"), "clusters[c].cluster.server", "not an http(s) URL"),
            ("CA not base64", kubeconfig(cluster: "server: https://a\ncertificate-authority-data: '%%%'", user: "token: t"),
             "clusters[c].cluster.certificate-authority-data", "not valid base64"),
            ("CA not PEM", kubeconfig(cluster: "server: https://a\ncertificate-authority-data: \(b64("hello"))", user: "token: t"),
             "clusters[c].cluster.certificate-authority-data", "PEM"),
            ("CA file missing", kubeconfig(cluster: "server: https://a\ncertificate-authority: nope/ca.crt", user: "token: t"),
             "clusters[c].cluster.certificate-authority", "no such file: \(dir)/nope/ca.crt"),
            ("insecure with CA", kubeconfig(cluster: "server: https://a\n\(goodCA)\ninsecure-skip-tls-verify: true", user: "token: t"),
             "clusters[c].cluster.insecure-skip-tls-verify", "contradict"),
            ("insecure not bool", kubeconfig(cluster: "server: https://a\ninsecure-skip-tls-verify: maybe", user: "token: t"),
             "clusters[c].cluster.insecure-skip-tls-verify", "not true or false"),
            ("certificate without key", kubeconfig(cluster: "server: https://a",
                                                   user: "client-certificate-data: \(b64(TestCertificates.clientCertificate))"),
             "users[u].user.client-key", "missing"),
            ("bad key", kubeconfig(cluster: "server: https://a",
                                   user: "client-certificate-data: \(b64(TestCertificates.clientCertificate))\nclient-key-data: \(b64("junk"))"),
             "users[u].user.client-key-data", "not a PEM private key"),
            ("exec plugin", kubeconfig(cluster: "server: https://a", user: "exec:\n  command: aws"), "users[u].user.exec", "not supported"),
            ("token file missing", kubeconfig(cluster: "server: https://a", user: "tokenFile: /nonexistent/token"),
             "users[u].user.tokenFile", "no such file"),
            ("missing user entry", kubeconfig(cluster: "server: https://a", user: "token: t").replacingOccurrences(of: "user: u\n", with: "user: ghost\n"),
             "contexts[ctx].context.user", "no entry named ghost"),
            ("wrong kind", "kind: Pod\n", "kind", "expected Config"),
            ("not a mapping", "- a\n- b\n", "", "not a mapping"),
            ("not YAML", "a: [b\n", "", "not valid YAML"),
        ]
        for (i, (what, content, field, fragment)) in cases.enumerated() {
            let path = "\(dir)/config-\(i)"
            try write(content, to: path)
            XCTAssertThrowsError(try KubeConfig.load(kubeconfigPath: path), what) { error in
                guard let e = error as? KubeConfigError else { return XCTFail("\(what): \(error)") }
                XCTAssertEqual(e.file, path, what)
                XCTAssertEqual(e.field, field, "\(what): \(e)")
                XCTAssertTrue(e.message.contains(fragment), "\(what): \(e)")
                XCTAssertTrue(e.description.hasPrefix(path + ": "), "\(what): \(e)")
            }
        }
    }

    func testMissingKubeconfigNamesThePath() {
        XCTAssertThrowsError(try KubeConfig.load(kubeconfigPath: "/nonexistent/kubeconfig")) { error in
            XCTAssertEqual("\(error)", "/nonexistent/kubeconfig: no such file")
        }
    }

    // MARK: In-cluster

    private func serviceAccount(token: String? = "sa-token\n", ca: String? = TestCertificates.caCertificate) throws -> String {
        let dir = try temporaryDirectory(self)
        if let token { try write(token, to: dir + "/token") }
        if let ca { try write(ca, to: dir + "/ca.crt") }
        return dir
    }

    func testInCluster() throws {
        let dir = try serviceAccount()
        let c = try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                                         serviceAccountDirectory: dir)
        XCTAssertEqual(c.server, "https://10.96.0.1:443")
        XCTAssertEqual(c.bearerTokenFile, dir + "/token")
        XCTAssertNil(c.bearerToken)
        XCTAssertEqual(c.certificateAuthorityPEM, Array(TestCertificates.caCertificate.utf8))
        XCTAssertEqual(c.source, "in-cluster")

        let v6 = try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"],
                                          serviceAccountDirectory: dir)
        XCTAssertEqual(v6.server, "https://[fd00::1]:6443")
    }

    func testInClusterErrors() throws {
        let good = try serviceAccount()
        let env = ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"]
        XCTAssertThrowsError(try KubeConfig.inCluster(environment: [:], serviceAccountDirectory: good)) {
            XCTAssertEqual(($0 as? KubeConfigError)?.field, "KUBERNETES_SERVICE_HOST")
        }
        XCTAssertThrowsError(try KubeConfig.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "http"],
                                                      serviceAccountDirectory: good)) {
            XCTAssertEqual(($0 as? KubeConfigError)?.field, "KUBERNETES_SERVICE_PORT")
        }
        let noToken = try serviceAccount(token: nil)
        XCTAssertThrowsError(try KubeConfig.inCluster(environment: env, serviceAccountDirectory: noToken)) {
            XCTAssertEqual("\($0)", "\(noToken)/token: no such file")
        }
        let emptyToken = try serviceAccount(token: "\n")
        XCTAssertThrowsError(try KubeConfig.inCluster(environment: env, serviceAccountDirectory: emptyToken)) {
            XCTAssertEqual(($0 as? KubeConfigError)?.file, "\(emptyToken)/token")
        }
        let badCA = try serviceAccount(ca: "not a certificate")
        XCTAssertThrowsError(try KubeConfig.inCluster(environment: env, serviceAccountDirectory: badCA)) {
            XCTAssertEqual(($0 as? KubeConfigError)?.file, "\(badCA)/ca.crt")
        }
    }
}
