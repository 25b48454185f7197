import Foundation
import XCTest
@testable import Kernel

/// Fixture loading and the netns guard for the ipset/iptables tests.
enum NetfilterTestSupport {
    /// Text of Tests/KernelTests/Fixtures/`name`.
    static func fixture(_ name: String) throws -> String {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw XCTSkip("Fixtures directory not bundled")
        }
        return try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
    }

    /// Skips unless KUBE_IPVS_NETNS=1 AND this process is not in the machine's own network
    /// namespace (checked by comparing /proc/self/ns/net with PID 1's), so that these tests can
    /// never change the host's iptables or ipsets.
    static func requireThrowawayNetns() throws {
        guard ProcessInfo.processInfo.environment["KUBE_IPVS_NETNS"] == "1" else {
            throw XCTSkip("set KUBE_IPVS_NETNS=1 inside `unshare -n` to run")
        }
        let mine = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        let init1 = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/1/ns/net")
        if let mine, let init1 {
            guard mine != init1 else { throw XCTSkip("in the machine's own network namespace: refusing to touch netfilter") }
            return
        }
        // PID 1's namespace may be unreadable (sandboxes): then require a namespace with no
        // interface but loopback, which a real host never is.
        let dev = (try? String(contentsOfFile: "/proc/self/net/dev", encoding: .utf8)) ?? ""
        let ifaces = dev.split(separator: "\n").dropFirst(2).compactMap { $0.split(separator: ":").first?.trimmingCharacters(in: .whitespaces) }
        guard ifaces == ["lo"] else {
            throw XCTSkip("cannot prove this is a throwaway network namespace (interfaces: \(ifaces)): refusing to touch netfilter")
        }
    }

    /// Runs a shell command (netns tests only); returns stdout.
    @discardableResult
    static func sh(_ command: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = "/usr/sbin:/sbin:/usr/bin:/bin"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// Empties every iptables table of both flavours and destroys every ipset (netns tests only).
    static func resetNetfilter() throws {
        try requireThrowawayNetns()
        for v in ["iptables", "ip6tables"] {
            for flavor in ["legacy", "nft"] {
                for t in ["filter", "nat"] {
                    try sh("\(v)-\(flavor) -t \(t) -F 2>/dev/null; \(v)-\(flavor) -t \(t) -X 2>/dev/null; true")
                }
            }
        }
        try sh("ipset destroy 2>/dev/null; true")
    }

    /// Save output without comment lines and counters (for before/after comparisons).
    static func stableSave(_ text: String) -> String {
        text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line -> String in
            if line.hasPrefix(":"), let r = line.range(of: " [") { return String(line[..<r.lowerBound]) }
            return String(line)
        }.joined(separator: "\n")
    }
}
