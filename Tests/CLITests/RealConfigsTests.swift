import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The installers' kube-proxy command lines (Tests/deploy/realconfigs) parsed by the built binary:
/// each exact argv, argv[0] kube-proxy, the case's files at their absolute paths, plus
/// `--write-config-to`, which writes the configuration the daemon would run with and exits before
/// any API or kernel access. The guest test Tests/vm/tests/60-real-configs.sh runs the same
/// command lines for real; this one pins down, without a VM, what each flag and file means.
/// Each run is in a private mount namespace (tmpfs over /var/lib and /usr/local/bin, holding the
/// case's files and the kube-proxy link) and network namespace; skipped when not root.
final class RealConfigsTests: XCTestCase {
    static let cases = CLITests.repoRoot.appendingPathComponent("Tests/deploy/realconfigs")

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path),
                          "kube-ipvs is not built beside the tests (\(CLITests.binary.path))")
        try XCTSkipUnless(getuid() == 0, "needs root for a private mount namespace (unshare -m)")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"), "no /usr/bin/unshare")
    }

    /// The argument vector of a case: argv's lines without comments, $(NODE_NAME) as kubelet
    /// expands it for node1.
    func argv(_ name: String) throws -> [String] {
        let text = try String(contentsOf: Self.cases.appendingPathComponent("\(name)/argv"), encoding: .utf8)
        return text.split(separator: "\n").map(String.init)
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .map { $0.replacingOccurrences(of: "$(NODE_NAME)", with: "node1") }
    }

    struct Written { var status: Int32; var stderr: String; var values: [String: String] }

    /// Runs the case's argv with --write-config-to; `values`: "key: value" lines of the written
    /// YAML by key (keys used here are unique in a KubeProxyConfiguration).
    func writeConfig(_ name: String) throws -> Written {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("realconf-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("written.yaml")
        let root = Self.cases.appendingPathComponent("\(name)/root")
        let script = """
            set -e
            root=$1 bin=$2; shift 2
            mount -t tmpfs tmpfs /var/lib
            cp -R "$root/var/lib/." /var/lib/
            mount -t tmpfs tmpfs /usr/local/bin
            ln -s "$bin" /usr/local/bin/kube-proxy
            PATH=/usr/local/bin:$PATH exec "$@"
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        p.arguments = ["-m", "-n", "--propagation", "private", "/bin/sh", "-c", script, "sh", root.path, CLITests.binary.path]
            + (try argv(name)) + ["--write-config-to=\(out.path)"]
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        var values: [String: String] = [:]
        if let text = try? String(contentsOf: out, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let t = line.trimmingCharacters(in: .whitespaces)
                guard let colon = t.range(of: ": ") else { continue }
                values[String(t[..<colon.lowerBound])] = String(t[colon.upperBound...]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return Written(status: p.terminationStatus, stderr: String(decoding: e, as: UTF8.self), values: values)
    }

    func check(_ name: String, _ want: [String: String], file: StaticString = #filePath, line: UInt = #line) throws {
        let w = try writeConfig(name)
        XCTAssertEqual(w.status, 0, "\(name): \(w.stderr)", file: file, line: line)
        for (key, value) in want.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(w.values[key], value, "\(name): \(key) in the written configuration", file: file, line: line)
        }
    }

    func testKubeadmDaemonSetWithItsDefaultConfigMap() throws {
        // Every field null or zero in kubeadm's file: kube-proxy's defaults apply.
        try check("kubeadm", ["hostnameOverride": "node1", "kubeconfig": "/var/lib/kube-proxy/kubeconfig.conf",
                              "maxPerCore": "32768", "min": "131072", "tcpEstablishedTimeout": "24h0m0s",
                              "tcpCloseWaitTimeout": "1h0m0s", "oomScoreAdj": "-999",
                              "healthzBindAddress": "0.0.0.0:10256", "metricsBindAddress": "127.0.0.1:10249"])
    }

    func testKubesprayDefaults() throws {
        try check("kubespray", ["hostnameOverride": "node1", "mode": "ipvs", "clusterCIDR": "10.233.64.0/18",
                                "scheduler": "rr", "maxPerCore": "32768", "min": "131072",
                                "tcpEstablishedTimeout": "24h0m0s", "tcpCloseWaitTimeout": "1h0m0s", "oomScoreAdj": "-999",
                                "healthzBindAddress": "0.0.0.0:10256", "metricsBindAddress": "127.0.0.1:10249",
                                "kubeconfig": "/var/lib/kube-proxy/kubeconfig.conf"])
    }

    func testKopsStaticPodFlags() throws {
        for name in ["kops-control-plane", "kops-node"] {
            try check(name, ["clusterCIDR": "100.96.0.0/11", "maxPerCore": "131072", "oomScoreAdj": "-998",
                             "kubeconfig": "/var/lib/kube-proxy/kubeconfig", "healthzBindAddress": "0.0.0.0:10256"])
        }
    }

    func testK3sAndRKE2Arguments() throws {
        for (name, dir) in [("k3s", "k3s"), ("rke2", "rke2")] {
            // conntrack 0 and 0s: leave the node's values alone; a bare healthz IP gets port 10256.
            try check(name, ["clusterCIDR": "10.42.0.0/16", "mode": "ipvs", "hostnameOverride": "node1",
                             "maxPerCore": "0", "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s",
                             "healthzBindAddress": "127.0.0.1:10256",
                             "kubeconfig": "/var/lib/rancher/\(dir)/agent/kubeproxy.kubeconfig"])
        }
    }

    func testK3sDefaultIPTablesModeIsRefused() throws {
        let w = try writeConfig("k3s-default-mode")
        XCTAssertNotEqual(w.status, 0)
        XCTAssertTrue(w.stderr.contains("--proxy-mode=iptables"), w.stderr)
        XCTAssertTrue(w.values.isEmpty, "a configuration was written for a refused command line")
    }
}
