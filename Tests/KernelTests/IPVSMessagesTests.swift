import XCTest
import KubeModel
import ProxyCore
import CNetlink
@testable import Kernel

final class IPVSMessagesTests: XCTestCase {
    let family: UInt16 = 0x22
    let seedKey = VirtualServerKey(address: IPAddress("10.254.10.128")!, proto: .tcp, port: 80)

    func encode(_ op: ProxyCore.Operation, add: Bool? = nil, sequence: UInt32 = 1) -> [UInt8] {
        var enc = NetlinkEncoder()
        _ = IPVSRequest.encode(op, add: add, into: &enc, family: family, sequence: sequence)
        return enc.bytes
    }

    // MARK: - Constants mirror linux/ip_vs.h

    func testConstantsMatchTheKernelHeader() {
        XCTAssertEqual(Int(IPVSGenl.Command.newService.rawValue), Int(IPVS_CMD_NEW_SERVICE))
        XCTAssertEqual(Int(IPVSGenl.Command.getDest.rawValue), Int(IPVS_CMD_GET_DEST))
        XCTAssertEqual(Int(IPVSGenl.Command.setConfig.rawValue), Int(IPVS_CMD_SET_CONFIG))
        XCTAssertEqual(Int(IPVSGenl.Command.getInfo.rawValue), Int(IPVS_CMD_GET_INFO))
        XCTAssertEqual(Int(IPVSGenl.Command.flush.rawValue), Int(IPVS_CMD_FLUSH))
        XCTAssertEqual(Int(IPVSGenl.SVC_ATTR_NETMASK), Int(IPVS_SVC_ATTR_NETMASK))
        XCTAssertEqual(Int(IPVSGenl.SVC_ATTR_PE_NAME), Int(IPVS_SVC_ATTR_PE_NAME))
        XCTAssertEqual(Int(IPVSGenl.DEST_ATTR_ADDR_FAMILY), Int(IPVS_DEST_ATTR_ADDR_FAMILY))
        XCTAssertEqual(Int(IPVSGenl.DEST_ATTR_INACT_CONNS), Int(IPVS_DEST_ATTR_INACT_CONNS))
        XCTAssertEqual(Int(IPVSGenl.CMD_ATTR_TIMEOUT_UDP), Int(IPVS_CMD_ATTR_TIMEOUT_UDP))
        XCTAssertEqual(IPVSGenl.version, UInt8(IPVS_GENL_VERSION))
        XCTAssertEqual(NL.NLM_F_DUMP, UInt16(NLM_F_DUMP))
        XCTAssertEqual(NL.NLM_F_ACK_TLVS, UInt16(NLM_F_ACK_TLVS))
        XCTAssertEqual(RTAddr.IFA_F_NODAD, UInt8(IFA_F_NODAD))
        XCTAssertEqual(Int(RTAddr.RTM_NEWADDR), Int(RTM_NEWADDR))
        XCTAssertEqual(Int(RTAddr.IFA_FLAGS), Int(IFA_FLAGS))
    }

    // MARK: - Requests, literal bytes

    /// `ipvsadm -A -t 10.254.10.128:80 -s rr`: identity + full entry, the address as a 16-byte nf_inet_addr.
    func testNewServiceSeed() {
        let got = encode(.addVirtualServer(VirtualServer(key: seedKey, scheduler: "rr")))
        XCTAssertEqual(got, bytes("""
            68000000 2200 0500 01000000 00000000
            01010000
            5400 0100
              0600 0100 0200 0000
              0600 0200 0600 0000
              1400 0300 0afe0a80 00000000 00000000 00000000
              0600 0400 0050 0000
              0700 0600 7272 0000
              0c00 0700 00000000 ffffffff
              0800 0800 00000000
              0800 0900 ffffffff
            """))
    }

    /// An update uses SET_SERVICE; persistence carries the timeout; mh-port is IP_VS_SVC_F_SCHED2; IPv6 netmask is 128.
    func testSetServicePersistentIPv6WithFlags() {
        let key = VirtualServerKey(address: IPAddress("fd00::10")!, proto: .udp, port: 53)
        let got = encode(.updateVirtualServer(VirtualServer(key: key, scheduler: "mh", flags: [.persistent, .sched2, .hashed], timeout: 10800)))
        XCTAssertEqual(got, bytes("""
            68000000 2200 0500 01000000 00000000
            02010000
            5400 0100
              0600 0100 0a00 0000
              0600 0200 1100 0000
              1400 0300 fd000000 00000000 00000000 00000010
              0600 0400 0035 0000
              0700 0600 6d68 0000
              0c00 0700 11000000 ffffffff
              0800 0800 302a0000
              0800 0900 80000000
            """), "hashed is never sent; flags = persistent|sched2 = 0x11")
    }

    /// `ipvsadm -a -t 10.254.10.128:80 -r 10.244.1.2:8080 -m -w 1`.
    func testNewDestMasquerade() {
        let r = RealServer(key: RealServerKey(address: IPAddress("10.244.1.2")!, port: 8080))
        let got = encode(.addRealServer(seedKey, r), sequence: 2)
        XCTAssertEqual(got, bytes("""
            8c000000 2200 0500 02000000 00000000
            05010000
            3000 0100
              0600 0100 0200 0000
              0600 0200 0600 0000
              1400 0300 0afe0a80 00000000 00000000 00000000
              0600 0400 0050 0000
            4800 0200
              1400 0100 0af40102 00000000 00000000 00000000
              0600 0200 1f90 0000
              0800 0300 00000000
              0800 0400 01000000
              0800 0500 00000000
              0800 0600 00000000
              0600 0b00 0200 0000
            """))
        // Retried as an edit: same body, SET_DEST.
        var edit = got
        edit[16] = IPVSGenl.Command.setDest.rawValue
        XCTAssertEqual(encode(.addRealServer(seedKey, r), add: false, sequence: 2), edit)
    }

    /// Deletes carry identities only.
    func testDeletes() {
        let rk = RealServerKey(address: IPAddress("10.244.1.3")!, port: 8080)
        XCTAssertEqual(encode(.deleteRealServer(seedKey, rk)), bytes("""
            6c000000 2200 0500 01000000 00000000
            07010000
            3000 0100
              0600 0100 0200 0000
              0600 0200 0600 0000
              1400 0300 0afe0a80 00000000 00000000 00000000
              0600 0400 0050 0000
            2800 0200
              1400 0100 0af40103 00000000 00000000 00000000
              0600 0200 1f90 0000
              0600 0b00 0200 0000
            """))
        XCTAssertEqual(encode(.deleteVirtualServer(seedKey)), bytes("""
            44000000 2200 0500 01000000 00000000
            03010000
            3000 0100
              0600 0100 0200 0000
              0600 0200 0600 0000
              1400 0300 0afe0a80 00000000 00000000 00000000
              0600 0400 0050 0000
            """))
    }

    func testSetConfigTimeouts() {
        XCTAssertEqual(encode(.setIPVSTimeouts(IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 300))), bytes("""
            2c000000 2200 0500 01000000 00000000
            0c010000
            0800 0400 84030000
            0800 0500 78000000
            0800 0600 2c010000
            """))
    }

    func testNonIPVSOperationsAreNotEncoded() {
        var enc = NetlinkEncoder()
        XCTAssertNil(IPVSRequest.encode(.addAddress(IPAddress("10.0.0.1")!), into: &enc, family: family, sequence: 1))
        XCTAssertEqual(enc.messageCount, 0)
    }

    // MARK: - Replies built by hand (the fixture tests cover real captures)

    func testDecodeServiceSkipsFwmarkAndUnknownProtocols() throws {
        var enc = NetlinkEncoder()
        IPVSRequest.message(&enc, family: family, command: .newService, flags: NL.NLM_F_MULTI, sequence: 9) { e in
            let n = e.beginNested(IPVSGenl.CMD_ATTR_SERVICE)
            e.u16(IPVSGenl.SVC_ATTR_AF, 2); e.u32(IPVSGenl.SVC_ATTR_FWMARK, 7)
            e.string(IPVSGenl.SVC_ATTR_SCHED_NAME, "rr")
            e.endNested(n)
        }
        let msg = try NetlinkMessage.parseAll(enc.bytes[...])[0]
        XCTAssertEqual(try IPVSReply.service(msg), .unrepresentable("fwmark 7"))

        var enc2 = NetlinkEncoder()
        IPVSRequest.message(&enc2, family: family, command: .newService, flags: NL.NLM_F_MULTI, sequence: 9) { e in
            let n = e.beginNested(IPVSGenl.CMD_ATTR_SERVICE)
            e.u16(IPVSGenl.SVC_ATTR_AF, 2); e.u16(IPVSGenl.SVC_ATTR_PROTOCOL, 50)
            e.attribute(IPVSGenl.SVC_ATTR_ADDR, [10, 0, 0, 1] + [UInt8](repeating: 0, count: 12))
            e.be16(IPVSGenl.SVC_ATTR_PORT, 0)
            e.endNested(n)
        }
        XCTAssertEqual(try IPVSReply.service(try NetlinkMessage.parseAll(enc2.bytes[...])[0]), .unrepresentable("10.0.0.1:0 protocol 50"))
    }

    func testDecodeServiceRequiresItsIdentity() throws {
        var enc = NetlinkEncoder()
        IPVSRequest.message(&enc, family: family, command: .newService, flags: 0, sequence: 1) { e in
            let n = e.beginNested(IPVSGenl.CMD_ATTR_SERVICE)
            e.u16(IPVSGenl.SVC_ATTR_AF, 2)
            e.endNested(n)
        }
        XCTAssertThrowsError(try IPVSReply.service(try NetlinkMessage.parseAll(enc.bytes[...])[0]))
    }

    /// A request body parses back to the same server: the encoder and decoder agree.
    func testServiceRoundTrip() throws {
        let s = VirtualServer(key: VirtualServerKey(address: IPAddress("2001:db8::1")!, proto: .sctp, port: 9000),
                              scheduler: "sh", flags: [.sched1, .sched2], timeout: 0)
        var enc = NetlinkEncoder()
        _ = IPVSRequest.encode(.addVirtualServer(s), into: &enc, family: family, sequence: 1)
        let msg = try NetlinkMessage.parseAll(enc.bytes[...])[0]
        guard case .server(let back) = try IPVSReply.service(msg) else { return XCTFail("not decoded") }
        XCTAssertEqual(back.key, s.key)
        XCTAssertEqual(back.scheduler, "sh")
        XCTAssertEqual(back.flags, [.sched1, .sched2])
        XCTAssertFalse(back.differs(from: s))
    }

    func testObjectDescriptions() {
        let r = RealServer(key: RealServerKey(address: IPAddress("fd00::2")!, port: 8080), weight: 0)
        XCTAssertEqual(IPVSRequest.objectDescription(.updateRealServer(seedKey, r)), "10.254.10.128:80/TCP -> [fd00::2]:8080 weight 0")
        XCTAssertEqual(IPVSRequest.objectDescription(.deleteVirtualServer(seedKey)), "10.254.10.128:80/TCP")
    }
}
