import XCTest
#if canImport(Glibc)
import Glibc
#endif
import KubeModel
import ProxyCore
@testable import Kernel
import KernelPort

/// A failure stays with what caused it: a hung tool is killed and reported, a netlink receive
/// that gets no reply ends, a module or sysctl that fails does not stop the rest of an apply.
final class FaultContainmentTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = try makeFakeNodeRoot("kernel-faults", dirs: ["/proc/sys/net/ipv4/vs", "/sys/module", "/bin"])
    }

    override func tearDown() { _ = system("rm -rf '\(root)'") }

    func write(_ path: String, _ text: String, mode: mode_t = 0o644) throws { try writeFile(path, text, mode: mode) }

    /// A stub tool in the test's own bin directory.
    func stub(_ name: String, _ script: String) throws -> String {
        let path = "\(root)/bin/\(name)"
        try write(path, "#!/bin/sh\n" + script, mode: 0o755)
        return path
    }

    /// Whether process `pid` still exists (a zombie counts as gone).
    func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].hasPrefix(" Z")
    }

    // MARK: - External commands

    /// A tool still running at its timeout is killed, with what it started, and reported as ETIMEDOUT.
    func testToolPastItsTimeoutIsKilledAndReported() throws {
        let pids = "\(root)/pids"
        let tool = try stub("iptables-nft-restore", "sleep 30 &\necho $$ $! > \(pids)\nwait\necho done\n")
        XCTAssertThrowsError(try ExternalCommand.run(tool, ["--noflush"], input: "*nat\nCOMMIT\n", timeout: .milliseconds(300))) { e in
            guard let k = e as? KernelError else { return XCTFail("\(e)") }
            XCTAssertEqual(k.errno, ETIMEDOUT)
            XCTAssertEqual(k.subsystem, .iptables)
            XCTAssertTrue(k.description.contains("did not finish within 0.3s and was killed"), k.description)
        }
        let started = (try String(contentsOfFile: pids, encoding: .utf8)).split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        XCTAssertEqual(started.count, 2)
        for pid in started {
            // The killed child of the script is reaped by init; give that a moment (bounded).
            var tries = 0
            while alive(pid) && tries < 100 { usleep(20_000); tries += 1 }
            XCTAssertFalse(alive(pid), "process \(pid) of the tool is still running")
        }
    }

    /// A tool that finishes in time is unaffected by the timeout.
    func testToolWithinItsTimeoutRuns() throws {
        let tool = try stub("iptables-nft-save", "cat; echo out; echo err >&2; exit 3\n")
        let o = try ExternalCommand.run(tool, [], input: "in\n", timeout: .seconds(20))
        XCTAssertEqual(o.status, 3)
        XCTAssertEqual(o.stdout, "in\nout\n")
        XCTAssertEqual(o.stderr, "err\n")
    }

    /// A modprobe that hangs fails the module with a clear error instead of stalling the apply.
    func testHungModprobeIsReported() throws {
        let modprobe = try stub("modprobe", "exec sleep 30\n")
        let p = Prerequisites(root: root, modprobe: modprobe, commandTimeout: .milliseconds(300))
        XCTAssertThrowsError(try p.loadModule("ip_vs_twos")) { e in
            guard let k = e as? KernelError else { return XCTFail("\(e)") }
            XCTAssertEqual(k.errno, ETIMEDOUT)
            XCTAssertEqual(k.object, "ip_vs_twos")
            XCTAssertTrue(k.description.contains("did not finish within"), k.description)
        }
    }

    // MARK: - Scheduler availability

    /// As upstream: loaded or built in, else one `modprobe -- ip_vs_NAME` that must load it;
    /// read-only with `modprobe -n`.
    func testMissingSchedulersAsUpstreamChecks() throws {
        let log = "\(root)/modprobe.log"
        // Knows ip_vs_lc (and "loads" it into the fake /proc/modules), not ip_vs_twos.
        let modprobe = try stub("modprobe", """
            printf '%s\\n' "$*" >> \(log)
            for m; do :; done
            [ "$m" = ip_vs_lc ] || { echo "modprobe: FATAL: Module $m not found" >&2; exit 1; }
            [ "$1" = -n ] || echo "ip_vs_lc 16384 0 - Live 0x0" >> \(root)/proc/modules

            """)
        let p = Prerequisites(root: root, modprobe: modprobe)
        XCTAssertEqual(p.missingSchedulers(["rr", "lc", "twos"], load: false), ["twos"])
        XCTAssertFalse(p.isLoaded("ip_vs_lc"), "-n loads nothing")
        XCTAssertEqual(p.missingSchedulers(["rr", "lc", "twos"]), ["twos"])
        XCTAssertTrue(p.isLoaded("ip_vs_lc"))
        XCTAssertEqual(try String(contentsOfFile: log, encoding: .utf8),
                       "-n -- ip_vs_lc\n-n -- ip_vs_twos\n-- ip_vs_lc\n-- ip_vs_twos\n", "rr is loaded: no modprobe")
        // A modprobe that exits 0 without loading the module does not make it available.
        let liar = try stub("modprobe-liar", "exit 0\n")
        XCTAssertEqual(Prerequisites(root: root, modprobe: liar).missingSchedulers(["sed"]), ["sed"])
        // No modprobe at all: nothing is known missing.
        XCTAssertEqual(Prerequisites(root: root, modprobe: "\(root)/bin/none").missingSchedulers(["sed"]), [])
    }

    /// NodeKernel probes each scheduler once; a missing one again after the recheck interval.
    func testNodeKernelProbesEachSchedulerOnce() throws {
        let log = "\(root)/modprobe.log"
        let modprobe = try stub("modprobe", "printf '%s\\n' \"$*\" >> \(log)\nexit 1\n")
        let kernel = try NodeKernel(sets: nil, rules: nil, sysctlNames: [], prerequisites: Prerequisites(root: root, modprobe: modprobe))
        XCTAssertEqual(kernel.unavailableSchedulers(["rr", "twos"]), ["twos"])
        XCTAssertEqual(kernel.unavailableSchedulers(["rr", "twos", "sed"]), ["twos", "sed"])
        XCTAssertEqual(try String(contentsOfFile: log, encoding: .utf8), "-- ip_vs_twos\n-- ip_vs_sed\n")
        kernel.schedulerRecheckInterval = .zero
        XCTAssertEqual(kernel.unavailableSchedulers(["twos"]), ["twos"])
        XCTAssertEqual(try String(contentsOfFile: log, encoding: .utf8), "-- ip_vs_twos\n-- ip_vs_sed\n-- ip_vs_twos\n")
    }

    // MARK: - Prerequisites do not stop an apply

    /// A sysctl that cannot be written and a module that cannot be loaded are errors of the apply;
    /// the sets, rules and everything else are still applied.
    func testFailedSysctlAndModuleDoNotStopTheApply() throws {
        let sets = RecordingBackend(), rules = RecordingBackend()
        let kernel = try NodeKernel(sets: sets, rules: rules, sysctlNames: [],
                                    prerequisites: Prerequisites(root: root, modprobe: try stub("modprobe", "exit 1\n")))
        let jump = JumpRule(table: .nat, chain: "PREROUTING", target: "KUBE-SERVICES", comment: "kubernetes service portals")
        let plan = Plan(operations: [
            .setSysctl(name: "net.ipv6.conf.all.forwarding", value: "1"),  // IPv6 disabled: no such file
            .loadModule("ip_vs_twos"),
            .setSysctl(name: "net.ipv4.vs.conntrack", value: "1"),
            .addSetEntry(set: "KUBE-CLUSTER-IP", entry: "10.96.0.1,tcp:443"),
            .ensureJump(family: .ipv4, jump),
        ].map { PlannedOperation($0) })
        XCTAssertThrowsError(try kernel.apply(plan)) { e in
            guard let f = e as? ApplyFailure else { return XCTFail("not an ApplyFailure: \(e)") }
            XCTAssertEqual(f.report.errors.map(\.subsystem), [.sysctl, .module])
            XCTAssertEqual(f.report.errors.map(\.object), ["net.ipv6.conf.all.forwarding (\(root)/proc/sys/net/ipv6/conf/all/forwarding)", "ip_vs_twos"])
            XCTAssertEqual(f.report.results[.prerequisite]?.applied, 1, "the sysctl after them was written")
        }
        XCTAssertEqual(Prerequisites(root: root).readSysctl("net.ipv4.vs.conntrack"), "1")
        XCTAssertEqual(sets.applied, [.addSetEntry(set: "KUBE-CLUSTER-IP", entry: "10.96.0.1,tcp:443")])
        XCTAssertEqual(rules.applied, [.ensureJump(family: .ipv4, jump)])
    }

    // MARK: - Netlink receive timeout

    /// A request the kernel never answers (no NLM_F_REQUEST, no NLM_F_ACK: netlink drops it
    /// silently) ends with ETIMEDOUT after the receive timeout instead of blocking.
    func testNetlinkReceiveTimesOut() throws {
        let socket = try NetlinkSocket(protocol: 0 /* NETLINK_ROUTE */, subsystem: .link)
        XCTAssertEqual(socket.receiveTimeout, NetlinkSocket.defaultReceiveTimeout)
        socket.receiveTimeout = .milliseconds(200)
        var enc = NetlinkEncoder()
        let seq = socket.reserveSequences(1)
        enc.begin(type: 18 /* RTM_GETLINK */, flags: 0, sequence: seq)
        enc.raw([UInt8](repeating: 0, count: 16))  // struct ifinfomsg
        enc.end()
        XCTAssertThrowsError(try socket.request(enc, sequence: seq, operation: "RTM_GETLINK")) { e in
            guard let k = e as? KernelError else { return XCTFail("\(e)") }
            XCTAssertEqual(k.errno, ETIMEDOUT)
            XCTAssertTrue(k.description.contains("no reply from the kernel within"), k.description)
        }
    }

    /// Replies dropped by a receive-buffer overrun (ENOBUFS) end the batch with that error, so the
    /// caller reads the kernel again, instead of waiting for acks that will never come or taking a
    /// partial batch for a whole one. Read-only requests (RTM_GETLINK of lo), no root needed.
    func testNetlinkOverrunIsReportedAsENOBUFS() throws {
        let socket = try NetlinkSocket(protocol: 0 /* NETLINK_ROUTE */, subsystem: .link)
        socket.receiveTimeout = .seconds(5)
        var tiny: Int32 = 1
        XCTAssertEqual(setsockopt(socket.fd, SOL_SOCKET, SO_RCVBUF, &tiny, socklen_t(MemoryLayout<Int32>.size)), 0)
        let count = 64
        let first = socket.reserveSequences(count)
        var enc = NetlinkEncoder()
        for i in 0..<count {
            enc.begin(type: 18 /* RTM_GETLINK */, flags: 1 | 4 /* NLM_F_REQUEST | NLM_F_ACK */, sequence: first &+ UInt32(i))
            enc.raw([0, 0, 0, 0, 1, 0, 0, 0] + [UInt8](repeating: 0, count: 8))  // struct ifinfomsg, index 1 (lo)
            enc.end()
        }
        XCTAssertThrowsError(try socket.transact(enc, firstSequence: first, operation: "RTM_GETLINK")) { e in
            guard let k = e as? KernelError else { return XCTFail("\(e)") }
            XCTAssertEqual(k.errno, ENOBUFS, "an overrun, not a receive timeout: \(k)")
            XCTAssertTrue(k.description.contains("re-observe"), k.description)
        }
    }
}

/// Records the operations it is given (a sets or rules backend that touches nothing).
final class RecordingBackend: SetsBackend, RulesBackend {
    var applied: [ProxyCore.Operation] = []
    func observeSets(families: Set<IPFamily>) throws -> [IPFamily: [String: ObservedSet]] { [:] }
    func observeTables(families: Set<IPFamily>) throws -> [IPFamily: [IPTablesTable: ObservedTable]] { [:] }
    func apply(_ ops: [ProxyCore.Operation]) throws -> ApplyResult {
        applied += ops
        var r = ApplyResult()
        r.applied = ops.count
        r.requestsSent = ops.count
        return r
    }
}
