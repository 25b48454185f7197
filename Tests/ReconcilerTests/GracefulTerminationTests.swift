import XCTest
import KubeModel
import ProxyCore
@testable import Reconciler

final class GracefulTerminationTests: XCTestCase {
    let tcp = VirtualServerKey(address: IPAddress("10.254.0.1")!, proto: .tcp, port: 80)
    let udp = VirtualServerKey(address: IPAddress("10.254.0.1")!, proto: .udp, port: 53)
    let rk = RealServerKey(address: IPAddress("10.244.0.1")!, port: 8080)

    func node(weight: Int32, active: UInt32 = 0, inactive: UInt32 = 0) -> ObservedState {
        var o = ObservedState()
        var f = ObservedFamily()
        for key in [tcp, udp] {
            f.virtualServers[key] = ObservedVirtualServer(server: VirtualServer(key: key, scheduler: "rr"),
                                                          realServers: [rk: RealServer(key: rk, weight: weight)],
                                                          stats: [rk: RealServerStats(activeConnections: active, inactiveConnections: inactive)])
        }
        o.families[.ipv4] = f
        return o
    }

    func testTCPDeletionsBecomeWeightZeroAndUDPStayDeletions() {
        let plan = Plan(operations: [PlannedOperation(.deleteRealServer(tcp, rk), owner: "a/b"), PlannedOperation(.deleteRealServer(udp, rk), owner: "a/b")])
        let (drained, draining) = GracefulTermination.drain(plan, observed: node(weight: 1))
        XCTAssertEqual(drained.operations.map(\.operation), [.updateRealServer(tcp, RealServer(key: rk, weight: 0)), .deleteRealServer(udp, rk)])
        XCTAssertEqual(draining, [DrainingRealServer(virtualServer: tcp, realServer: rk)])
        let (again, _) = GracefulTermination.drain(Plan(operations: [PlannedOperation(.deleteRealServer(tcp, rk))]), observed: node(weight: 0))
        XCTAssertEqual(again.operations, [], "already at weight 0: nothing more until it is idle")
    }

    func testReapDeletesOnlyIdleServers() {
        let d: Set = [DrainingRealServer(virtualServer: tcp, realServer: rk)]
        let busy = node(weight: 0, active: 1)
        var (plan, still) = GracefulTermination.reap(d, desired: DesiredState()) { busy.family(.ipv4).virtualServers[$0] }
        XCTAssertEqual(plan.operations, [])
        XCTAssertEqual(still, d)
        let lingering = node(weight: 0, inactive: 2)
        (plan, still) = GracefulTermination.reap(d, desired: DesiredState()) { lingering.family(.ipv4).virtualServers[$0] }
        XCTAssertEqual(plan.operations, [], "inactive (TIME_WAIT) connections also keep it")
        let idle = node(weight: 0)
        (plan, still) = GracefulTermination.reap(d, desired: DesiredState()) { idle.family(.ipv4).virtualServers[$0] }
        XCTAssertEqual(plan.operations.map(\.operation), [.deleteRealServer(tcp, rk)])
        XCTAssertEqual(still, [])
    }

    func testReturningEndpointStopsDrainingAndIsRestored() {
        var desired = DesiredState()
        var fam = DesiredFamily()
        fam.virtualServers[tcp] = DesiredVirtualServer(server: VirtualServer(key: tcp, scheduler: "rr"), realServers: [RealServer(key: rk)],
                                                       servicePort: "a/b:80", owner: "a/b")
        desired.families[.ipv4] = fam
        let observed = node(weight: 0, active: 3)
        let (plan, still) = GracefulTermination.reap([DrainingRealServer(virtualServer: tcp, realServer: rk)], desired: desired) {
            observed.family(.ipv4).virtualServers[$0]
        }
        XCTAssertEqual(plan.operations, [])
        XCTAssertEqual(still, [])
        XCTAssertEqual(Planner.plan(desired: desired, observed: observed, scope: { var s = PlanScope(); s.virtualServers = [tcp]; return s }())
            .operations.map(\.operation).filter { $0.kind == .ipvs }, [.updateRealServer(tcp, RealServer(key: rk, weight: 1))])
    }
}

final class GracefulTerminationReadTests: XCTestCase {
    func testOneKernelReadPerVirtualServer() {
        let key = VirtualServerKey(address: IPAddress("10.254.0.1")!, proto: .tcp, port: 80)
        let a = RealServerKey(address: IPAddress("10.244.0.1")!, port: 8080)
        let b = RealServerKey(address: IPAddress("10.244.0.2")!, port: 8080)
        let vs = ObservedVirtualServer(server: VirtualServer(key: key, scheduler: "rr"),
                                       realServers: [a: RealServer(key: a, weight: 0), b: RealServer(key: b, weight: 0)])
        var reads = 0
        let (plan, still) = GracefulTermination.reap([DrainingRealServer(virtualServer: key, realServer: a),
                                                      DrainingRealServer(virtualServer: key, realServer: b)],
                                                     desired: DesiredState()) { _ in reads += 1; return vs }
        XCTAssertEqual(reads, 1)
        XCTAssertEqual(plan.operations.map(\.operation), [.deleteRealServer(key, a), .deleteRealServer(key, b)])
        XCTAssertEqual(still, [])
    }
}
