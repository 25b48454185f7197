import XCTest
import KubeModel
import ProxyCore
@testable import Kernel

final class IPTablesSaveTextTests: XCTestCase {
    func testParsesCapturedSaveWithForeignState() throws {
        let tables = IPTablesSaveText.parse(try NetfilterTestSupport.fixture("iptables-save-legacy-mixed.txt"))
        let filter = try XCTUnwrap(tables[.filter])
        XCTAssertNil(filter.kubeChains["FOREIGN"], "foreign user chains are not observed")
        XCTAssertEqual(filter.builtinChains["INPUT"], [
            "-m comment --comment \"kubernetes health check rules\" -j KUBE-NODE-PORT",
            "-m comment --comment \"kubernetes ipvs access filter\" -j KUBE-IPVS-FILTER",
            "-i lo -j ACCEPT", "-j FOREIGN",
        ])
        XCTAssertEqual(filter.kubeChains["KUBE-IPVS-OUT-FILTER"], [])
        XCTAssertEqual(filter.kubeChains["KUBE-SOURCE-RANGES-FIREWALL"]?.last, "-j DROP")
        let nat = try XCTUnwrap(tables[.nat])
        XCTAssertEqual(nat.builtinChains["POSTROUTING"]?.last, "-o eth0 -j MASQUERADE")
        XCTAssertEqual(nat.builtinChains["INPUT"], [])
        XCTAssertEqual(nat.kubeChains["KUBE-MARK-MASQ"], ["-j MARK --set-xmark 0x4000/0x4000"])
    }

    func testRestoreInput() {
        let text = IPTablesSaveText.restoreInput(
            table: .nat, chains: [ChainBody(name: "KUBE-MARK-MASQ", rules: ["-j MARK --set-xmark 0x4000/0x4000"])],
            insertJumps: [JumpRule(table: .nat, chain: "PREROUTING", target: "KUBE-SERVICES", comment: "kubernetes service portals")],
            ensureChains: ["KUBE-SERVICES"])
        XCTAssertEqual(text, """
            *nat
            :KUBE-MARK-MASQ - [0:0]
            :KUBE-SERVICES - [0:0]
            -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
            -I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
            COMMIT

            """)
    }

    func testFlavorDecision() {
        let hint = "*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n"
        let rules3 = "*filter\n-A INPUT -j ACCEPT\n-A INPUT -j ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT\n"
        XCTAssertEqual(IPTablesFlavor.decide(nftMangle: hint, legacyAll: rules3, nftAll: ""), .nft)
        XCTAssertEqual(IPTablesFlavor.decide(nftMangle: "", legacyAll: hint, nftAll: rules3), .legacy)
        XCTAssertEqual(IPTablesFlavor.decide(nftMangle: "", legacyAll: rules3, nftAll: ""), .legacy)
        XCTAssertEqual(IPTablesFlavor.decide(nftMangle: "", legacyAll: "", nftAll: rules3), .nft)
        XCTAssertEqual(IPTablesFlavor.decide(nftMangle: "", legacyAll: "", nftAll: ""), .nft, "tie: nft")
        XCTAssertEqual(IPTablesFlavor(flag: "legacy"), .legacy)
        XCTAssertEqual(IPTablesFlavor(flag: "nft"), .nft)
        XCTAssertNil(IPTablesFlavor(flag: "auto"))
    }
}
