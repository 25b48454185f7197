import XCTest
import KernelPort
import KubeModel
import ProxyCore
@testable import Kernel
#if canImport(Glibc)
import Glibc
#endif

/// NodeTuner against a fake /proc and /sys: what it reads, what it writes, and that a second run
/// writes nothing.
final class NodeTunerTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = try makeFakeNodeRoot("kube-ipvs-tuner", dirs: ["/proc/sys/net/netfilter", "/proc/sys/net/ipv4/vs", "/proc/sys/kernel",
                                                               "/proc/self", "/sys/module/nf_conntrack/parameters", "/sys/devices/system/cpu"])
        // nf_conntrack loaded, so that no modprobe runs.
        try writeFile("\(root)/proc/modules", "nf_conntrack 172032 1 - Live 0x0\nip_vs 176128 3 - Live 0x0\n")
        try writeFile("\(root)/sys/devices/system/cpu/online", "0-3,6\n")
        try writeFile("\(root)/proc/sys/kernel/osrelease", "5.4.0-150-generic\n")
        for (name, value) in [("nf_conntrack_max", "65536"), ("nf_conntrack_tcp_timeout_established", "432000"),
                              ("nf_conntrack_tcp_timeout_close_wait", "60"), ("nf_conntrack_tcp_be_liberal", "0"),
                              ("nf_conntrack_udp_timeout", "30"), ("nf_conntrack_udp_timeout_stream", "120")] {
            try writeFile("\(root)/proc/sys/net/netfilter/\(name)", value + "\n")
        }
        try writeFile("\(root)/proc/sys/net/ipv4/vs/conn_reuse_mode", "1\n")
        try writeFile("\(root)/sys/module/nf_conntrack/parameters/hashsize", "16384\n")
        try writeFile("\(root)/proc/self/oom_score_adj", "0\n")
    }

    override func tearDown() { _ = system("rm -rf '\(root)'") }

    var tuner: NodeTuner { NodeTuner(prerequisites: Prerequisites(root: root, modprobe: "/bin/false")) }

    /// A fake file's first line plus a newline: writes do not truncate a regular file as they do a sysctl.
    func read(_ path: String) -> String {
        ((try? String(contentsOfFile: root + path, encoding: .utf8)) ?? "missing").split(separator: "\n").first.map { $0 + "\n" } ?? ""
    }

    func testObserveReadsTheNodesValues() {
        let s = tuner.observe()
        XCTAssertEqual(s.cpus, 5)
        XCTAssertEqual(s.kernel, KernelVersion(5, 4, 0))
        XCTAssertEqual(s.sysctls[NodeTuning.conntrackMax], "65536")
        XCTAssertEqual(s.sysctls[NodeTuning.connReuseMode], "1")
        XCTAssertEqual(s.hashsize, "16384")
        XCTAssertEqual(NodeTuner(prerequisites: Prerequisites(root: root), kernelRelease: "6.1.0").observe().kernel, KernelVersion(6, 1, 0))
    }

    func testCPUListCounting() {
        XCTAssertEqual(NodeTuner.countCPUList("0\n"), 1)
        XCTAssertEqual(NodeTuner.countCPUList("0-3,8,10-11"), 7)
        XCTAssertNil(NodeTuner.countCPUList("3-1"))
        XCTAssertNil(NodeTuner.countCPUList("0-99999999999999999999"))
        XCTAssertNil(NodeTuner.countCPUList("a-b"))
        // A missing or malformed list falls back to the C library's count (never 0).
        try? writeFile("\(root)/sys/devices/system/cpu/online", "garbage\n")
        XCTAssertGreaterThanOrEqual(tuner.onlineCPUs(), 1)
    }

    func testApplyWritesWhatDiffersAndASecondRunWritesNothing() throws {
        var c = ProxyConfig()
        c.conntrack.tcpBeLiberal = true
        c.conntrack.udpTimeout = 30          // already 30: not written
        c.conntrack.udpStreamTimeout = 180
        let t = tuner
        let state = t.observe()
        let first = try t.apply(try NodeTuning.plan(config: c, state: state), state: state)
        // 5 CPUs x 32768 = 163840; hashsize 40960; conn_reuse_mode 0 on 5.4.
        XCTAssertEqual(read("/proc/sys/net/netfilter/nf_conntrack_max"), "163840\n")
        XCTAssertEqual(read("/sys/module/nf_conntrack/parameters/hashsize"), "40960\n")
        XCTAssertEqual(read("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"), "86400\n")
        XCTAssertEqual(read("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait"), "3600\n")
        XCTAssertEqual(read("/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal"), "1\n")
        XCTAssertEqual(read("/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream"), "180\n")
        XCTAssertEqual(read("/proc/sys/net/ipv4/vs/conn_reuse_mode"), "0\n")
        XCTAssertEqual(first.written.count, 7, "\(first.written)")
        XCTAssertTrue(first.written.contains("net.netfilter.nf_conntrack_max=163840 (was 65536)"), "\(first.written)")
        XCTAssertTrue(first.written.contains("/sys/module/nf_conntrack/parameters/hashsize=40960 (was 16384)"), "\(first.written)")

        // The second run: everything reads back as wanted. A file that changes would mean a write.
        let s2 = t.observe()
        let second = try NodeTuning.plan(config: c, state: s2)
        XCTAssertEqual(second.operations, [])
        XCTAssertEqual(try t.apply(second, state: s2).written, [])
    }

    func testAFailedSysctlWriteThrowsNamingIt() throws {
        // A directory where the sysctl should be: open(O_WRONLY) fails with EISDIR.
        _ = system("rm '\(root)/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established' && mkdir '\(root)/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established'")
        let t = tuner
        let s = t.observe()
        XCTAssertThrowsError(try t.apply(try NodeTuning.plan(config: ProxyConfig(), state: s), state: s)) { e in
            XCTAssertTrue("\(e)".contains("net.netfilter.nf_conntrack_tcp_timeout_established"), "\(e)")
        }
    }

    func testAFailedHashsizeWriteOtherThanReadOnlyIsFatal() throws {
        _ = system("rm '\(root)/sys/module/nf_conntrack/parameters/hashsize' && mkdir '\(root)/sys/module/nf_conntrack/parameters/hashsize'")
        let t = tuner
        var s = t.observe()
        s.hashsize = "16384"
        XCTAssertThrowsError(try t.apply(try NodeTuning.plan(config: ProxyConfig(), state: s), state: s)) { e in
            XCTAssertTrue("\(e)".contains("/sys/module/nf_conntrack/parameters/hashsize"), "\(e)")
        }
    }

    func testConntrackModuleIsLoadedFirstWhenMissing() throws {
        try writeFile("\(root)/proc/modules", "ip_vs 176128 3 - Live 0x0\n")
        _ = system("rm -rf '\(root)/sys/module/nf_conntrack'")
        let s = tuner.observe()
        // modprobe is /bin/false here: the load fails, and so does the tuning, naming the module.
        XCTAssertThrowsError(try tuner.apply(try NodeTuning.plan(config: ProxyConfig(), state: s), state: s)) { e in
            XCTAssertTrue("\(e)".contains("nf_conntrack"), "\(e)")
        }
        XCTAssertEqual(read("/proc/sys/net/netfilter/nf_conntrack_max"), "65536\n", "nothing written before the module is there")
    }

    func testOOMScoreAdjIsWrittenOnceAndRangeChecked() throws {
        let t = tuner
        XCTAssertEqual(t.oomScoreAdj(), 0)
        let r = try t.setOOMScoreAdj(-999)
        XCTAssertTrue(r.written)
        XCTAssertEqual(r.was, 0)
        XCTAssertEqual(read("/proc/self/oom_score_adj"), "-999\n")
        XCTAssertFalse(try t.setOOMScoreAdj(-999).written, "the same value is not written again")
        XCTAssertThrowsError(try t.setOOMScoreAdj(-1001)) { e in XCTAssertEqual((e as? ConfigError)?.field, "oomScoreAdj") }
        XCTAssertThrowsError(try t.setOOMScoreAdj(.max))
    }
}
