import Foundation
import XCTest
import KernelPort
import KubeModel
import ProxyCore
@testable import Kernel
#if canImport(Glibc)
import Glibc
#endif

/// Node tuning against the real kernel in a throwaway network namespace (KUBE_IPVS_NETNS=1): the
/// conntrack timeouts are per namespace and writable there; nf_conntrack_max is the machine's
/// and read-only outside the initial namespace, so raising it there fails, naming it, as
/// kube-proxy's start fails; a read-only /sys is a warning.
final class NodeTunerNetNSTests: XCTestCase {
    override func setUpWithError() throws {
        try NetfilterTestSupport.requireThrowawayNetns()
        guard FileManager.default.fileExists(atPath: "/proc/sys/net/netfilter/nf_conntrack_max") else {
            throw XCTSkip("nf_conntrack is not loaded on this machine")
        }
    }

    func testNetNSTimeoutsAreWrittenInTheNamespaceOnlyOnce() throws {
        var c = ProxyConfig()
        c.conntrack.maxPerCore = 0
        c.conntrack.tcpEstablishedTimeout = 4321
        c.conntrack.tcpCloseWaitTimeout = 321
        c.conntrack.tcpBeLiberal = true
        c.conntrack.udpTimeout = 33
        c.conntrack.udpStreamTimeout = 133
        let t = NodeTuner()
        let s = t.observe()
        let report = try t.apply(try NodeTuning.plan(config: c, state: s), state: s)
        XCTAssertEqual(t.prerequisites.readSysctl(NodeTuning.tcpEstablished), "4321")
        XCTAssertEqual(t.prerequisites.readSysctl(NodeTuning.udpStreamTimeout), "133")
        XCTAssertFalse(report.written.contains { $0.contains("nf_conntrack_max") })
        let s2 = t.observe()
        XCTAssertEqual(try NodeTuning.plan(config: c, state: s2).operations.filter { op in
            if case .setSysctl(let n, _) = op.operation { return n.hasPrefix("net.netfilter") }
            return true
        }, [])
    }

    func testNetNSRaisingConntrackMaxOutsideTheInitNamespaceFailsNamingIt() throws {
        let t = NodeTuner()
        guard let now = t.prerequisites.readSysctl(NodeTuning.conntrackMax).flatMap({ Int32($0) }), now < Int32.max - 1024 else {
            throw XCTSkip("cannot read nf_conntrack_max")
        }
        var c = ProxyConfig()
        c.conntrack.maxPerCore = 1
        c.conntrack.min = now + 1024
        let s = t.observe()
        let plan = try NodeTuning.plan(config: c, state: s)
        XCTAssertTrue(plan.operations.contains(PlannedOperation(.setSysctl(name: NodeTuning.conntrackMax, value: "\(now + 1024)"))))
        XCTAssertThrowsError(try t.apply(plan, state: s)) { e in
            XCTAssertTrue("\(e)".contains(NodeTuning.conntrackMax), "\(e)")
        }
        XCTAssertEqual(t.prerequisites.readSysctl(NodeTuning.conntrackMax), "\(now)", "the machine's table is unchanged")
        // Asking for no more than the machine has writes nothing, so the same start succeeds.
        c.conntrack.min = now
        let s2 = t.observe()
        XCTAssertNoThrow(try t.apply(try NodeTuning.plan(config: c, state: s2), state: s2))
    }

    func testNetNSReadOnlySysfsMakesTheHashsizeAWarning() throws {
        // A fake /proc (nf_conntrack_max already large) over a real sysfs mounted read-only in this
        // test's private mount namespace (run-in-netns.sh makes one).
        let mnt = { (pid: String) in try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt") }
        guard let mine = mnt("self"), mine != mnt("1") else { throw XCTSkip("not in a mount namespace of its own: no mount here") }
        let root = try makeFakeNodeRoot("kube-ipvs-rosys", dirs: ["/proc/sys/net/netfilter", "/proc/sys/net/ipv4/vs", "/sys"])
        defer { _ = system("umount '\(root)/sys' 2>/dev/null; rm -rf '\(root)'") }
        try writeFile("\(root)/proc/modules", "nf_conntrack 172032 1 - Live 0x0\n")
        try writeFile("\(root)/proc/sys/net/netfilter/nf_conntrack_max", "8000000\n")
        guard system("mount -t sysfs -o ro sysfs '\(root)/sys'") == 0 else { throw XCTSkip("cannot mount a read-only sysfs here") }
        let t = NodeTuner(prerequisites: Prerequisites(root: root, modprobe: "/bin/false"))
        var c = ProxyConfig()
        c.conntrack.maxPerCore = 1
        c.conntrack.min = 8_000_000   // hashsize 2,000,000: more than any default
        c.conntrack.tcpEstablishedTimeout = 0
        c.conntrack.tcpCloseWaitTimeout = 0
        let s = t.observe()
        let plan = try NodeTuning.plan(config: c, state: s)
        XCTAssertEqual(plan.operations.count, 1, "\(plan.operations)")
        let report = try t.apply(plan, state: s)
        XCTAssertEqual(report.written, [])
        XCTAssertEqual(report.warnings.count, 1)
        XCTAssertTrue(report.warnings[0].contains("read-only") && report.warnings[0].contains("hashsize"), report.warnings[0])
    }
}
