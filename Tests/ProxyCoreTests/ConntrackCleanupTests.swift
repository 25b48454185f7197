import XCTest
import KubeModel
@testable import ProxyCore

final class ConntrackCleanupTests: XCTestCase {
    let udp = Fx.vsKey("10.254.0.10", 53, .udp)
    let tcp = Fx.vsKey("10.254.0.10", 53, .tcp)
    let rs1 = RealServerKey(address: Fx.ip("10.244.1.5"), port: 5353)
    let rs2 = RealServerKey(address: Fx.ip("10.244.1.6"), port: 5353)

    /// A node whose virtual servers hold the given real servers.
    func node(_ servers: [VirtualServerKey: [RealServerKey]]) -> ObservedState {
        var o = ObservedState()
        for (key, rss) in servers {
            o.families[key.address.family, default: ObservedFamily()].virtualServers[key] = ObservedVirtualServer(
                server: VirtualServer(key: key, scheduler: "rr"),
                realServers: RealServerTable(rss.map { RealServer(key: $0) }))
        }
        return o
    }

    func plan(_ ops: ProxyCore.Operation...) -> Plan { Plan(operations: ops.map { PlannedOperation($0, owner: "kube-system/dns") }) }

    func stale(_ key: VirtualServerKey, _ rk: RealServerKey) -> ConntrackFilter {
        ConntrackFilter(originalDestination: key.address, originalDestinationPort: key.port, replySource: rk.address, replySourcePort: rk.port)
    }

    func testDeletedUDPRealServerGivesOneFilter() {
        let filters = ConntrackCleanup.filters(applied: plan(.deleteRealServer(udp, rs2)), observed: node([udp: [rs1, rs2]]))
        XCTAssertEqual(filters, [stale(udp, rs2)])
        XCTAssertEqual(filters.first?.description, "-p udp --orig-dst 10.254.0.10 --orig-port-dst 53 --reply-src 10.244.1.6 --reply-port-src 5353")
        XCTAssertEqual(filters.first?.family, .ipv4)
    }

    func testTCPAndSCTPNeedNoCleanup() {
        let sctp = Fx.vsKey("10.254.0.10", 53, .sctp)
        let observed = node([tcp: [rs1, rs2], sctp: [rs1]])
        let p = plan(.deleteRealServer(tcp, rs2), .updateRealServer(tcp, RealServer(key: rs1, weight: 0)),
                     .deleteVirtualServer(sctp), .addRealServer(Fx.vsKey("10.254.0.11", 80), RealServer(key: rs1)))
        XCTAssertEqual(ConntrackCleanup.filters(applied: p, observed: observed), [])
    }

    func testFirstRealServerOfAUDPServiceClearsEveryEntryToIt() {
        // Had none: clients that sent meanwhile hold entries that translate to nothing.
        let empty = ConntrackCleanup.filters(applied: plan(.addRealServer(udp, RealServer(key: rs1)), .addRealServer(udp, RealServer(key: rs2))),
                                             observed: node([udp: []]))
        XCTAssertEqual(empty, [ConntrackFilter(originalDestination: udp.address, originalDestinationPort: 53)])
        XCTAssertEqual(empty.first?.description, "-p udp --orig-dst 10.254.0.10 --orig-port-dst 53")

        // Did not exist: the same.
        let fresh = ConntrackCleanup.filters(applied: plan(.addVirtualServer(VirtualServer(key: udp, scheduler: "rr")),
                                                           .addRealServer(udp, RealServer(key: rs1))), observed: .emptyNode)
        XCTAssertEqual(fresh, [ConntrackFilter(originalDestination: udp.address, originalDestinationPort: 53)])

        // Had one already: a new backend makes nothing stale.
        XCTAssertEqual(ConntrackCleanup.filters(applied: plan(.addRealServer(udp, RealServer(key: rs2))), observed: node([udp: [rs1]])), [])

        // A virtual server created without real servers: nothing yet.
        XCTAssertEqual(ConntrackCleanup.filters(applied: plan(.addVirtualServer(VirtualServer(key: udp, scheduler: "rr"))), observed: .emptyNode), [])
    }

    func testReplacingTheOnlyBackendClearsTheOldOneOnly() {
        // One real server swapped for another: the service never had zero real servers in the kernel's
        // eyes after the apply, so only the removed backend's entries go.
        let p = plan(.addRealServer(udp, RealServer(key: rs2)), .deleteRealServer(udp, rs1))
        XCTAssertEqual(ConntrackCleanup.filters(applied: p, observed: node([udp: [rs1]])), [stale(udp, rs1)])
    }

    func testDeletedUDPVirtualServerClearsEachOfItsRealServers() {
        let other = Fx.vsKey("10.254.0.12", 5000, .udp)
        let p = plan(.deleteVirtualServer(udp), .deleteVirtualServer(other))
        XCTAssertEqual(ConntrackCleanup.filters(applied: p, observed: node([udp: [rs1, rs2], other: []])), [stale(udp, rs1), stale(udp, rs2)])
    }

    func testIPv6AndSortedOutput() {
        let v6 = Fx.vsKey("fd00::10", 53, .udp)
        let rs6 = RealServerKey(address: Fx.ip("fd00:244::5"), port: 5353)
        let p = plan(.deleteRealServer(v6, rs6), .deleteRealServer(udp, rs2), .deleteRealServer(udp, rs1), .deleteRealServer(udp, rs1))
        let filters = ConntrackCleanup.filters(applied: p, observed: node([udp: [rs1, rs2], v6: [rs6]]))
        XCTAssertEqual(filters, [stale(udp, rs1), stale(udp, rs2), stale(v6, rs6)], "sorted, duplicates dropped")
        XCTAssertEqual(filters.last?.family, .ipv6)
    }

    func testPlannedFromDesiredState() {
        // The whole path: a UDP Service loses one endpoint; the planner deletes its real server.
        let dns = ServicePortInfo(name: "dns", proto: .udp, port: 53)
        func snapshot(_ eps: [String]) -> ClusterSnapshot {
            ClusterSnapshot(services: [Fx.service("kube-dns", ns: "kube-system", ip: "10.254.0.10", ports: [dns])],
                            endpointSets: [Fx.endpoints("kube-dns", ns: "kube-system", port: 5353, portName: "dns", proto: .udp, eps.map { Fx.ep($0) })])
        }
        var observed = ObservedState.emptyNode
        let first = Planner.plan(desired: Fx.desired(snapshot(["10.244.1.5", "10.244.1.6"])), observed: observed)
        XCTAssertEqual(ConntrackCleanup.filters(applied: first, observed: observed),
                       [ConntrackFilter(originalDestination: udp.address, originalDestinationPort: 53)], "first programming of a UDP service")
        observed.apply(first)
        let second = Planner.plan(desired: Fx.desired(snapshot(["10.244.1.5"])), observed: observed)
        XCTAssertEqual(ConntrackCleanup.filters(applied: second, observed: observed), [stale(udp, rs2)])
        observed.apply(second)
        XCTAssertEqual(ConntrackCleanup.filters(applied: Planner.plan(desired: Fx.desired(snapshot(["10.244.1.5"])), observed: observed),
                                                observed: observed), [], "nothing changed, nothing to clean")
    }

    func testMatching() {
        let f = stale(udp, rs1)
        XCTAssertTrue(f.matches(proto: .udp, originalDestination: udp.address, originalDestinationPort: 53, replySource: rs1.address, replySourcePort: 5353))
        XCTAssertFalse(f.matches(proto: .tcp, originalDestination: udp.address, originalDestinationPort: 53, replySource: rs1.address, replySourcePort: 5353))
        XCTAssertFalse(f.matches(proto: nil, originalDestination: udp.address, originalDestinationPort: 53, replySource: rs1.address, replySourcePort: 5353))
        XCTAssertFalse(f.matches(proto: .udp, originalDestination: Fx.ip("10.254.0.11"), originalDestinationPort: 53, replySource: rs1.address, replySourcePort: 5353))
        XCTAssertFalse(f.matches(proto: .udp, originalDestination: udp.address, originalDestinationPort: 54, replySource: rs1.address, replySourcePort: 5353))
        XCTAssertFalse(f.matches(proto: .udp, originalDestination: udp.address, originalDestinationPort: 53, replySource: rs2.address, replySourcePort: 5353))
        XCTAssertFalse(f.matches(proto: .udp, originalDestination: udp.address, originalDestinationPort: 53, replySource: rs1.address, replySourcePort: 5354))
        let any = ConntrackFilter(originalDestination: udp.address, originalDestinationPort: 53)
        XCTAssertTrue(any.matches(proto: .udp, originalDestination: udp.address, originalDestinationPort: 53, replySource: udp.address, replySourcePort: 53),
                      "an untranslated entry (no backend at the time)")
        XCTAssertTrue(any.matches(proto: .udp, originalDestination: udp.address, originalDestinationPort: 53, replySource: rs2.address, replySourcePort: 5353))
    }
}
