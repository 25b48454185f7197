import Foundation
import XCTest
import KubeModel
import ProxyCore
@testable import Kernel

/// Decoding of real kernel replies captured in the QEMU guest (Fixtures/README-netlink.md says how).
final class IPVSFixtureTests: XCTestCase {
    func messages(_ name: String) throws -> [NetlinkMessage] { try fixtureDumpMessages(name) }

    func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    func testServiceDump() throws {
        let msgs = try messages("ipvs-services.hex")
        XCTAssertEqual(msgs.count, 6)
        XCTAssertTrue(msgs.allSatisfy { $0.genlCommand == IPVSGenl.Command.newService.rawValue })
        var servers: [VirtualServerKey: VirtualServer] = [:]
        var skipped: [String] = []
        for m in msgs {
            switch try IPVSReply.service(m) {
            case .server(let s): servers[s.key] = s
            case .unrepresentable(let why): skipped.append(why)
            }
        }
        XCTAssertEqual(skipped, ["fwmark 7"])
        let seed = try XCTUnwrap(servers[VirtualServerKey(address: ip("10.254.10.128"), proto: .tcp, port: 80)])
        XCTAssertEqual(seed.scheduler, "rr")
        XCTAssertEqual(seed.flags.significant, [.persistent])
        XCTAssertTrue(seed.flags.contains(.hashed), "the kernel reports IP_VS_SVC_F_HASHED")
        XCTAssertEqual(seed.timeout, 300)

        let mh = try XCTUnwrap(servers[VirtualServerKey(address: ip("10.254.0.3"), proto: .sctp, port: 9000)])
        XCTAssertEqual(mh.scheduler, "mh")
        XCTAssertEqual(mh.flags.significant, [.sched1, .sched2])
        XCTAssertEqual(mh.flags.schedulerFlagNames(scheduler: "mh"), ["mh-fallback", "mh-port"])

        let sh = try XCTUnwrap(servers[VirtualServerKey(address: ip("10.254.0.4"), proto: .tcp, port: 8443)])
        XCTAssertEqual(sh.flags.significant, [.sched2])

        let v6 = try XCTUnwrap(servers[VirtualServerKey(address: ip("fd00::10"), proto: .udp, port: 53)])
        XCTAssertEqual(v6.scheduler, "wrr")
        XCTAssertEqual(v6.timeout, 10800)
        XCTAssertFalse(v6.differs(from: VirtualServer(key: v6.key, scheduler: "wrr", flags: .persistent, timeout: 10800)))

        XCTAssertNotNil(servers[VirtualServerKey(address: ip("192.168.77.1"), proto: .tcp, port: 443)])
        XCTAssertEqual(servers.count, 5)
    }

    func testDestinationDumps() throws {
        let seedKey = VirtualServerKey(address: ip("10.254.10.128"), proto: .tcp, port: 80)
        var got: [RealServerKey: (RealServer, RealServerStats)] = [:]
        for m in try messages("ipvs-dests-seed.hex") {
            XCTAssertEqual(m.genlCommand, IPVSGenl.Command.newDest.rawValue)
            let (r, s) = try IPVSReply.dest(m, serviceFamily: seedKey.address.family)
            got[r.key] = (r, s)
        }
        XCTAssertEqual(got.count, 2)
        let a = try XCTUnwrap(got[RealServerKey(address: ip("10.244.1.2"), port: 8080)])
        XCTAssertEqual(a.0, RealServer(key: a.0.key, weight: 1, forwarding: .masquerade))
        XCTAssertEqual(a.1, RealServerStats(activeConnections: 0, inactiveConnections: 0))
        XCTAssertEqual(got[RealServerKey(address: ip("10.244.1.3"), port: 8080)]?.0.weight, 0)

        let v6 = try messages("ipvs-dests-ipv6.hex").map { try IPVSReply.dest($0, serviceFamily: .ipv6).0 }
        XCTAssertEqual(v6, [RealServer(key: RealServerKey(address: ip("fd00:244::5"), port: 5353), weight: 3)])

        let dr = try messages("ipvs-dests-droute.hex").map { try IPVSReply.dest($0, serviceFamily: .ipv4).0 }
        XCTAssertEqual(dr, [RealServer(key: RealServerKey(address: ip("192.168.77.2"), port: 443), weight: 5, forwarding: .directRoute)])

        let sctp = try messages("ipvs-dests-sctp.hex").map { try IPVSReply.dest($0, serviceFamily: .ipv4).0 }
        XCTAssertEqual(sctp, [RealServer(key: RealServerKey(address: ip("10.244.2.9"), port: 9000), weight: 0)])

        XCTAssertEqual(try messages("ipvs-dests-empty.hex").count, 0)
    }

    func testConfigAndInfoReplies() throws {
        let config = try NetlinkMessage.parseAll(try fixtureDatagrams("ipvs-config.hex")[0][...])
        XCTAssertEqual(config.count, 1)
        XCTAssertEqual(config[0].genlCommand, IPVSGenl.Command.setConfig.rawValue)
        XCTAssertEqual(try IPVSReply.timeouts(config[0]), IPVSTimeouts(tcp: 900, tcpFin: 120, udp: 60))

        let info = try NetlinkMessage.parseAll(try fixtureDatagrams("ipvs-info.hex")[0][...])
        let (version, size) = try IPVSReply.info(info[0])
        XCTAssertEqual(version, 0x010201)
        XCTAssertEqual(size, 4096)
    }

    func testEEXISTAck() throws {
        let msgs = try NetlinkMessage.parseAll(try fixtureDatagrams("ipvs-eexist-ack.hex")[0][...])
        XCTAssertEqual(msgs.count, 1)
        XCTAssertEqual(msgs[0].header.type, NL.NLMSG_ERROR)
        XCTAssertNotEqual(msgs[0].header.flags & NL.NLM_F_CAPPED, 0, "NETLINK_CAP_ACK took effect")
        let (code, text) = try msgs[0].errorReply()
        XCTAssertEqual(code, 17)
        XCTAssertEqual(text, "")
        // The acked request's sequence number is in the reply header and in the copied request header.
        let copied = msgs[0].payload.readHost(UInt32.self, at: msgs[0].payload.startIndex + 4 + 8)
        XCTAssertEqual(copied, msgs[0].header.sequence)
    }

    /// Truncating any captured datagram anywhere never crashes the parser: it throws or decodes less.
    func testTruncatedRepliesAreRejectedNotTrusted() throws {
        let d = try fixtureDatagrams("ipvs-dests-seed.hex")[0]
        for cut in stride(from: 1, to: d.count, by: 7) {
            if let msgs = try? NetlinkMessage.parseAll(d[0..<cut]) {
                for m in msgs { _ = try? IPVSReply.dest(m, serviceFamily: .ipv4) }
            }
        }
    }
}

/// Decoding of a captured RTM_GETADDR dump.
final class AddressFixtureTests: XCTestCase {
    func testAddressDump() throws {
        let url = try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/rtnl-addresses.hex")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }
        var decoded: [(Int32, LinkAddress, UInt8)] = []
        var sawDone = false
        for line in lines {
            for m in try NetlinkMessage.parseAll(bytes(String(line))[...]) {
                if m.header.type == NL.NLMSG_DONE { sawDone = true; continue }
                if let d = try AddressMessages.decode(m) { decoded.append((d.index, d.address, d.scope)) }
            }
        }
        XCTAssertTrue(sawDone)
        let onKubeIPVS0 = decoded.filter { $0.0 == 3 }
        XCTAssertEqual(onKubeIPVS0.filter { $0.2 != AddressMessages.RT_SCOPE_LINK }.map(\.1).sorted(),
                       [LinkAddress(host: IPAddress("10.254.10.128")!), LinkAddress(host: IPAddress("fd00::10")!)])
        XCTAssertEqual(onKubeIPVS0.filter { $0.2 == AddressMessages.RT_SCOPE_LINK }.map(\.1.prefixLength), [64], "the link-local fe80::/64 is link scope")
        XCTAssertTrue(decoded.contains { $0.0 == 1 && $0.1 == LinkAddress(address: IPAddress("127.0.0.1")!, prefixLength: 8) })
        XCTAssertTrue(decoded.contains { $0.0 == 4 && $0.1 == LinkAddress(address: IPAddress("10.244.1.1")!, prefixLength: 24) })
    }
}
