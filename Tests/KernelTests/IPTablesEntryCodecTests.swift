import XCTest
import KubeModel
import ProxyCore
@testable import Kernel

/// The libiptc codec against entries written by iptables-legacy-restore (see Fixtures/README-ipset-iptables.md).
final class IPTablesEntryCodecTests: XCTestCase {
    /// Set indexes as created by Fixtures/capture-sets.txt.
    var setNames: [String] = []

    struct Captured { var family: IPFamily; var chain: String; var label: String; var bytes: [UInt8]; var save: String }

    func captured() throws -> [Captured] {
        setNames = try NetfilterTestSupport.fixture("capture-sets.txt").split(separator: "\n").map {
            String($0.split(separator: " ")[1])
        }
        return try NetfilterTestSupport.fixture("iptables-legacy-entries.txt").split(separator: "\n").map { line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            var bytes: [UInt8] = []
            var i = f[4].startIndex
            while i < f[4].endIndex {
                let j = f[4].index(i, offsetBy: 2)
                bytes.append(UInt8(f[4][i..<j], radix: 16)!)
                i = j
            }
            return Captured(family: f[0] == "4" ? .ipv4 : .ipv6, chain: f[2], label: f[3], bytes: bytes, save: f[5])
        }
    }

    func testDecodesEveryCapturedEntryToItsSaveText() throws {
        let rows = try captured()
        XCTAssertEqual(rows.count, 37)
        for r in rows {
            let rule = IPTablesEntryCodec.decode(r.bytes, targetLabel: r.label, family: r.family) { i in
                Int(i) < self.setNames.count ? self.setNames[Int(i)] : nil
            }
            XCTAssertEqual(rule?.saveText, r.save, "\(r.chain): \(r.save)")
        }
    }

    func testEncodesEverySaveTextToTheCapturedBytes() throws {
        for r in try captured() {
            let rule = try XCTUnwrap(IPTablesRule(text: r.save, family: r.family))
            let mine = try IPTablesEntryCodec.encode(rule) { name in
                UInt16(try XCTUnwrap(self.setNames.firstIndex(of: name)))
            }
            XCTAssertEqual(normalized(mine, r.family), normalized(r.bytes, r.family), "\(r.chain): \(r.save)")
        }
    }

    func testLayoutMatchesTheCHeaders() {
        XCTAssertEqual(IPTablesEntryCodec.entrySize(.ipv4), 112)
        XCTAssertEqual(IPTablesEntryCodec.entrySize(.ipv4), LibIPTC.cEntrySize(.ipv4))
        XCTAssertEqual(IPTablesEntryCodec.entrySize(.ipv6), LibIPTC.cEntrySize(.ipv6))
        XCTAssertEqual(IPTablesEntryCodec.targetOffsetField(.ipv4), LibIPTC.cTargetOffsetField(.ipv4))
        XCTAssertEqual(IPTablesEntryCodec.targetOffsetField(.ipv6), LibIPTC.cTargetOffsetField(.ipv6))
    }

    func testUndecodableEntriesAreNil() throws {
        var r = try XCTUnwrap(captured().first { $0.save == "-j DROP" })
        r.bytes[16] = UInt8(ascii: "l")  // iniface "l": outside the grammar
        XCTAssertNil(IPTablesEntryCodec.decode(r.bytes, targetLabel: r.label, family: .ipv4) { _ in nil })
        let withSet = try XCTUnwrap(captured().first { $0.save.contains("--match-set") })
        XCTAssertNil(IPTablesEntryCodec.decode(withSet.bytes, targetLabel: withSet.label, family: withSet.family) { _ in nil },
                     "an unknown set index cannot be rendered")
    }

    /// Clears what libiptc and the kernel fill in: comefrom, counters, and a standard target's
    /// name and verdict (we name the label, libiptc turns it into a verdict or jump offset).
    func normalized(_ e: [UInt8], _ f: IPFamily) -> [UInt8] {
        var e = e
        let base = IPTablesEntryCodec.targetOffsetField(f)
        for i in (base + 4)..<IPTablesEntryCodec.entrySize(f) { e[i] = 0 }
        let t = Int(IPTablesEntryCodec.le16(e, base))
        if IPTablesEntryCodec.cName(e, t + 2, 29).isEmpty || e[t + 2] == 0 ||
            IPTablesEntryCodec.le16(e, t) == 40 && !["MARK", "REJECT"].contains(IPTablesEntryCodec.cName(e, t + 2, 29)) {
            for i in (t + 2)..<(t + 40) { e[i] = 0 }
        }
        return e
    }
}
