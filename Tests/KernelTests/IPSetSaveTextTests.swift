import XCTest
import KubeModel
import ProxyCore
@testable import Kernel

final class IPSetSaveTextTests: XCTestCase {
    func testParsesCapturedSaveOutput() throws {
        let sets = IPSetSaveText.parse(try NetfilterTestSupport.fixture("ipset-save-mixed.txt"))
        XCTAssertNil(sets["FOREIGN-BLOCK"], "foreign sets are not observed")
        let cip = try XCTUnwrap(sets["KUBE-CLUSTER-IP"])
        XCTAssertEqual(cip.spec.type, .hashIPPort)
        XCTAssertEqual(cip.spec.family, .ipv4)
        XCTAssertEqual(cip.spec.hashSize, 1024)
        XCTAssertEqual(cip.spec.maxElements, 65536)
        XCTAssertEqual(cip.spec.comment, "Kubernetes service cluster ip + port for masquerade purpose")
        XCTAssertEqual(cip.entries, ["10.254.10.128,tcp:80", "10.254.0.10,udp:53"])
        XCTAssertEqual(cip.spec.createArguments, "hash:ip,port family inet hashsize 1024 maxelem 65536")

        let np = try XCTUnwrap(sets["KUBE-NODE-PORT-TCP"])
        XCTAssertEqual(np.spec.type, .bitmapPort)
        XCTAssertEqual(np.spec.family, .ipv4, "bitmap:port has no family: IPv4 unless named KUBE-6-")
        XCTAssertEqual(np.spec.portRange, 0...65535)
        XCTAssertEqual(np.entries, ["30080"])
        XCTAssertEqual(sets["KUBE-6-NODE-PORT-TCP"]?.spec.family, .ipv6)
        XCTAssertEqual(sets["KUBE-6-NODE-PORT-TCP"]?.entries, ["30081"])

        XCTAssertEqual(sets["KUBE-6-CLUSTER-IP"]?.spec.family, .ipv6)
        XCTAssertEqual(sets["KUBE-6-CLUSTER-IP"]?.entries, ["fd00::1,tcp:80"])
        XCTAssertEqual(sets["KUBE-LOOP-BACK"]?.entries, ["10.244.1.2,tcp:8080,10.244.1.2"])
        XCTAssertEqual(sets["KUBE-LOAD-BALANCER-SOURCE-CIDR"]?.entries,
                       ["1.2.3.4,tcp:80,10.0.0.0/8", "1.2.3.4,tcp:80,10.0.0.1"])
        XCTAssertEqual(sets["KUBE-IPVS-IPS"]?.spec.type, .hashIP)
    }

    func testEntryBuildersMatchWhatIpsetPrints() throws {
        // The members ipset printed in the fixture are exactly what the core's builders produce.
        let sets = IPSetSaveText.parse(try NetfilterTestSupport.fixture("ipset-save-mixed.txt"))
        let v6 = try XCTUnwrap(IPAddress("fd00:0:0::0001"))
        XCTAssertTrue(sets["KUBE-6-CLUSTER-IP"]!.entries.contains(IPSetEntry.ipPort(v6, .tcp, 80)))
        let lb = try XCTUnwrap(IPAddress("1.2.3.4"))
        XCTAssertTrue(sets["KUBE-LOAD-BALANCER-SOURCE-CIDR"]!.entries.contains(
            IPSetEntry.ipPortNet(lb, .tcp, 80, try XCTUnwrap(CIDR("10.0.0.1/32")))))
    }
}
