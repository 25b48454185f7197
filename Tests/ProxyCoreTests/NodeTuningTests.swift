import XCTest
import KubeModel
@testable import ProxyCore

/// kube-proxy's node tuning, decided: nf_conntrack_max arithmetic, what is written and when.
final class NodeTuningTests: XCTestCase {
    func conntrack(maxPerCore: Int32 = 32768, min: Int32 = 131072) -> ConntrackConfig {
        var c = ConntrackConfig()
        c.maxPerCore = maxPerCore; c.min = min
        return c
    }

    func sets(_ p: NodeTuningPlan) -> [String] {
        p.operations.map { op -> String in
            switch op.operation {
            case .setSysctl(let n, let v): return "\(n)=\(v)"
            case .setModuleParameter(let m, let n, let v): return "\(m).\(n)=\(v)"
            default: return "?"
            }
        }
    }

    // MARK: - nf_conntrack_max

    func testConntrackMaxIsScaledOrTheMinimum() {
        XCTAssertEqual(NodeTuning.conntrackMax(conntrack(), cpus: 2), 131072, "2 x 32768 is below min")
        XCTAssertEqual(NodeTuning.conntrackMax(conntrack(), cpus: 8), 262144)
        XCTAssertEqual(NodeTuning.conntrackMax(conntrack(maxPerCore: 1000, min: 0), cpus: 3), 3000)
        XCTAssertEqual(NodeTuning.conntrackMax(conntrack(maxPerCore: 1, min: -5), cpus: 1), 1, "a negative min is no floor")
    }

    func testZeroOrNegativeMaxPerCoreLeavesItAlone() {
        XCTAssertNil(NodeTuning.conntrackMax(conntrack(maxPerCore: 0), cpus: 64))
        XCTAssertNil(NodeTuning.conntrackMax(conntrack(maxPerCore: -1), cpus: 64))
    }

    func testScaledValueIsCappedButMinIsNot() {
        XCTAssertEqual(NodeTuning.conntrackMax(conntrack(), cpus: 32), 1_048_576)
        XCTAssertEqual(NodeTuning.conntrackMax(conntrack(), cpus: 512), 1_048_576, "512 x 32768 is capped")
        XCTAssertEqual(NodeTuning.conntrackMax(conntrack(maxPerCore: 10, min: 2_000_000), cpus: 4), 2_000_000)
    }

    func testExtremeValuesDoNotTrap() {
        XCTAssertEqual(NodeTuning.conntrackMax(conntrack(maxPerCore: .max, min: .max), cpus: .max), 1_048_576)
        XCTAssertEqual(NodeTuning.conntrackMax(conntrack(maxPerCore: .max, min: .min), cpus: 1), 1_048_576)
        XCTAssertEqual(NodeTuning.conntrackMax(conntrack(maxPerCore: 1, min: .max), cpus: 0), Int64(Int32.max), "0 CPUs counts as 1")
        XCTAssertEqual(NodeTuning.conntrackMax(conntrack(maxPerCore: 2, min: 0), cpus: -7), 2)
    }

    // MARK: - Decisions

    func state(_ sysctls: [String: String] = [:], hashsize: String? = nil, cpus: Int = 2, kernel: KernelVersion? = KernelVersion(6, 1)) -> NodeTuningState {
        NodeTuningState(cpus: cpus, kernel: kernel, sysctls: sysctls, hashsize: hashsize)
    }

    func testUnknownValuesAreAllWrittenInUpstreamOrder() throws {
        var c = ProxyConfig()
        c.conntrack.tcpBeLiberal = true
        c.conntrack.udpTimeout = 30
        c.conntrack.udpStreamTimeout = 120
        let p = try NodeTuning.plan(config: c, state: state(kernel: KernelVersion(5, 4)))
        XCTAssertEqual(sets(p), [
            "net.netfilter.nf_conntrack_max=131072", "nf_conntrack.hashsize=32768",
            "net.netfilter.nf_conntrack_tcp_timeout_established=86400", "net.netfilter.nf_conntrack_tcp_timeout_close_wait=3600",
            "net.netfilter.nf_conntrack_tcp_be_liberal=1", "net.netfilter.nf_conntrack_udp_timeout=30",
            "net.netfilter.nf_conntrack_udp_timeout_stream=120", "net.ipv4.vs.conn_reuse_mode=0",
        ])
        XCTAssertTrue(p.operations.allSatisfy { $0.operation.kind == .prerequisite && $0.owner == nil })
    }

    func testDefaultsLeaveUDPAndBeLiberalAlone() throws {
        let p = try NodeTuning.plan(config: ProxyConfig(), state: state())
        XCTAssertFalse(sets(p).contains { $0.contains("udp") || $0.contains("be_liberal") })
    }

    func testNothingIsWrittenWhenTheNodeAlreadyHasTheValues() throws {
        var c = ProxyConfig()
        c.conntrack.tcpBeLiberal = true
        c.conntrack.udpTimeout = 30
        let first = try NodeTuning.plan(config: c, state: state(kernel: KernelVersion(4, 19)))
        // The node after the first run's writes (a module parameter reads back without a newline).
        var after: [String: String] = [:]
        var hashsize: String?
        for op in first.operations {
            switch op.operation {
            case .setSysctl(let n, let v): after[n] = v + "\n"
            case .setModuleParameter(_, _, let v): hashsize = v
            default: break
            }
        }
        let second = try NodeTuning.plan(config: c, state: state(after, hashsize: hashsize, kernel: KernelVersion(4, 19)))
        XCTAssertFalse(first.operations.isEmpty)
        XCTAssertEqual(second.operations, [])
    }

    func testConntrackMaxAndHashsizeAreOnlyRaised() throws {
        let c = ProxyConfig()  // wants 131072 and 32768 on 2 CPUs
        let larger = try NodeTuning.plan(config: c, state: state([NodeTuning.conntrackMax: "262144"], hashsize: "65536"))
        XCTAssertFalse(sets(larger).contains { $0.hasPrefix("net.netfilter.nf_conntrack_max") || $0.hasPrefix("nf_conntrack.hashsize") })
        XCTAssertTrue(larger.notes.contains { $0.contains("262144") }, "\(larger.notes)")
        let smaller = try NodeTuning.plan(config: c, state: state([NodeTuning.conntrackMax: "65536"], hashsize: "16384"))
        XCTAssertEqual(Array(sets(smaller).prefix(2)), ["net.netfilter.nf_conntrack_max=131072", "nf_conntrack.hashsize=32768"])
        // The hashsize alone can be short of max/4 (nf_conntrack_max raised by someone else).
        let bucketsOnly = try NodeTuning.plan(config: c, state: state([NodeTuning.conntrackMax: "131072"], hashsize: "8192"))
        XCTAssertEqual(Array(sets(bucketsOnly).prefix(1)), ["nf_conntrack.hashsize=32768"])
    }

    func testTimeoutsAreWrittenWhenDifferentInEitherDirection() throws {
        let est = NodeTuning.tcpEstablished
        for have in ["432000", "60", "garbage"] {
            let p = try NodeTuning.plan(config: ProxyConfig(), state: state([est: have]))
            XCTAssertTrue(sets(p).contains("\(est)=86400"), have)
        }
        let same = try NodeTuning.plan(config: ProxyConfig(), state: state([est: "86400"]))
        XCTAssertFalse(sets(same).contains { $0.hasPrefix(est) })
    }

    func testMaxPerCoreZeroLeavesTableAndHashsizeAlone() throws {
        var c = ProxyConfig()
        c.conntrack.maxPerCore = 0
        c.conntrack.tcpEstablishedTimeout = 0
        c.conntrack.tcpCloseWaitTimeout = 0
        XCTAssertEqual(try NodeTuning.plan(config: c, state: state()).operations, [])
    }

    func testTimeoutsAreTruncatedToSecondsAndRangeChecked() throws {
        var c = ProxyConfig()
        c.conntrack.tcpCloseWaitTimeout = 90.9
        XCTAssertTrue(sets(try NodeTuning.plan(config: c, state: state())).contains("\(NodeTuning.tcpCloseWait)=90"))
        for bad in [1e300, Double.infinity, 2_147_484] {
            c.conntrack.tcpCloseWaitTimeout = bad
            XCTAssertThrowsError(try NodeTuning.plan(config: c, state: state())) { e in
                XCTAssertEqual((e as? ConfigError)?.field, "conntrack.tcpCloseWaitTimeout")
            }
        }
        c.conntrack.tcpCloseWaitTimeout = Double.nan  // not positive: left alone, as upstream's Duration > 0
        XCTAssertFalse(sets(try NodeTuning.plan(config: c, state: state())).contains { $0.hasPrefix(NodeTuning.tcpCloseWait) })
    }

    // MARK: - conn_reuse_mode by kernel version

    func testConnReuseModeDependsOnTheKernel() throws {
        let name = NodeTuning.connReuseMode
        func plan(_ release: String, have: String? = nil) throws -> NodeTuningPlan {
            try NodeTuning.plan(config: ProxyConfig(), state: state(have.map { [name: $0] } ?? [:], kernel: KernelVersion(release: release)))
        }
        for release in ["4.1.0", "4.19.0-25-amd64", "5.8.18", "5.4"] {
            XCTAssertTrue(sets(try plan(release)).contains("\(name)=0"), release)
            XCTAssertFalse(sets(try plan(release, have: "0")).contains("\(name)=0"), "already 0 on \(release)")
        }
        for release in ["5.9.0", "6.1.0-18-amd64", "10.0"] {
            let p = try plan(release, have: "1")
            XCTAssertFalse(sets(p).contains { $0.hasPrefix(name) }, release)
            XCTAssertTrue(p.errors.isEmpty)
        }
        let old = try plan("3.10.0-1160.el7.x86_64")
        XCTAssertFalse(sets(old).contains { $0.hasPrefix(name) })
        XCTAssertEqual(old.errors.count, 1)
        XCTAssertTrue(old.errors[0].contains(name) && old.errors[0].contains("3.10.0"), old.errors[0])
        let unknown = try NodeTuning.plan(config: ProxyConfig(), state: state(kernel: nil))
        XCTAssertFalse(sets(unknown).contains { $0.hasPrefix(name) })
        XCTAssertEqual(unknown.errors.count, 1)
    }

    func testKernelReleaseParsing() {
        XCTAssertEqual(KernelVersion(release: "6.1.0-18-amd64\n"), KernelVersion(6, 1, 0))
        XCTAssertEqual(KernelVersion(release: "5.8"), KernelVersion(5, 8, 0))
        XCTAssertEqual(KernelVersion(release: "4.19.260"), KernelVersion(4, 19, 260))
        XCTAssertNil(KernelVersion(release: "linux"))
        XCTAssertNil(KernelVersion(release: "6"))
        XCTAssertNil(KernelVersion(release: "99999999999999999999999.1"), "a huge component is refused, not trapped on")
        XCTAssertLessThan(KernelVersion(5, 8, 99), KernelVersion(5, 9))
    }
}
