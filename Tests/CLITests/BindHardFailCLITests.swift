import Foundation
import XCTest
import TestSupport

/// `kube-ipvs run` with a busy metrics port: bindAddressHardFail true exits, false keeps retrying.
final class BindHardFailCLITests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path), "kube-ipvs is not built beside the tests")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("hardfail-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A listening TCP socket on 127.0.0.1 (the busy port) and its port; close the descriptor to free it.
    func listener() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard fd >= 0, ok else { throw CocoaError(.fileWriteUnknown) }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    /// Starts `run --dry-run` with metricsBindAddress on `busy` and the given bindAddressHardFail.
    func start(busy: Int, healthz: Int, hardFail: Bool) throws -> (Process, Pipe) {
        let config = dir.appendingPathComponent("config.yaml").path
        try """
            apiVersion: kubeproxy.config.k8s.io/v1alpha1
            kind: KubeProxyConfiguration
            mode: ipvs
            bindAddressHardFail: \(hardFail)
            metricsBindAddress: 127.0.0.1:\(busy)
            healthzBindAddress: 127.0.0.1:\(healthz)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        // Nothing listens there: the daemon retries the API server while the servers start.
        let kubeconfig = try CLITests.writeKubeconfig(server: "http://127.0.0.1:1", in: dir)
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = ["run", "--dry-run", "--config", config, "--kubeconfig", kubeconfig, "--hostname-override", "node1"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        return (p, err)
    }

    /// Waits until `condition` holds; fails after `timeout` seconds (a bound, not a measurement).
    func wait(_ what: String, timeout: Double = 30, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            if Date() > deadline { XCTFail("timed out waiting for \(what)"); throw CancellationError() }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    func testHardFailExitsOnABusyPort() throws {
        let busy = try listener(), free = try listener()
        close(free.fd)
        defer { close(busy.fd) }
        let (p, err) = try start(busy: busy.port, healthz: free.port, hardFail: true)
        defer { if p.isRunning { p.terminate(); p.waitUntilExit() } }
        try wait("kube-ipvs to exit") { !p.isRunning }
        let log = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 1, log)
        XCTAssertTrue(log.contains("metricsBindAddress: cannot listen on 127.0.0.1:\(busy.port): address already in use"), log)
    }

    func testWithoutHardFailItKeepsRunning() throws {
        let busy = try listener(), free = try listener()
        close(free.fd)
        defer { close(busy.fd) }
        let (p, err) = try start(busy: busy.port, healthz: free.port, hardFail: false)
        let collected = Locked(Data())
        // availableData returns what has come so far (read(upToCount:) waits for the whole count).
        let reader = Thread {
            while true {
                let d = err.fileHandleForReading.availableData
                if d.isEmpty { break }
                collected.mutate { $0.append(d) }
            }
        }
        reader.start()
        defer { if p.isRunning { p.terminate() }; p.waitUntilExit() }
        try wait("the bind retry logged") { String(decoding: collected.value, as: UTF8.self).contains("retrying in 5.0s") }
        XCTAssertTrue(p.isRunning, String(decoding: collected.value, as: UTF8.self))
    }
}
