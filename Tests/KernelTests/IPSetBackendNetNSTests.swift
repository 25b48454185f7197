import Foundation
import XCTest
import KubeModel
import ProxyCore
@testable import Kernel
import KernelPort

/// libipset against the real kernel, in a throwaway network namespace (KUBE_IPVS_NETNS=1).
final class IPSetBackendNetNSTests: XCTestCase {
    override func setUpWithError() throws { try NetfilterTestSupport.resetNetfilter() }

    func spec(_ s: KubeSet, _ f: IPFamily = .ipv4) -> IPSetSpec {
        IPSetSpec(name: s.setName(for: f), type: s.type, family: f, comment: s.comment)
    }

    func testNetNSCreateAllSpecSetsAndObserve() throws {
        let b = try IPSetBackend()
        // ipset names have at most 31 characters (IPSET_MAXNAMELEN - 1). Every KubeSet name fits (the
        // two long IPv6 names are cut as upstream cuts them); a longer name must fail clearly.
        let fits = IPFamily.allCases.flatMap { f in KubeSet.allCases.map { ($0, f) } }
        let tooLong = IPSetSpec(name: "KUBE-6-LOAD-BALANCER-SOURCE-CIDR", type: .hashIPPortNet, family: .ipv6, comment: "")
        XCTAssertThrowsError(try b.apply([.createSet(tooLong)])) { e in
            XCTAssertTrue("\(e)".contains("longer than 31 characters"), "\(e)")
        }
        let ops: [ProxyCore.Operation] = fits.map { .createSet(spec($0.0, $0.1)) }
        let r = try b.apply(ops)
        XCTAssertEqual(r.applied, fits.count)
        XCTAssertNoThrow(try b.apply(ops), "creating identical sets again is not an error")
        let observed = try b.observe()
        for (s, f) in fits {
            do {
                let o = try XCTUnwrap(observed[f]?[s.setName(for: f)], s.setName(for: f))
                XCTAssertEqual(o.spec.type, s.type)
                XCTAssertEqual(o.spec.family, f)
                XCTAssertEqual(o.spec.comment, s.comment)
                XCTAssertEqual(o.spec.createArguments, spec(s, f).createArguments)
            }
        }
        // As kube-proxy: no per-entry comment extension on the sets.
        XCTAssertFalse(try NetfilterTestSupport.sh("ipset save KUBE-CLUSTER-IP").contains("comment"))
    }

    func testNetNSBatch10kEntriesInOneSession() throws {
        let b = try IPSetBackend()
        try b.apply([.createSet(spec(.clusterIP)), .createSet(spec(.nodePortTCP))])
        var adds: [ProxyCore.Operation] = []
        for i in 0..<10_000 {
            adds.append(.addSetEntry(set: "KUBE-CLUSTER-IP", entry: "10.96.\(i / 250).\(i % 250 + 1),tcp:\(80 + i % 3)"))
        }
        var start = Date()
        let r = try b.apply(adds)
        let addTime = Date().timeIntervalSince(start)
        XCTAssertEqual(r.applied, 10_000)
        print("ipset: added 10000 entries in one session in \(String(format: "%.3f", addTime)) s (\(r.requestsSent) commit)")
        var observed = try b.observe()
        XCTAssertEqual(observed[.ipv4]?["KUBE-CLUSTER-IP"]?.entries.count, 10_000)
        XCTAssertEqual(Set(adds.compactMap { if case let .addSetEntry(_, e) = $0 { return e } else { return nil } }),
                       observed[.ipv4]?["KUBE-CLUSTER-IP"]?.entries, "observed members are the exact texts added")

        XCTAssertNoThrow(try b.apply(Array(adds.prefix(100))), "adding present entries is not an error")
        let deletes = adds.prefix(5_000).map { op -> ProxyCore.Operation in
            guard case let .addSetEntry(s, e) = op else { fatalError() }
            return .deleteSetEntry(set: s, entry: e)
        }
        start = Date()
        try b.apply(deletes)
        print("ipset: deleted 5000 entries in one session in \(String(format: "%.3f", Date().timeIntervalSince(start))) s")
        XCTAssertNoThrow(try b.apply(Array(deletes.prefix(10))), "deleting missing entries is not an error")
        try b.apply((30000..<32000).map { .addSetEntry(set: "KUBE-NODE-PORT-TCP", entry: String($0)) })
        observed = try b.observe()
        XCTAssertEqual(observed[.ipv4]?["KUBE-CLUSTER-IP"]?.entries.count, 5_000)
        XCTAssertEqual(observed[.ipv4]?["KUBE-NODE-PORT-TCP"]?.entries.count, 2_000)
    }

    func testNetNSBadEntryIsReportedAndTheRestApplied() throws {
        let b = try IPSetBackend()
        try b.apply([.createSet(spec(.clusterIP))])
        let ops: [ProxyCore.Operation] = [
            .addSetEntry(set: "KUBE-CLUSTER-IP", entry: "10.0.0.1,tcp:80"),
            .addSetEntry(set: "KUBE-CLUSTER-IP", entry: "fd00::1,tcp:80"),  // wrong family
            .addSetEntry(set: "KUBE-CLUSTER-IP", entry: "10.0.0.2,tcp:80"),
            .addSetEntry(set: "KUBE-MISSING", entry: "10.0.0.3,tcp:80"),
        ]
        XCTAssertThrowsError(try b.apply(ops)) { e in
            let batch = e as? KernelBatchError
            XCTAssertEqual(batch?.errors.count, 2, "\(e)")
            XCTAssertEqual(batch?.partial.applied, 2)
            XCTAssertEqual(batch?.errors.first?.subsystem, .ipset)
        }
        XCTAssertEqual(try b.observe()[.ipv4]?["KUBE-CLUSTER-IP"]?.entries, ["10.0.0.1,tcp:80", "10.0.0.2,tcp:80"])
    }

    func testNetNSRecreateSetChangesType() throws {
        let b = try IPSetBackend()
        try b.apply([.createSet(IPSetSpec(name: "KUBE-IPVS-IPS", type: .hashIPPort, family: .ipv4, comment: "")),
                     .addSetEntry(set: "KUBE-IPVS-IPS", entry: "10.0.0.1,tcp:80")])
        try b.apply([.recreateSet(spec(.ipvsIPs)), .addSetEntry(set: "KUBE-IPVS-IPS", entry: "10.0.0.1")])
        let o = try XCTUnwrap(try b.observe()[.ipv4]?["KUBE-IPVS-IPS"])
        XCTAssertEqual(o.spec.type, .hashIP)
        XCTAssertEqual(o.entries, ["10.0.0.1"])
        XCTAssertNoThrow(try b.apply([.recreateSet(spec(.loopBack))]), "recreating a missing set creates it")
    }

    func testNetNSForeignSetsUntouched() throws {
        try NetfilterTestSupport.sh("""
            ipset create FOREIGN hash:net family inet hashsize 64 maxelem 100; ipset add FOREIGN 192.0.2.0/24
            ipset create KUBEX bitmap:port range 1-100; ipset add KUBEX 7
            """)
        let before = try NetfilterTestSupport.sh("ipset save FOREIGN; ipset save KUBEX")
        let b = try IPSetBackend()
        try b.apply([.createSet(spec(.clusterIP)), .addSetEntry(set: "KUBE-CLUSTER-IP", entry: "10.0.0.1,tcp:80"),
                     .recreateSet(spec(.loopBack)), .deleteSetEntry(set: "KUBE-CLUSTER-IP", entry: "10.0.0.1,tcp:80")])
        let observed = try b.observe()
        XCTAssertNil(observed[.ipv4]?["FOREIGN"])
        XCTAssertNil(observed[.ipv4]?["KUBEX"], "prefix is KUBE- with the dash")
        XCTAssertEqual(try NetfilterTestSupport.sh("ipset save FOREIGN; ipset save KUBEX"), before)
    }
}
