import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif
import Logging
import KubeFakeAPI
@testable import Daemon

/// Plain sockets to 127.0.0.1, so that idle connections are only what the test makes them.
enum RawTCP {
    /// A connected socket, or -1.
    static func connect(_ port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 { close(fd); return -1 }
        return fd
    }

    /// `count` connections that send nothing.
    static func openIdle(_ port: Int, count: Int) -> [Int32] {
        (0..<count).map { _ in connect(port) }.filter { $0 >= 0 }
    }

    /// GET `path` over a new connection; the status code, or nil without an answer within `timeout` seconds.
    static func get(_ port: Int, _ path: String, timeout: Double = 10) -> Int? {
        let fd = connect(port)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
        var reply: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            reply += buf[0..<n]
        }
        let text = String(decoding: reply, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }

    /// How many of `fds` the server has closed (end of file or reset), waiting at most `timeout` seconds for all.
    static func closedByServer(_ fds: [Int32], timeout: Double) -> Int {
        var open = Set(fds)
        var buf = [UInt8](repeating: 0, count: 256)
        let deadline = Date().addingTimeInterval(timeout)
        while !open.isEmpty && Date() < deadline {
            var polls = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&polls, nfds_t(polls.count), 200) > 0 else { continue }
            for p in polls where p.revents != 0 {
                let n = buf.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) { open.remove(p.fd) }
            }
        }
        return fds.count - open.count
    }
}

/// Idle connections cannot starve the daemon: each server closes idle ones and caps how many it
/// holds, and the daemon raises its open-file limit.
final class ConnectionLimitsTests: XCTestCase {
    override func setUp() {
        // The test itself holds a thousand or two sockets.
        OpenFileLimit.raiseToHard()
    }

    /// 1,000 idle connections to a server with a cap of 100 and a 0.5 s idle timeout: /livez is
    /// still answered, and every idle connection is closed (beyond the cap at once, the rest
    /// once idle).
    func testIdleConnectionsAreCappedAndClosedAndLivezStillAnswers() async throws {
        let health = ProxyHealth(syncPeriod: 30)
        let server = HTTPServer(address: BindAddress(host: "127.0.0.1", port: 0), setting: "healthzBindAddress",
                                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                limits: ConnectionLimits(idleTimeout: .milliseconds(500), maxConnections: 100)) { path in
            path == "/livez" ? HTTPResponse(text: health.livez(now: Date().timeIntervalSince1970).body) : nil
        }
        let port = try await server.start()
        let task = Task { try await server.run() }
        defer { task.cancel() }

        let idle = RawTCP.openIdle(port, count: 1000)
        defer { for fd in idle { close(fd) } }
        XCTAssertEqual(idle.count, 1000)
        XCTAssertEqual(RawTCP.get(port, "/livez"), 200)
        XCTAssertLessThanOrEqual(server.connections.count, 100)
        XCTAssertEqual(RawTCP.closedByServer(idle, timeout: 30), 1000, "every idle connection closed by the server")
    }

    /// The daemon, started with a soft RLIMIT_NOFILE of 256, raises it to the hard limit; with
    /// 1,000 idle connections open to each of its ports it still syncs a change from the API
    /// server (watches work) and /livez answers.
    func testDaemonWithALowOpenFileLimitKeepsWorkingUnderIdleConnections() async throws {
        let binary = BuiltBinary.kubeIPVS
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary.path), "kube-ipvs is not built")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"), "no prlimit")
        var hard = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &hard)
        try XCTSkipUnless(hard.rlim_max >= 4096, "hard RLIMIT_NOFILE \(hard.rlim_max) is too low for this test")

        let fake = try await FakeKubeAPI.start()
        fake.setDiscoveryVersions(["v1"])
        try fake.put("/api/v1/services", json: Self.service("web", ip: "10.254.10.128"))
        try fake.put("/api/v1/nodes", json: Data(#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node1"}}"#.utf8))

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kube-ipvs-fd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let kubeconfig = dir.appendingPathComponent("kubeconfig")
        try """
            apiVersion: v1
            kind: Config
            clusters: [{name: fake, cluster: {server: "\(fake.url)"}}]
            users: [{name: u, user: {}}]
            contexts: [{name: c, context: {cluster: fake, user: u}}]
            current-context: c
            """.write(to: kubeconfig, atomically: true, encoding: .utf8)
        let healthz = try freeLoopbackPort(), metrics = try freeLoopbackPort()
        let out = dir.appendingPathComponent("stdout"), err = dir.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)

        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        p.arguments = ["--nofile=256:", binary.path, "run", "--dry-run", "--kubeconfig", kubeconfig.path,
                       "--hostname-override", "node1", "--cluster-cidr", "10.244.0.0/16", "--ipvs-min-sync-period", "0s",
                       "--healthz-bind-address", "127.0.0.1:\(healthz)", "--metrics-bind-address", "127.0.0.1:\(metrics)"]
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        var idle: [Int32] = []
        defer {
            for fd in idle { close(fd) }
            if p.isRunning { p.terminate() }
            p.waitUntilExit()
        }
        func output() -> String { (try? String(contentsOf: out, encoding: .utf8)) ?? "" }
        func until(_ what: String, _ condition: () -> Bool) throws {
            let deadline = Date().addingTimeInterval(30)
            while !condition() {
                guard Date() < deadline, p.isRunning else {
                    let log = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
                    XCTFail("timed out waiting for \(what); stderr:\n\(log.suffix(3000))")
                    throw CancellationError()
                }
                usleep(50_000)
            }
        }
        try until("the first sync") { output().contains("10.254.10.128") && RawTCP.get(healthz, "/livez", timeout: 2) == 200 }
        let limits = try String(contentsOfFile: "/proc/\(p.processIdentifier)/limits", encoding: .utf8)
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }.map(String.init) ?? ""
        XCTAssertEqual(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first.map(String.init), "\(hard.rlim_max)",
                       "the soft limit is raised to the hard one: \(line)")

        idle = RawTCP.openIdle(healthz, count: 1000) + RawTCP.openIdle(metrics, count: 1000)
        XCTAssertEqual(idle.count, 2000)
        // A change through the watch is still synced, and /livez still answers.
        try fake.put("/api/v1/services", json: Self.service("second", ip: "10.254.10.129"))
        try until("the second Service synced") { output().contains("10.254.10.129") }
        XCTAssertEqual(RawTCP.get(healthz, "/livez"), 200)
        XCTAssertEqual(RawTCP.get(metrics, "/metrics").map { $0 == 200 }, true)
        try await fake.shutdown()
    }

    static func service(_ name: String, ip: String) -> Data {
        Data("""
        {"apiVersion":"v1","kind":"Service","metadata":{"name":"\(name)","namespace":"default"},
         "spec":{"type":"ClusterIP","clusterIP":"\(ip)","ports":[{"protocol":"TCP","port":80,"targetPort":8080}]}}
        """.utf8)
    }
}
