import XCTest
import KubeModel
import ProxyCore
@testable import Kernel

final class IPTablesRuleTests: XCTestCase {
    /// Every rule of the captured iptables-save output parses and renders back unchanged.
    func testCanonicalRulesRoundTrip() throws {
        for line in try NetfilterTestSupport.fixture("iptables-legacy-entries.txt").split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            let family: IPFamily = f[0] == "4" ? .ipv4 : .ipv6
            let text = String(f[5])
            let rule = try XCTUnwrap(IPTablesRule(text: text, family: family), text)
            XCTAssertEqual(rule.saveText, text)
        }
    }

    /// Input forms iptables accepts and the form iptables-save prints for them.
    func testNonCanonicalInputsRenderAsSaved() {
        let cases: [(String, String)] = [
            ("-j MARK --or-mark 0x4000", "-j MARK --set-xmark 0x4000/0x4000"),
            ("-j MARK --xor-mark 0x4000", "-j MARK --set-xmark 0x4000/0x0"),
            ("-m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT",
             "-m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable"),
            ("-s 1.2.3.4/32 -m ipvs --vaddr 1.2.3.4/32 --vproto 6 --vport 80 -j DROP",
             "-s 1.2.3.4/32 -m ipvs --vproto 6 --vaddr 1.2.3.4/32 --vport 80 -j DROP"),
            ("-m comment --comment x -j ACCEPT", "-m comment --comment x -j ACCEPT"),
            ("-m comment --comment \"a b\" -j KUBE-X", "-m comment --comment \"a b\" -j KUBE-X"),
        ]
        for (input, saved) in cases {
            XCTAssertEqual(IPTablesRule(text: input, family: .ipv4)?.saveText, saved, input)
        }
        XCTAssertEqual(IPTablesRule(text: "-j REJECT", family: .ipv6)?.saveText,
                       "-j REJECT --reject-with icmp6-port-unreachable")
    }

    func testRejectsTextOutsideTheGrammar() {
        for text in ["-i lo -j ACCEPT", "-p tcp -m tcp --dport 22 -j ACCEPT", "-m set --match-set X dst,foo -j ACCEPT",
                     "-m comment --comment \"unterminated -j ACCEPT", "-g KUBE-X", "-s 10.0.0.0/8 ! -j ACCEPT"] {
            XCTAssertNil(IPTablesRule(text: text, family: .ipv4), text)
        }
        XCTAssertNil(IPTablesRule(text: "-s 10.0.0.0/8 -j RETURN", family: .ipv6), "wrong family")
    }

    func testJumpRuleTextParses() {
        let j = JumpRule(table: .nat, chain: "PREROUTING", target: "KUBE-SERVICES", comment: "kubernetes service portals")
        XCTAssertEqual(IPTablesRule(text: j.ruleText, family: .ipv4)?.saveText, j.ruleText)
    }
}
