@testable import Kernel
import XCTest

/// A batch of set entries reaches the kernel grouped by set: a plan interleaves two sets per
/// Service, and each change of set would cost a type query and end the netlink message.
final class IPSetBatchOrderTests: XCTestCase {
    func testEntriesAreGroupedBySetKeepingEachSetsOrder() {
        let run: [(del: Bool, set: String, entry: String)] = [
            (false, "KUBE-CLUSTER-IP", "10.254.1.1,tcp:80"), (false, "KUBE-IPVS-IPS", "10.254.1.1"),
            (false, "KUBE-CLUSTER-IP", "10.254.1.2,tcp:80"), (false, "KUBE-IPVS-IPS", "10.254.1.2"),
            (true, "KUBE-CLUSTER-IP", "10.254.1.1,tcp:80"), (false, "KUBE-LOOP-BACK", "x"),
        ]
        let grouped = IPSetBackend.groupedBySet(run)
        XCTAssertEqual(grouped.map { "\($0.del ? "del" : "add") \($0.set) \($0.entry)" }, [
            "add KUBE-CLUSTER-IP 10.254.1.1,tcp:80", "add KUBE-CLUSTER-IP 10.254.1.2,tcp:80", "del KUBE-CLUSTER-IP 10.254.1.1,tcp:80",
            "add KUBE-IPVS-IPS 10.254.1.1", "add KUBE-IPVS-IPS 10.254.1.2",
            "add KUBE-LOOP-BACK x",
        ])
    }
}
