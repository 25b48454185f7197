import XCTest
@testable import KubeModel

final class IPAddressTests: XCTestCase {
    func testParsesAndPrintsCanonicalText() {
        let cases: [(String, String)] = [
            ("10.254.10.128", "10.254.10.128"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
            ("fd00::1", "fd00::1"), ("FD00:0:0:0:0:0:0:1", "fd00::1"), ("::", "::"), ("::1", "::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("2001:0db8::", "2001:db8::"),
            ("::ffff:10.0.0.1", "::ffff:a00:1"), ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1::8", "1::8"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(IPAddress(input)?.description, expected, input)
        }
    }

    func testRejectsMalformedAddresses() {
        for bad in ["", "10.0.0", "10.0.0.256", "10.0.0.1.2", "010.0.0.1", "1.2.3.-4", "a.b.c.d", "10.0.0.1 ",
                    ":::", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "fd00:::1", "g::1", ":1", "1:", "1:2:3:4:5:6:7"] {
            XCTAssertNil(IPAddress(bad), "accepted \(bad)")
        }
    }

    /// API objects are read as kube-proxy reads them (k8s.io/utils ParseIPSloppy/ParseCIDRSloppy):
    /// leading zeros are decimal, not octal, and allowed in IPv6 groups too.
    func testSloppyParsingReadsLeadingZerosAsDecimal() {
        let cases: [(String, String)] = [
            ("010.0.0.1", "10.0.0.1"), ("10.008.011.012", "10.8.11.12"), ("0000000255.0.0.00", "255.0.0.0"),
            ("1.2.3.4", "1.2.3.4"), ("fd00::0001", "fd00::1"), ("00000fd00::1", "fd00::1"), ("::ffff:010.0.0.1", "::ffff:a00:1"),
            (String(repeating: "0", count: 100) + "1.0.0.1", "1.0.0.1"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(IPAddress(sloppy: input)?.description, expected, input)
            XCTAssertEqual(CIDR(sloppy: input + "/08")?.prefixLength, 8, input)
        }
        for bad in ["", "10.0.0", "10.0.0.256", "0256.0.0.1", "1.2.3.99999999", "10.0.0.1 ", "1.2.3.-4", "+1.2.3.4",
                    "1::10000", "1::2::3", "1:2:3:4:5:6:7:8:9", "g::1"] {
            XCTAssertNil(IPAddress(sloppy: bad), "accepted \(bad)")
        }
        for bad in ["10.0.0.0/33", "10.0.0.0/-0", "10.0.0.0/+8", "10.0.0.0/", "10.0.0.0/0x8", "fd00::/129", "fd00::/0129"] {
            XCTAssertNil(CIDR(sloppy: bad), "accepted \(bad)")
        }
        XCTAssertNil(IPAddress("010.0.0.1"), "the strict parser (configuration) still refuses leading zeros")
    }

    func testBytesRoundTrip() {
        for text in ["10.244.1.2", "fd00:10:244::2"] {
            let ip = IPAddress(text)!
            XCTAssertEqual(IPAddress(bytes: ip.bytes), ip)
        }
        XCTAssertEqual(IPAddress("10.1.2.3")!.bytes, [10, 1, 2, 3])
    }

    func testOrderingPutsIPv4First() {
        let sorted = ["fd00::1", "10.0.0.2", "10.0.0.10", "9.255.255.255"].map { IPAddress($0)! }.sorted()
        XCTAssertEqual(sorted.map(\.description), ["9.255.255.255", "10.0.0.2", "10.0.0.10", "fd00::1"])
    }

    func testCIDR() {
        let c = CIDR("10.244.7.9/16")!
        XCTAssertEqual(c.description, "10.244.0.0/16")
        XCTAssertTrue(c.contains(IPAddress("10.244.255.1")!))
        XCTAssertFalse(c.contains(IPAddress("10.245.0.1")!))
        XCTAssertFalse(c.contains(IPAddress("fd00::1")!))
        XCTAssertTrue(CIDR("0.0.0.0/0")!.contains(IPAddress("1.2.3.4")!))
        XCTAssertTrue(CIDR("fd00::/8")!.contains(IPAddress("fdff::1")!))
        XCTAssertEqual(CIDR("fd00:1:2:3:4::/66")!.description, "fd00:1:2:3::/66")
        for bad in ["10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "x/8", "fd00::/129"] { XCTAssertNil(CIDR(bad), bad) }
    }
}
