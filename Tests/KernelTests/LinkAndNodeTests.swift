import XCTest
#if canImport(Glibc)
import Glibc
#endif
import KubeModel
import ProxyCore
@testable import Kernel
import KernelPort

final class AddressMessagesTests: XCTestCase {
    /// `ip addr add 10.254.10.128/32 dev <index 3>`: ifaddrmsg, then IFA_LOCAL and IFA_ADDRESS.
    func testNewAddressIPv4() {
        var enc = NetlinkEncoder()
        AddressMessages.change(&enc, add: true, address: LinkAddress(host: IPAddress("10.254.10.128")!), index: 3, sequence: 5)
        XCTAssertEqual(enc.bytes, bytes("""
            28000000 1400 0506 05000000 00000000
            02 20 00 00 03000000
            0800 0200 0afe0a80
            0800 0100 0afe0a80
            """))
    }

    /// IPv6: NODAD so the VIP is usable on a down link; a delete has no NLM_F_CREATE/EXCL and no NODAD.
    func testAddressIPv6AddAndDelete() {
        let a = LinkAddress(host: IPAddress("fd00::10")!)
        var add = NetlinkEncoder()
        AddressMessages.change(&add, add: true, address: a, index: 3, sequence: 1)
        XCTAssertEqual(add.bytes, bytes("""
            40000000 1400 0506 01000000 00000000
            0a 80 02 00 03000000
            1400 0200 fd000000 00000000 00000000 00000010
            1400 0100 fd000000 00000000 00000000 00000010
            """))
        var del = NetlinkEncoder()
        AddressMessages.change(&del, add: false, address: a, index: 3, sequence: 1)
        XCTAssertEqual(Array(del.bytes[4..<8]), bytes("1500 0500"), "RTM_DELADDR, REQUEST|ACK")
        XCTAssertEqual(del.bytes[18], 0, "no IFA_F_NODAD on delete")
    }

    func testDecodeAddressMessages() throws {
        // RTM_NEWADDR for 10.254.10.128/32 on index 3, with IFA_LABEL.
        let v4 = try NetlinkMessage.parseAll(bytes("""
            38000000 1400 0200 01000000 00000000
            02 20 80 00 03000000
            0800 0100 0afe0a80
            0800 0200 0afe0a80
            0f00 0300 6b7562652d69707673300000
            """)[...])[0]
        let d = try XCTUnwrap(try AddressMessages.decode(v4))
        XCTAssertEqual(d.scope, 0)
        XCTAssertEqual(d.index, 3)
        XCTAssertEqual(d.address, LinkAddress(host: IPAddress("10.254.10.128")!))
        // Point-to-point IPv4: IFA_LOCAL is ours, IFA_ADDRESS the peer.
        let p2p = try NetlinkMessage.parseAll(bytes("""
            28000000 1400 0200 01000000 00000000
            02 20 80 00 07000000
            0800 0100 0a000002
            0800 0200 0a000001
            """)[...])[0]
        XCTAssertEqual(try AddressMessages.decode(p2p)?.address.address, IPAddress("10.0.0.1"))
        // Other message types and families are ignored.
        let done = try NetlinkMessage.parseAll(bytes("14000000 0300 0200 01000000 00000000 00000000")[...])[0]
        XCTAssertNil(try AddressMessages.decode(done))
        // A prefix longer than the family allows is malformed.
        let bad = try NetlinkMessage.parseAll(bytes("""
            20000000 1400 0200 01000000 00000000
            02 21 80 00 03000000
            0800 0200 0afe0a80
            """)[...])[0]
        XCTAssertThrowsError(try AddressMessages.decode(bad))
    }
}

final class PrerequisitesTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = try makeFakeNodeRoot("kernel-tests", dirs: ["/proc/sys/net/ipv4/vs", "/sys/module/nf_conntrack", "/sys/module/ip_vs"])
        try write("\(root)/proc/sys/net/ipv4/ip_forward", "1\n")
    }

    override func tearDown() { _ = system("rm -rf '\(root)'") }

    func write(_ path: String, _ text: String) throws { try writeFile(path, text) }

    func testLoadedModulesFromProcAndSys() {
        let p = Prerequisites(root: root)
        XCTAssertEqual(p.loadedModules(), ["ip_vs_rr", "ip_vs", "nf_conntrack"])
        XCTAssertTrue(p.isLoaded("ip_vs-rr"), "dashes normalised")
        XCTAssertFalse(p.isLoaded("ip_vs_sh"))
    }

    func testSysctlsReadWriteAndAbsent() throws {
        let p = Prerequisites(root: root)
        XCTAssertEqual(p.sysctlPath("net.ipv4.vs.conntrack"), root + "/proc/sys/net/ipv4/vs/conntrack")
        XCTAssertEqual(p.sysctlPath("net/ipv4/conf/kube-ipvs0/arp_ignore"), root + "/proc/sys/net/ipv4/conf/kube-ipvs0/arp_ignore")
        XCTAssertEqual(p.readSysctls(Prerequisites.specSysctls()), ["net.ipv4.vs.conntrack": "0", "net.ipv4.ip_forward": "1"])  // no ipv6 file here: left out
        _ = try p.apply([.setSysctl(name: "net.ipv4.vs.conntrack", value: "1")])
        XCTAssertEqual(p.readSysctl("net.ipv4.vs.conntrack"), "1")
        XCTAssertThrowsError(try p.writeSysctl("net.ipv4.vs.nonexistent", "1")) { e in
            XCTAssertEqual((e as? KernelError)?.errno, ENOENT)
            XCTAssertEqual((e as? KernelError)?.subsystem, .sysctl)
        }
    }

    /// br_netfilter: warned about when the sysctl is absent (module not loaded) or 0, quiet when 1.
    func testBridgeNetfilterWarning() throws {
        let p = Prerequisites(root: root)
        XCTAssertNotNil(p.bridgeNetfilterWarning(), "no /proc/sys/net/bridge: the module is not loaded")
        XCTAssertEqual(mkdir(root + "/proc/sys/net/bridge", 0o755), 0)
        try write(root + "/proc/sys/net/bridge/bridge-nf-call-iptables", "0\n")
        XCTAssertTrue(p.bridgeNetfilterWarning()?.contains("bridge-nf-call-iptables is not 1") ?? false)
        try write(root + "/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n")
        XCTAssertNil(p.bridgeNetfilterWarning())
    }

    /// A module modprobe cannot load is an error that names it; the sysctls after it are still written.
    func testMissingModuleIsNamed() {
        let p = Prerequisites(root: root, modprobe: "false")
        XCTAssertThrowsError(try p.apply([.loadModule("ip_vs"), .loadModule("ip_vs_mh"), .setSysctl(name: "net.ipv4.vs.conntrack", value: "1")])) { e in
            guard let b = e as? KernelBatchError else { return XCTFail("\(e)") }
            XCTAssertEqual(b.errors.map(\.object), ["ip_vs_mh"])
            XCTAssertTrue(b.errors[0].description.contains("required kernel module ip_vs_mh could not be loaded"), b.errors[0].description)
            XCTAssertEqual(b.partial.applied, 2, "ip_vs was already loaded; the sysctl was written")
        }
        XCTAssertEqual(p.readSysctl("net.ipv4.vs.conntrack"), "1")
    }
}

final class NodeKernelOrderTests: XCTestCase {
    let vs = VirtualServerKey(address: IPAddress("10.254.10.128")!, proto: .tcp, port: 80)

    /// Creations by phase first, deletions last in plan order, consecutive deletions of one subsystem batched.
    func testApplyOrder() {
        let rk = RealServerKey(address: IPAddress("10.244.1.2")!, port: 8080)
        let spec = IPSetSpec(name: "KUBE-CLUSTER-IP", type: .hashIPPort, family: .ipv4, comment: "c")
        let plan = Plan(operations: [
            .deleteRealServer(vs, rk),
            .addRealServer(vs, RealServer(key: rk)),
            .addVirtualServer(VirtualServer(key: vs, scheduler: "rr")),
            .addAddress(IPAddress("10.254.10.128")!),
            .deleteSetEntry(set: "KUBE-CLUSTER-IP", entry: "x"),
            .deleteSetEntry(set: "KUBE-CLUSTER-IP", entry: "y"),
            .addSetEntry(set: "KUBE-CLUSTER-IP", entry: "z"),
            .createSet(spec),
            .createDummyLink(name: "kube-ipvs0"),
            .loadModule("ip_vs"),
            .deleteVirtualServer(vs),
            .deleteAddress(IPAddress("10.254.10.1")!),
            .ensureJump(family: .ipv4, JumpRule(table: .nat, chain: "PREROUTING", target: "KUBE-SERVICES", comment: "c")),
        ].map { PlannedOperation($0) })
        let batches = NodeKernel.batches(plan)
        XCTAssertEqual(batches.map(\.0), [.prerequisite, .link, .ipset, .iptables, .link, .ipvs, .ipvs, .ipset, .ipvs, .link])
        XCTAssertEqual(batches[2].1, [.addSetEntry(set: "KUBE-CLUSTER-IP", entry: "z"), .createSet(spec)], "plan order kept inside a phase")
        XCTAssertEqual(batches[5].1, [.addRealServer(vs, RealServer(key: rk)), .addVirtualServer(VirtualServer(key: vs, scheduler: "rr"))])
        XCTAssertEqual(batches[6].1, [.deleteRealServer(vs, rk)])
        XCTAssertEqual(batches[7].1.count, 2)
    }

    /// A recreated set's family has the chains about to be rewritten emptied before the sets phase.
    func testChainsAreEmptiedBeforeASetIsRecreated() {
        let spec = IPSetSpec(name: "KUBE-CLUSTER-IP", type: .hashIPPort, family: .ipv4, comment: "c")
        let body = ChainBody(name: "KUBE-SERVICES", rules: ["-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT"])
        let plan = Plan(operations: [
            .recreateSet(spec),
            .writeChains(family: .ipv4, table: .nat, chains: [body]),
        ].map { PlannedOperation($0) })
        let batches = NodeKernel.batches(plan)
        XCTAssertEqual(batches.map(\.0), [.iptables, .ipset, .iptables])
        XCTAssertEqual(batches[0].1, [.writeChains(family: .ipv4, table: .nat, chains: [ChainBody(name: "KUBE-SERVICES", rules: [])])])
        XCTAssertEqual(batches[2].1, [.writeChains(family: .ipv4, table: .nat, chains: [body])])
        let plain = Plan(operations: [.createSet(spec), .writeChains(family: .ipv4, table: .nat, chains: [body])].map { PlannedOperation($0) })
        XCTAssertEqual(NodeKernel.batches(plain).map(\.0), [.ipset, .iptables], "nothing emptied without a recreate")
    }

    func testReportSummary() {
        var r = ApplyReport()
        r.operations = [.ipvs: 3, .link: 1]
        var res = ApplyResult(); res.requestsSent = 3
        r.results[.ipvs] = res
        r.elapsed = .milliseconds(2)
        XCTAssertEqual(r.summary, "link 1 ops 0 requests, ipvs 3 ops 3 requests; 2.0 ms")
        XCTAssertEqual(ApplyReport().summary, "nothing to do; 0.0 ms")
    }

    /// Every sysctl a desired state can ask for is among those the daemon reads back: one left out
    /// is rewritten at every full resync (and fails in the non-privileged container).
    func testEverySysctlTheDesiredStateSetsIsReadBack() {
        for strictARP in [false, true] {
            var config = ProxyConfig()
            config.strictARP = strictARP
            config.clusterCIDRs = [CIDR("10.244.0.0/16")!, CIDR("fd00:10:244::/56")!]
            let v4 = ServiceInfo(ref: ObjectRef(namespace: "ns", name: "a"), clusterIPs: [IPAddress("10.96.0.10")!, IPAddress("fd00::a")!],
                                 ports: [ServicePortInfo(name: "", proto: .tcp, port: 80)])
            let desired = DesiredStateBuilder.build(snapshot: ClusterSnapshot(services: [v4], endpointSets: []), config: config,
                                                    node: NodeContext(name: "node1"))
            XCTAssertNotNil(desired.families[.ipv6])
            let wanted = Set(desired.sysctls.map(\.name))
            XCTAssertTrue(wanted.contains("net.ipv6.conf.all.forwarding"))
            XCTAssertTrue(wanted.isSubset(of: Set(Prerequisites.specSysctls(strictARP: strictARP))),
                          "not read back: \(wanted.subtracting(Prerequisites.specSysctls(strictARP: strictARP)))")
        }
    }
}
