import XCTest
@testable import Kernel
import KernelPort

/// Hex text (spaces and newlines ignored) to bytes.
func bytes(_ hex: String) -> [UInt8] {
    let digits = hex.filter { !$0.isWhitespace }
    precondition(digits.count % 2 == 0, "odd hex")
    var out: [UInt8] = []
    var i = digits.startIndex
    while i < digits.endIndex {
        let j = digits.index(i, offsetBy: 2)
        out.append(UInt8(digits[i..<j], radix: 16)!)
        i = j
    }
    return out
}

final class NetlinkMessageTests: XCTestCase {
    // MARK: - Encoding, literal bytes per attribute kind

    func testAttributeEncodings() {
        // (what, build, expected bytes): length includes the 4-byte header, payload padded to 4.
        let cases: [(String, (inout NetlinkEncoder) -> Void, String)] = [
            ("u16 pads to 8", { $0.u16(1, 2) }, "0600 0100 0200 0000"),
            ("u32", { $0.u32(8, 0xdead_beef) }, "0800 0800 efbe adde"),
            ("be16 port 80", { $0.be16(4, 80) }, "0600 0400 0050 0000"),
            ("string with NUL", { $0.string(6, "rr") }, "0700 0600 7272 0000"),
            ("string exact multiple", { $0.string(6, "wlc") }, "0800 0600 776c 6300"),
            ("empty binary", { $0.attribute(9, []) }, "0400 0900"),
            ("nested", { e in let n = e.beginNested(1); e.u32(2, 1); e.endNested(n) }, "0c00 0100 0800 0200 0100 0000"),
            ("nested with flag", { e in let n = e.beginNested(1, flagNested: true); e.endNested(n) }, "0400 0180"),
        ]
        for (what, build, hex) in cases {
            var enc = NetlinkEncoder()
            build(&enc)
            XCTAssertEqual(enc.bytes, bytes(hex), what)
        }
    }

    func testMessageHeaderAndLength() {
        var enc = NetlinkEncoder()
        enc.begin(type: 0x22, flags: NL.NLM_F_REQUEST | NL.NLM_F_ACK, sequence: 7)
        enc.genlHeader(command: 4, version: 1)
        enc.end()
        enc.begin(type: 0x22, flags: NL.NLM_F_REQUEST | NL.NLM_F_DUMP, sequence: 8)
        enc.genlHeader(command: 8, version: 1)
        enc.u32(1, 5)
        enc.end()
        XCTAssertEqual(enc.messageCount, 2)
        XCTAssertEqual(Array(enc.message(0)), bytes("14000000 2200 0500 07000000 00000000 04010000"))
        XCTAssertEqual(Array(enc.message(1)), bytes("1c000000 2200 0103 08000000 00000000 08010000 0800 0100 05000000"))
        let parsed = try! NetlinkMessage.parseAll(enc.bytes[...])
        XCTAssertEqual(parsed.map(\.header.sequence), [7, 8])
        XCTAssertEqual(parsed[1].genlCommand, 8)
        XCTAssertEqual(try parsed[1].attributes(afterHeader: 4).u32(1), 5)
    }

    // MARK: - Strict parsing

    func testParseRejectsOverrunsAndShortData() {
        // Message claims 32 bytes, buffer has 20.
        XCTAssertThrowsError(try NetlinkMessage.parseAll(bytes("20000000 0300 0200 01000000 00000000 00000000")[...]))
        // Length below the header size.
        XCTAssertThrowsError(try NetlinkMessage.parseAll(bytes("08000000 0300 0200 01000000 00000000")[...]))
        // Trailing garbage shorter than a header.
        XCTAssertThrowsError(try NetlinkMessage.parseAll(bytes("14000000 0300 0200 01000000 00000000 00000000 0102")[...]))
        // Attribute longer than its container, and one shorter than its own header.
        XCTAssertThrowsError(try NetlinkAttributes(bytes("0c00 0100 0000 0000")[...]))
        XCTAssertThrowsError(try NetlinkAttributes(bytes("0200 0100")[...]))
        // Type bits: NLA_F_NESTED and NLA_F_NET_BYTEORDER are masked.
        let a = try! NetlinkAttributes(bytes("0800 01c0 2a00 0000")[...])
        XCTAssertEqual(a.u32(1), 42)
    }

    func testAttributeAccessorsCheckSizes() {
        let a = try! NetlinkAttributes(bytes("0500 0100 07000000 0600 0200 0050 0000 0700 0300 6162 0000")[...])
        XCTAssertEqual(a.u8(1), 7)
        XCTAssertNil(a.u16(1), "1-byte payload is not a u16")
        XCTAssertEqual(a.be16(2), 80)
        XCTAssertNil(a.u32(2))
        XCTAssertEqual(a.string(3), "ab")
        XCTAssertNil(a.u32(9))
    }

    // MARK: - Acks and errors

    func testAckAndCappedErrorWithExtendedAck() throws {
        // An ack: error 0, then the request's header (capped).
        let ack = try NetlinkMessage.parseAll(bytes("24000000 0200 0001 05000000 99000000 00000000 14000000 2200 0500 05000000 00000000")[...])
        XCTAssertEqual(try ack[0].errorReply().errno, 0)

        // -EEXIST (-17 = 0xffffffef), capped, with NLMSGERR_ATTR_MSG "exists".
        let err = try NetlinkMessage.parseAll(bytes("""
            30000000 0200 0003 06000000 99000000
            efffffff 14000000 2200 0500 06000000 00000000
            0b00 0100 65786973 747300 00
            """)[...])
        let (code, text) = try err[0].errorReply()
        XCTAssertEqual(code, 17)
        XCTAssertEqual(text, "exists")
    }

    func testUncappedErrorSkipsTheRequestCopy() throws {
        // Not capped: the full 0x18-byte request follows the nlmsgerr header, then the TLVs.
        let msg = try NetlinkMessage.parseAll(bytes("""
            34000000 0200 0002 09000000 00000000
            eaffffff 18000000 2200 0500 09000000 00000000 01010000 aaaaaaaa
            0800 0100 62616400
            """)[...])
        let (code, text) = try msg[0].errorReply()
        XCTAssertEqual(code, 22)
        XCTAssertEqual(text, "bad")
    }

    func testKernelErrorText() {
        let e = KernelError(subsystem: .ipvs, operation: "IPVS_CMD_NEW_DEST", object: "10.0.0.1:80/TCP -> 10.244.1.2:8080", errno: 2, message: "x")
        XCTAssertEqual(e.errnoName, "ENOENT")
        XCTAssertTrue(e.description.hasPrefix("ipvs IPVS_CMD_NEW_DEST 10.0.0.1:80/TCP -> 10.244.1.2:8080: ENOENT ("), e.description)
        XCTAssertTrue(e.description.hasSuffix("): x"))
        XCTAssertEqual(KernelError(subsystem: .sysctl, operation: "open").description, "sysctl open")
        XCTAssertEqual(KernelError.errnoName(3), "ESRCH")
        XCTAssertEqual(KernelError.errnoName(4242), "errno 4242")
    }
}
