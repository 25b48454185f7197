import Foundation
import XCTest

/// Node tuning as the commands show it: `sync --dry-run` and `run --init-only --dry-run` print the
/// conntrack and conn_reuse_mode writes with the other prerequisites, for the (fake) node's CPUs
/// and kernel.
final class NodeTuningCLITests: XCTestCase {
    var roots: [String] = []
    let seedArgs = ["sync", "--dry-run", "-f", "examples/web-service.yaml", "--config", "examples/kube-proxy-config.yaml",
                    "--hostname-override", "node1"]

    /// Runs kube-ipvs with `args` and `environment` added to this process's.
    func run(_ args: [String], environment: [String: String]) throws -> CLITests.Run {
        try CLITests.launch(args, environment: environment)
    }

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path), "kube-ipvs is not built beside the tests")
    }

    override func tearDown() { for r in roots { try? FileManager.default.removeItem(atPath: r) } }

    /// A fake node root with `cpus` ("0-7") and a kernel release.
    func node(cpus: String, kernel: String) throws -> [String: String] {
        let root = NSTemporaryDirectory() + "kube-ipvs-cli-node-\(getpid())-\(roots.count)"
        roots.append(root)
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/sys/devices/system/cpu", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/proc/sys/kernel", withIntermediateDirectories: true)
        try (cpus + "\n").write(toFile: root + "/sys/devices/system/cpu/online", atomically: true, encoding: .utf8)
        try (kernel + "\n").write(toFile: root + "/proc/sys/kernel/osrelease", atomically: true, encoding: .utf8)
        return ["KUBE_IPVS_NODE_ROOT": root]
    }

    func lines(_ args: [String], _ env: [String: String]) throws -> [String] {
        let r = try run(args, environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").map(String.init)
    }

    func testSyncDryRunShowsTheTuningAfterTheModules() throws {
        let out = try lines(seedArgs, try node(cpus: "0-7", kernel: "6.1.0"))
        // 8 CPUs x 32768.
        let tuning = ["sysctl -w net.netfilter.nf_conntrack_max=262144", "echo 65536 > /sys/module/nf_conntrack/parameters/hashsize",
                      "sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=86400",
                      "sysctl -w net.netfilter.nf_conntrack_tcp_timeout_close_wait=3600"]
        let at = tuning.map { line in out.firstIndex(of: line) ?? -1 }
        XCTAssertFalse(at.contains(-1), "\(out.prefix(25))")
        XCTAssertEqual(at, at.sorted())
        XCTAssertLessThan(out.firstIndex(of: "modprobe nf_conntrack") ?? Int.max, at[0])
        XCTAssertFalse(out.contains { $0.contains("conn_reuse_mode") }, "6.1 leaves conn_reuse_mode alone")
        XCTAssertTrue(out.contains("# 48 operations (prerequisite 13, link 2, ipset 19, iptables 11, ipvs 3)"), "\(out.prefix(4))")
    }

    func testSyncDryRunSetsConnReuseModeOnlyOnKernelsFrom41To58() throws {
        for (kernel, expected) in [("5.8.18", true), ("4.1.0", true), ("5.9.0", false), ("3.10.0-1160.el7.x86_64", false)] {
            let r = try run(seedArgs, environment: try node(cpus: "0", kernel: kernel))
            XCTAssertEqual(r.stdout.contains("\nsysctl -w net.ipv4.vs.conn_reuse_mode=0\n"), expected, kernel)
            // Below 4.1 upstream logs an error and carries on: no failure.
            XCTAssertEqual(r.status, 0, r.stderr)
        }
    }

    func testSyncDryRunJSONHasTheHashsizeAsAModuleParameter() throws {
        let r = try run(seedArgs + ["--output", "json"], environment: CLITests.fixedNode)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"op\" : \"setModuleParameter\""), r.stdout)
        XCTAssertTrue(r.stdout.contains("\"parameter\" : \"hashsize\""), r.stdout)
    }

    func testRunInitOnlyDryRunPrintsThePreparationAndNeedsNoAPIServer() throws {
        let env = try node(cpus: "0-1", kernel: "5.4.0")
        let r = try run(["run", "--init-only", "--dry-run", "--config", "examples/kube-proxy-config.yaml", "--hostname-override", "node1"],
                            environment: env.merging(["KUBERNETES_SERVICE_HOST": "", "KUBECONFIG": "/nonexistent"]) { $1 })
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = r.stdout.split(separator: "\n").map(String.init)
        for line in ["modprobe ip_vs", "modprobe nf_conntrack", "sysctl -w net.netfilter.nf_conntrack_max=131072",
                     "echo 32768 > /sys/module/nf_conntrack/parameters/hashsize", "sysctl -w net.ipv4.vs.conn_reuse_mode=0",
                     "sysctl -w net.ipv4.vs.conntrack=1", "sysctl -w net.ipv4.ip_forward=1"] {
            XCTAssertTrue(out.contains(line), "missing \(line) in:\n\(r.stdout)")
        }
        XCTAssertFalse(r.stdout.contains("ipset") || r.stdout.contains("ipvsadm"), "only the node preparation")
    }
}
