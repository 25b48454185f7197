import Foundation
import XCTest
import KubeModel
import ProxyCore
import CNetlink
@testable import Kernel

/// ctnetlink requests on literal bytes, and decoding of real dumps (Fixtures/capture-conntrack.sh).
final class ConntrackMessagesTests: XCTestCase {
    func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    // MARK: - Constants mirror linux/netfilter/nfnetlink*.h

    func testConstantsMatchTheKernelHeaders() {
        XCTAssertEqual(CTNL.NETLINK_NETFILTER, Int32(NETLINK_NETFILTER))
        XCTAssertEqual(Int(CTNL.NFNL_SUBSYS_CTNETLINK), Int(NFNL_SUBSYS_CTNETLINK))
        XCTAssertEqual(Int(CTNL.IPCTNL_MSG_CT_NEW), Int(IPCTNL_MSG_CT_NEW.rawValue))
        XCTAssertEqual(Int(CTNL.IPCTNL_MSG_CT_GET), Int(IPCTNL_MSG_CT_GET.rawValue))
        XCTAssertEqual(Int(CTNL.IPCTNL_MSG_CT_DELETE), Int(IPCTNL_MSG_CT_DELETE.rawValue))
        XCTAssertEqual(Int(CTNL.CTA_TUPLE_ORIG), Int(CTA_TUPLE_ORIG.rawValue))
        XCTAssertEqual(Int(CTNL.CTA_TUPLE_REPLY), Int(CTA_TUPLE_REPLY.rawValue))
        XCTAssertEqual(Int(CTNL.CTA_ID), Int(CTA_ID.rawValue))
        XCTAssertEqual(Int(CTNL.CTA_ZONE), Int(CTA_ZONE.rawValue))
        XCTAssertEqual(Int(CTNL.CTA_TUPLE_IP), Int(CTA_TUPLE_IP.rawValue))
        XCTAssertEqual(Int(CTNL.CTA_TUPLE_PROTO), Int(CTA_TUPLE_PROTO.rawValue))
        XCTAssertEqual(Int(CTNL.CTA_IP_V4_SRC), Int(CTA_IP_V4_SRC.rawValue))
        XCTAssertEqual(Int(CTNL.CTA_IP_V6_DST), Int(CTA_IP_V6_DST.rawValue))
        XCTAssertEqual(Int(CTNL.CTA_PROTO_NUM), Int(CTA_PROTO_NUM.rawValue))
        XCTAssertEqual(Int(CTNL.CTA_PROTO_SRC_PORT), Int(CTA_PROTO_SRC_PORT.rawValue))
        XCTAssertEqual(Int(CTNL.CTA_PROTO_DST_PORT), Int(CTA_PROTO_DST_PORT.rawValue))
        XCTAssertEqual(Int(CTNL.NFNETLINK_V0), Int(NFNETLINK_V0))
        XCTAssertEqual(MemoryLayout<nfgenmsg>.size, CTNL.nfgenmsgLength)
    }

    // MARK: - Requests, literal bytes

    /// `conntrack -L -f ipv4`: a bare nfgenmsg, the dump flag, no attributes.
    func testDumpRequest() {
        var enc = NetlinkEncoder()
        ConntrackMessages.dumpRequest(&enc, family: .ipv4, sequence: 1)
        XCTAssertEqual(enc.bytes, bytes("14000000 0101 0103 01000000 00000000  02000000"))
        var v6 = NetlinkEncoder()
        ConntrackMessages.dumpRequest(&v6, family: .ipv6, sequence: 2)
        XCTAssertEqual(v6.bytes, bytes("14000000 0101 0103 02000000 00000000  0a000000"))
    }

    let natted = ConntrackEntry(
        family: .ipv4,
        original: ConntrackTuple(source: IPAddress("10.0.0.1")!, destination: IPAddress("10.254.0.10")!, protocolNumber: 17, sourcePort: 40000, destinationPort: 53),
        reply: ConntrackTuple(source: IPAddress("10.244.1.5")!, destination: IPAddress("10.0.0.1")!, protocolNumber: 17, sourcePort: 5353, destinationPort: 40000),
        id: 0x1bc7_8ed1)

    /// A delete names the reply tuple (nested, NLA_F_NESTED set as the kernel sends it), which holds
    /// the backend, and the id.
    func testDeleteRequestIPv4() {
        var enc = NetlinkEncoder()
        ConntrackMessages.deleteRequest(&enc, entry: natted, sequence: 7)
        XCTAssertEqual(enc.bytes, bytes("""
            50000000 0201 0500 07000000 00000000
            02000000
            3400 0280
              1400 0180
                0800 0100 0af40105
                0800 0200 0a000001
              1c00 0280
                0500 0100 11000000
                0600 0200 14e9 0000
                0600 0300 9c40 0000
            0800 0c00 1bc78ed1
            """))
    }

    func testDeleteRequestIPv6InAZone() {
        let e = ConntrackEntry(
            family: .ipv6,
            original: ConntrackTuple(source: ip("fd00::1"), destination: ip("fd00::10"), protocolNumber: 17, sourcePort: 40000, destinationPort: 53),
            reply: ConntrackTuple(source: ip("fd00:244::5"), destination: ip("fd00::1"), protocolNumber: 17, sourcePort: 5353, destinationPort: 40000),
            id: 1, zone: 7)
        var enc = NetlinkEncoder()
        ConntrackMessages.deleteRequest(&enc, entry: e, sequence: 1)
        XCTAssertEqual(enc.bytes, bytes("""
            70000000 0201 0500 01000000 00000000
            0a000000
            4c00 0280
              2c00 0180
                1400 0300 fd000244 00000000 00000000 00000005
                1400 0400 fd000000 00000000 00000000 00000001
              1c00 0280
                0500 0100 11000000
                0600 0200 14e9 0000
                0600 0300 9c40 0000
            0600 1200 0007 0000
            0800 0c00 00000001
            """))
    }

    // MARK: - Real dumps

    func messages(_ name: String) throws -> [NetlinkMessage] { try fixtureDumpMessages(name) }

    /// Entries without their ids (which differ on every capture), keyed by original source port or ICMP.
    func decoded(_ name: String) throws -> [ConntrackEntry] {
        try messages(name).map { m in
            var e = try XCTUnwrap(try ConntrackMessages.decode(m))
            XCTAssertNotNil(e.id, "the kernel reports CTA_ID")
            e.id = nil
            return e
        }
    }

    func udp(_ src: String, _ sport: UInt16, to dst: String, _ dport: UInt16) -> ConntrackTuple {
        ConntrackTuple(source: ip(src), destination: ip(dst), protocolNumber: 17, sourcePort: sport, destinationPort: dport)
    }

    func testDecodeIPv4Dump() throws {
        let got = try decoded("conntrack-dump-ipv4.hex")
        XCTAssertEqual(got.count, 5)
        let expected: [ConntrackEntry] = [
            ConntrackEntry(family: .ipv4, original: udp("10.0.0.1", 40000, to: "10.254.0.10", 53), reply: udp("10.244.1.5", 5353, to: "10.0.0.1", 40000)),
            ConntrackEntry(family: .ipv4, original: udp("10.0.0.2", 40001, to: "10.254.0.10", 53), reply: udp("10.254.0.10", 53, to: "10.0.0.2", 40001)),
            ConntrackEntry(family: .ipv4, original: ConntrackTuple(source: ip("10.0.0.1"), destination: ip("10.254.0.10"), protocolNumber: 6, sourcePort: 40002, destinationPort: 53),
                           reply: ConntrackTuple(source: ip("10.244.1.5"), destination: ip("10.0.0.1"), protocolNumber: 6, sourcePort: 5353, destinationPort: 40002)),
            ConntrackEntry(family: .ipv4, original: ConntrackTuple(source: ip("10.0.0.3"), destination: ip("10.254.0.10"), protocolNumber: 1),
                           reply: ConntrackTuple(source: ip("10.254.0.10"), destination: ip("10.0.0.3"), protocolNumber: 1)),
            ConntrackEntry(family: .ipv4, original: udp("10.0.0.4", 40003, to: "10.254.0.10", 53), reply: udp("10.244.1.6", 5353, to: "10.0.0.4", 40003), zone: 7),
        ]
        XCTAssertEqual(Set(got), Set(expected))
        XCTAssertEqual(got.first { $0.original.protocolNumber == 1 }?.original.l4Protocol, nil, "ICMP: no ports, no L4Protocol")
    }

    func testDecodeIPv6Dump() throws {
        XCTAssertEqual(try decoded("conntrack-dump-ipv6.hex"), [
            ConntrackEntry(family: .ipv6, original: udp("fd00::1", 40000, to: "fd00::10", 53), reply: udp("fd00:244::5", 5353, to: "fd00::1", 40000)),
        ])
    }

    /// A delete carries the reply tuple byte for byte as the kernel dumped it, and no original tuple
    /// (the kernel would look that one up instead).
    func testDeleteTupleEqualsTheDumpedOne() throws {
        for name in ["conntrack-dump-ipv4.hex", "conntrack-dump-ipv6.hex"] {
            for m in try messages(name) {
                let e = try XCTUnwrap(try ConntrackMessages.decode(m))
                guard e.original.l4Protocol != nil else { continue }
                let dumped = try XCTUnwrap(try m.attributes(afterHeader: CTNL.nfgenmsgLength)[CTNL.CTA_TUPLE_REPLY])
                var enc = NetlinkEncoder()
                ConntrackMessages.deleteRequest(&enc, entry: e, sequence: 1)
                let sent = try XCTUnwrap(try NetlinkMessage.parseAll(enc.bytes[...]).first?.attributes(afterHeader: CTNL.nfgenmsgLength))
                XCTAssertEqual(sent[CTNL.CTA_TUPLE_REPLY].map(Array.init), Array(dumped), "\(e)")
                XCTAssertNil(sent[CTNL.CTA_TUPLE_ORIG])
            }
        }
    }

    func testFilterMatching() throws {
        let entries = try decoded("conntrack-dump-ipv4.hex") + decoded("conntrack-dump-ipv6.hex")
        func matching(_ f: ConntrackFilter) -> [UInt16] { entries.filter { $0.matches(f) }.map(\.original.sourcePort).sorted() }
        let vip = ip("10.254.0.10")
        XCTAssertEqual(matching(ConntrackFilter(originalDestination: vip, originalDestinationPort: 53, replySource: ip("10.244.1.5"), replySourcePort: 5353)),
                       [40000], "the UDP entry to the removed backend; not the TCP one, not another backend's")
        XCTAssertEqual(matching(ConntrackFilter(originalDestination: vip, originalDestinationPort: 53, replySource: ip("10.244.1.5"), replySourcePort: 8080)), [])
        XCTAssertEqual(matching(ConntrackFilter(originalDestination: vip, originalDestinationPort: 53)), [40000, 40001, 40003],
                       "every UDP entry to the Service port, in any zone, translated or not")
        XCTAssertEqual(matching(ConntrackFilter(originalDestination: vip, originalDestinationPort: 54)), [])
        XCTAssertEqual(matching(ConntrackFilter(originalDestination: ip("fd00::10"), originalDestinationPort: 53, replySource: ip("fd00:244::5"))), [40000])
        XCTAssertEqual(matching(ConntrackFilter(proto: .tcp, originalDestination: vip)), [40002])
    }

    func testMalformedEntryIsAnError() throws {
        // An entry message whose original tuple lacks CTA_TUPLE_PROTO.
        var enc = NetlinkEncoder()
        enc.begin(type: CTNL.messageType(CTNL.IPCTNL_MSG_CT_NEW), flags: NL.NLM_F_MULTI, sequence: 1)
        ConntrackMessages.nfgenmsg(&enc, family: 2)
        for t in [CTNL.CTA_TUPLE_ORIG, CTNL.CTA_TUPLE_REPLY] {
            let outer = enc.beginNested(t, flagNested: true)
            let inner = enc.beginNested(CTNL.CTA_TUPLE_IP, flagNested: true)
            enc.address(CTNL.CTA_IP_V4_SRC, ip("10.0.0.1"), padTo16: false)
            enc.address(CTNL.CTA_IP_V4_DST, ip("10.0.0.2"), padTo16: false)
            enc.endNested(inner)
            enc.endNested(outer)
        }
        enc.end()
        let msg = try XCTUnwrap(try NetlinkMessage.parseAll(enc.bytes[...]).first)
        XCTAssertThrowsError(try ConntrackMessages.decode(msg))
        XCTAssertNil(try ConntrackMessages.decode(NetlinkMessage(header: NetlinkHeader(length: 20, type: NL.NLMSG_DONE, flags: 0, sequence: 1, portID: 0),
                                                                payload: [0, 0, 0, 0][...])), "not an entry")
    }
}
