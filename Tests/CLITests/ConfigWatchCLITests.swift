import Foundation
import KubeFakeAPI
import TestSupport
import XCTest

/// `kube-ipvs run --config FILE` exits, naming the file, when the file's content changes (as
/// kube-proxy does, so that the DaemonSet restarts it), here with a ConfigMap volume's layout.
/// Safety: `--dry-run`, so nothing reaches the kernel; the API server is a fake on loopback.
final class ConfigWatchCLITests: XCTestCase {
    func testRunExitsWhenAConfigMapUpdateChangesTheFile() async throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path), "kube-ipvs is not built beside the tests")
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("kube-ipvs-watch-cli-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        func version(_ name: String, scheduler: String) throws {
            try fm.createDirectory(at: dir.appendingPathComponent(name), withIntermediateDirectories: false)
            try "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nipvs: {scheduler: \(scheduler)}\n"
                .write(to: dir.appendingPathComponent(name).appendingPathComponent("config.yaml"), atomically: false, encoding: .utf8)
        }
        try version("..2026_12_03_10_00_00.1", scheduler: "rr")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("..data").path, withDestinationPath: "..2026_12_03_10_00_00.1")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("config.yaml").path, withDestinationPath: "..data/config.yaml")
        let config = dir.appendingPathComponent("config.yaml").path

        let fake = try await FakeKubeAPI.start()
        fake.setDiscoveryVersions(["v1"])
        let kubeconfig = try CLITests.writeKubeconfig(server: fake.url, in: dir)
        let healthz = try freeLoopbackPort(), metrics = try freeLoopbackPort()
        let daemon = try WriterLockCLITests.Running(
            ["run", "--dry-run", "--config", config, "--kubeconfig", kubeconfig, "--hostname-override", "node1",
             "--healthz-bind-address", "127.0.0.1:\(healthz)", "--metrics-bind-address", "127.0.0.1:\(metrics)"],
            environment: ProcessInfo.processInfo.environment)
        defer { daemon.stop() }
        try await waitFor("the first sync", timeout: 30) { daemon.stdout.contains("sync 1 of node node1") }

        // The kubelet's update: a new version, ..data_tmp renamed over ..data, the old one deleted.
        try version("..2026_12_03_10_05_00.2", scheduler: "wrr")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("..data_tmp").path, withDestinationPath: "..2026_12_03_10_05_00.2")
        XCTAssertEqual(rename(dir.appendingPathComponent("..data_tmp").path, dir.appendingPathComponent("..data").path), 0)
        try fm.removeItem(at: dir.appendingPathComponent("..2026_12_03_10_00_00.1"))

        try await waitFor("kube-ipvs to exit", timeout: 30) { !daemon.process.isRunning }
        daemon.finish()
        try await fake.shutdown()
        XCTAssertNotEqual(daemon.process.terminationStatus, 0)
        XCTAssertTrue(daemon.stderr.contains("--config \(config): content of the proxy server's configuration file was updated"), daemon.stderr)
    }
}
