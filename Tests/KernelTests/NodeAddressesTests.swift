import Foundation
import XCTest
import KubeModel
import ProxyCore
@testable import Kernel

/// RTM_GETLINK messages on literal bytes.
final class LinkMessagesTests: XCTestCase {
    func testDumpRequest() {
        var enc = NetlinkEncoder()
        LinkMessages.dumpRequest(&enc, sequence: 7)
        XCTAssertEqual(enc.bytes, bytes("""
            20000000 1200 0103 07000000 00000000
            00 00 0000 00000000 00000000 00000000
            """))
    }

    func testDecodeNameAndIndex() throws {
        // RTM_NEWLINK, ifinfomsg index 4, IFLA_MTU then IFLA_IFNAME "eth0".
        let msg = try NetlinkMessage.parseAll(bytes("""
            34000000 1000 0200 01000000 00000000
            00 00 0100 04000000 43100100 00000000
            0800 0400 dc050000
            0900 0300 65746830 00000000
            """)[...])[0]
        let d = try XCTUnwrap(try LinkMessages.decode(msg))
        XCTAssertEqual(d.index, 4)
        XCTAssertEqual(d.name, "eth0")
        // Other types are not links; a link without a name is malformed.
        let addr = try NetlinkMessage.parseAll(bytes("20000000 1400 0200 01000000 00000000 02 20 00 00 03000000 00000000 00000000")[...])[0]
        XCTAssertNil(try LinkMessages.decode(addr))
        let nameless = try NetlinkMessage.parseAll(bytes("""
            20000000 1000 0200 01000000 00000000
            00 00 0100 05000000 00000000 00000000
            """)[...])[0]
        XCTAssertThrowsError(try LinkMessages.decode(nameless))
    }
}

/// The node's addresses read from the real kernel, in a throwaway network namespace (KUBE_IPVS_NETNS=1).
final class NodeAddressesNetNSTests: XCTestCase {
    override func setUpWithError() throws { try NetfilterTestSupport.requireThrowawayNetns() }

    /// Runs `ip` commands, failing the test on error.
    func ip(_ commands: [String]) throws {
        for c in commands {
            let out = try NetfilterTestSupport.sh("ip \(c) 2>&1 && echo ok")
            XCTAssertTrue(out.hasSuffix("ok\n"), "ip \(c): \(out)")
        }
    }

    /// A link named `name`: a dummy where the kernel has them, else one end of a veth pair (the
    /// host kernel of these machines has no dummy links).
    func addLink(_ name: String) throws {
        let dummy = try NetfilterTestSupport.sh("ip link add \(name) type dummy 2>&1 && echo ok")
        if !dummy.hasSuffix("ok\n") { try ip(["link add \(name) type veth peer name \(name)-p"]) }
    }

    func testNetNSDumpNamesEveryAddressOfEveryLinkButKubeIPVS0() throws {
        try addLink("node0")
        try addLink("kube-ipvs0")
        try ip([
            "link set lo up", "link set node0 up",
            "addr add 10.0.0.5/24 dev node0", "addr add 192.168.7.1/24 dev node0",
            "-6 addr add 2001:db8::5/64 dev node0 nodad", "-6 addr add fe80::5/64 dev node0 nodad",
            "addr add 10.96.0.1/32 dev kube-ipvs0", "addr add 10.0.0.5/32 dev kube-ipvs0",
            "-6 addr add fd00:96::1/128 dev kube-ipvs0 nodad",
        ])
        let source = try LinkAddressSource()
        let got = try XCTUnwrap(try source.interfaceAddresses())
        func has(_ link: String, _ address: String, _ prefix: Int) -> Bool {
            got.contains(InterfaceAddress(interface: link, address: IPAddress(address)!, prefixLength: prefix))
        }
        XCTAssertTrue(has("lo", "127.0.0.1", 8), "\(got)")
        XCTAssertTrue(has("lo", "::1", 128), "\(got)")
        XCTAssertTrue(has("node0", "10.0.0.5", 24), "\(got)")
        XCTAssertTrue(has("node0", "192.168.7.1", 24), "\(got)")
        XCTAssertTrue(has("node0", "2001:db8::5", 64), "\(got)")
        // kube-ipvs0's addresses (one per Service address) are not read: the dump goes link by link
        // (NETLINK_GET_STRICT_CHK, which this kernel has) and skips it.
        XCTAssertFalse(got.contains { $0.interface == "kube-ipvs0" }, "\(got)")
        XCTAssertTrue(has("node0", "fe80::5", 64), "link-local addresses are listed (the selection drops them): \(got)")
        XCTAssertEqual(got, got.sorted())
        XCTAssertEqual(source.ipvsInterfaceName, "kube-ipvs0")

        // What the daemon makes of it.
        let s = NodeAddressSelection.select(addresses: got, ipvsInterface: source.ipvsInterfaceName, nodePortAddresses: [],
                                            nodeIPs: [], families: [.ipv4, .ipv6])
        XCTAssertEqual(s.nodePortAddresses.map(\.description), ["10.0.0.5", "192.168.7.1", "2001:db8::5"])
        XCTAssertEqual(s.localAddresses, Set(["10.0.0.5", "192.168.7.1", "2001:db8::5"].map { IPAddress($0)! }))

        // The same through the node's kernel, and the change seen at the next read.
        let kernel = try NodeKernel(sets: nil, rules: nil)
        try ip(["addr del 192.168.7.1/24 dev node0", "addr add 172.20.0.9/16 dev kube-ipvs0"])
        let again = try XCTUnwrap(try kernel.interfaceAddresses())
        XCTAssertFalse(again.contains { $0.address == IPAddress("192.168.7.1")! })
        XCTAssertFalse(again.contains { $0.address == IPAddress("172.20.0.9")! })
        XCTAssertTrue(again.contains(InterfaceAddress(interface: "node0", address: IPAddress("10.0.0.5")!, prefixLength: 24)))
        XCTAssertEqual(kernel.ipvsInterfaceName, "kube-ipvs0")
        try ip(["link del node0", "link del kube-ipvs0"])
    }
}
