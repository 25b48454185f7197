import Foundation
import KubeFakeAPI
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// One writer per node, with the built binary: `run`, `sync` and `cleanup` take the node lock (a
/// temporary file here) and the second one fails naming the first's pid; the read-only forms take
/// none. And `run --dry-run`: its health-check node ports never report local endpoints, and its
/// log holds no credentials of the API server's URL.
///
/// Safety: nothing here may reach the kernel. Each writer is given a bad setting that is read only
/// after the lock, so with the lock free it stops on that setting instead of touching the node.
final class WriterLockCLITests: XCTestCase {
    var dir: URL!
    var lockPath: String { dir.appendingPathComponent("kube-ipvs.lock").path }

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path),
                          "kube-ipvs is not built beside the tests (\(CLITests.binary.path)); run `swift build` first")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("kube-ipvs-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    /// A running kube-ipvs whose standard output and error are collected as they come.
    final class Running: @unchecked Sendable {
        let process = Process()
        private let lock = NSLock()
        private var out = Data(), err = Data()
        private let readers = DispatchGroup()

        init(_ args: [String], environment: [String: String], executable: URL = CLITests.binary) throws {
            process.executableURL = executable
            process.arguments = args
            process.environment = environment
            process.currentDirectoryURL = CLITests.repoRoot
            let o = Pipe(), e = Pipe()
            process.standardOutput = o
            process.standardError = e
            try process.run()
            for (pipe, isErr) in [(o, false), (e, true)] {
                readers.enter()
                Thread.detachNewThread { [self] in
                    while let d = try? pipe.fileHandleForReading.read(upToCount: 4096), !d.isEmpty { append(d, err: isErr) }
                    readers.leave()
                }
            }
        }

        private func append(_ d: Data, err isErr: Bool) {
            lock.lock(); defer { lock.unlock() }
            if isErr { err.append(d) } else { out.append(d) }
        }

        var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: out, as: UTF8.self) }
        var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: err, as: UTF8.self) }

        /// Waits for it to exit and for all its output.
        func finish() {
            process.waitUntilExit()
            readers.wait()
        }

        /// Stops it (SIGTERM) if it still runs, and waits for it and its output.
        func stop() {
            if process.isRunning { process.terminate() }
            finish()
        }
    }

    func environment(timeout: String = "0") -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["KUBE_IPVS_LOCK_FILE"] = lockPath
        env["KUBE_IPVS_LOCK_TIMEOUT"] = timeout
        return env
    }

    func run(_ args: [String], environment: [String: String]) throws -> CLITests.Run {
        let r = try Running(args, environment: environment)
        r.finish()
        return CLITests.Run(status: r.process.terminationStatus, stdout: r.stdout, stderr: r.stderr)
    }

    /// Waits until `condition` holds; fails the test after `timeout` seconds (a bound, not a measurement).
    func wait(_ what: String, timeout: Double = 30, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { XCTFail("timed out waiting for \(what)"); throw CancellationError() }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    func kubeconfig(server: String) throws -> String { try CLITests.writeKubeconfig(server: server, in: dir) }

    func testSecondWriterFailsNamingTheFirstsPid() throws {
        // The first writer: a sync that takes the lock, then blocks reading its --config from a FIFO.
        let fifo = dir.appendingPathComponent("config.yaml").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let first = try Running(["sync", "-f", "examples/web-service.yaml", "--config", fifo, "--cluster-cidr", "10.0.0.0/99"],
                                environment: environment())
        defer { first.stop() }
        let pid = first.process.processIdentifier
        try wait("the first sync to take the lock") {
            (try? String(contentsOfFile: lockPath, encoding: .utf8)) == "\(pid) kube-ipvs sync\n"
        }

        let held = "the node lock \(lockPath) is held by pid \(pid) (kube-ipvs sync)"
        let kubeconfig = try kubeconfig(server: "http://127.0.0.1:1")
        for args in [["sync", "-f", "examples/web-service.yaml", "--cluster-cidr", "10.0.0.0/99"],
                     ["cleanup", "--ipvs-exclude-cidrs", "10.0.0.0"],
                     ["run", "--kubeconfig", kubeconfig, "--healthz-bind-address", "bogus"]] {
            let r = try run(args, environment: environment())
            XCTAssertEqual(r.status, 1, "\(args[0]): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(held), "\(args[0]): \(r.stderr)")
        }
        // `run` waits (bounded) and says for whom.
        let waited = try run(["run", "--kubeconfig", kubeconfig, "--healthz-bind-address", "bogus"], environment: environment(timeout: "0.3"))
        XCTAssertEqual(waited.status, 1, waited.stderr)
        XCTAssertTrue(waited.stderr.contains("the node lock \(lockPath) is held by pid \(pid) (kube-ipvs sync); waiting up to 0.3 s"), waited.stderr)
        XCTAssertTrue(waited.stderr.contains(held + " after waiting"), waited.stderr)
        // The read-only forms take no lock.
        let dry = try run(["sync", "--dry-run", "-f", "examples/web-service.yaml"], environment: environment())
        XCTAssertEqual(dry.status, 0, dry.stderr)
        let badTimeout = try run(["cleanup", "--ipvs-exclude-cidrs", "10.0.0.0"], environment: environment(timeout: "soon"))
        XCTAssertTrue(badTimeout.stderr.contains("KUBE_IPVS_LOCK_TIMEOUT: \"soon\" is not a number of seconds"), badTimeout.stderr)

        // The first writer gets a bad configuration and stops; its lock goes with it.
        let fd = open(fifo, O_WRONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = "bogusField: 1\n".withCString { write(fd, $0, strlen($0)) }
        close(fd)
        first.finish()
        XCTAssertNotEqual(first.process.terminationStatus, 0)
        XCTAssertTrue(first.stderr.contains("kind: missing (KubeProxyConfiguration)"), first.stderr)
        let after = try run(["cleanup", "--ipvs-exclude-cidrs", "10.0.0.0"], environment: environment())
        XCTAssertFalse(after.stderr.contains("node lock"), after.stderr)
        XCTAssertTrue(after.stderr.contains("--ipvs-exclude-cidrs: \"10.0.0.0\" is not a valid CIDR"), after.stderr)
    }

    func testUnwritableLockPathIsAClearError() throws {
        var env = environment()
        env["KUBE_IPVS_LOCK_FILE"] = dir.appendingPathComponent("missing/kube-ipvs.lock").path
        let r = try run(["cleanup", "--ipvs-exclude-cidrs", "10.0.0.0"], environment: env)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("the node lock \(env["KUBE_IPVS_LOCK_FILE"]!): open failed"), r.stderr)
    }

    // MARK: - run --dry-run

    func testDryRunHealthCheckNodePortsReportNoLocalEndpointAndLogNoCredentials() async throws {
        let fake = try await FakeKubeAPI.start()
        fake.setDiscoveryVersions(["v1"])
        let healthCheckPort = try freeLoopbackPort(), healthz = try freeLoopbackPort(), metrics = try freeLoopbackPort()
        _ = try fake.put("/api/v1/services", json: Data("""
            {"apiVersion":"v1","kind":"Service","metadata":{"name":"lb","namespace":"default"},
             "spec":{"type":"LoadBalancer","clusterIP":"10.254.0.9","externalTrafficPolicy":"Local","healthCheckNodePort":\(healthCheckPort),
                     "ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080}]}}
            """.utf8))
        _ = try fake.put("/apis/discovery.k8s.io/v1/endpointslices", json: Data("""
            {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"lb-abc","namespace":"default",
             "labels":{"kubernetes.io/service-name":"lb"}},"addressType":"IPv4",
             "endpoints":[{"addresses":["10.244.1.2"],"nodeName":"node1","conditions":{"ready":true}}],
             "ports":[{"name":"http","port":8080,"protocol":"TCP"}]}
            """.utf8))
        _ = try fake.put("/api/v1/nodes", json: Data("""
            {"apiVersion":"v1","kind":"Node","metadata":{"name":"node1"},"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.5"}]}}
            """.utf8))
        let server = fake.url.replacingOccurrences(of: "http://", with: "http://admin:hunter2@")
        let daemon = try Running(["run", "--dry-run", "--kubeconfig", try kubeconfig(server: server), "--hostname-override", "node1",
                                  "--healthz-bind-address", "127.0.0.1:\(healthz)", "--metrics-bind-address", "127.0.0.1:\(metrics)",
                                  "--v", "6"], environment: environment())
        defer { daemon.stop() }

        // The endpoint is on this node, but nothing is programmed: 503, and the body says 0.
        try wait("the health-check node port to answer") { httpGet(port: healthCheckPort) != nil }
        let answer = try XCTUnwrap(httpGet(port: healthCheckPort))
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 503"), answer)
        XCTAssertTrue(answer.contains("\"localEndpoints\": 0"), answer)

        daemon.stop()
        try await fake.shutdown()
        XCTAssertTrue(daemon.stdout.contains("kube-ipvs run --dry-run: sync 1 of node node1"), daemon.stdout)
        // The node tuning of the start, printed before the first sync; oom_score_adj only logged.
        let tuning = try XCTUnwrap(daemon.stdout.range(of: "# kube-ipvs run --dry-run: node tuning at start"), daemon.stdout)
        XCTAssertLessThan(tuning.lowerBound, daemon.stdout.range(of: "sync 1 of node")!.lowerBound)
        XCTAssertTrue(daemon.stdout.contains("sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=86400"), daemon.stdout)
        XCTAssertTrue(daemon.stderr.contains("--dry-run: would set oom_score_adj of this process to -999"), daemon.stderr)
        let log = daemon.stderr
        XCTAssertTrue(log.contains("server=http://redacted@127.0.0.1:\(fake.port)"), log)
        XCTAssertTrue(log.contains("GET http://redacted@127.0.0.1:\(fake.port)/api/v1/services?"), "request traces: \(log)")
        XCTAssertFalse(log.contains("hunter2"), log)
        XCTAssertFalse(log.contains("admin:"), log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: lockPath), "a dry-run takes no lock")
    }
}

/// The whole HTTP/1.1 answer to `GET /` on 127.0.0.1:`port`, or nil when nothing answers.
func httpGet(port: Int) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else { return nil }
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    guard request.withCString({ send(fd, $0, strlen($0), 0) }) > 0 else { return nil }
    var data = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        data += buf[0..<n]
    }
    return data.isEmpty ? nil : String(decoding: data, as: UTF8.self)
}
