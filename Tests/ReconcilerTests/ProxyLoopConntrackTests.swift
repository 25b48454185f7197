import Foundation
import XCTest
import KernelPort
import KubeModel
import ProxyCore
@testable import Reconciler
import TestSupport

/// Stale UDP conntrack entries are cleared after the apply that made them stale (ProxyLoopTests'
/// helpers; memoryKernel from TestSupport).
extension ProxyLoopTests {
    var udpKey: VirtualServerKey { VirtualServerKey(address: vip, proto: .udp, port: 80) }

    func testUDPEndpointRemovedDeletesItsRealServerAtOnceAndClearsItsConntrackEntries() async {
        let kernel = memoryKernel()
        let loop = await started(kernel, proto: "UDP")
        XCTAssertEqual(kernel.conntrackCalls, [[ConntrackFilter(originalDestination: vip, originalDestinationPort: 80)]],
                       "a UDP service that had no backend gets some: entries to it from meanwhile go")
        let gone = RealServerKey(address: IPAddress("10.244.1.3")!, port: 8080)

        await loop.upsertEndpointSource(endpoints(["10.244.1.2"], proto: "UDP"), at: 1)
        await loop.step(at: 1)
        XCTAssertEqual(kernel.lastOps, [.deleteRealServer(udpKey, gone)], "no draining for UDP")
        XCTAssertEqual(kernel.conntrackCalls.count, 2)
        XCTAssertEqual(kernel.conntrackCalls.last, [ConntrackFilter(originalDestination: vip, originalDestinationPort: 80,
                                                                    replySource: gone.address, replySourcePort: 8080)])
        let result = await loop.lastResult
        XCTAssertEqual(result?.conntrackDeleted, 1)
        XCTAssertNil(result?.conntrackError)
        XCTAssertNil(result?.error)

        // An added backend makes nothing stale.
        await loop.upsertEndpointSource(endpoints(["10.244.1.2", "10.244.1.4"], proto: "UDP"), at: 2)
        await loop.step(at: 2)
        XCTAssertEqual(kernel.conntrackCalls.count, 2)
        let quiet = await loop.lastResult
        XCTAssertEqual(quiet?.conntrackDeleted, 0)
    }

    func testUDPServiceGettingItsFirstEndpointClearsEntriesToIt() async {
        let kernel = memoryKernel()
        let loop = await started(kernel, ips: [], proto: "UDP")
        XCTAssertEqual(kernel.conntrackCalls, [], "no backend yet: nothing to clear")
        await loop.upsertEndpointSource(endpoints(["10.244.1.7"], proto: "UDP"), at: 1)
        await loop.step(at: 1)
        XCTAssertEqual(kernel.conntrackCalls, [[ConntrackFilter(originalDestination: vip, originalDestinationPort: 80)]])
    }

    func testTCPEndpointsNeverTouchConntrack() async {
        let kernel = memoryKernel()
        let loop = await started(kernel)
        await loop.upsertEndpointSource(endpoints(["10.244.1.2"]), at: 1)
        await loop.step(at: 1)  // drained to weight 0
        await loop.step(at: 5)  // idle: deleted by the reaper
        XCTAssertEqual(kernel.lastOps, [.deleteRealServer(vsKey, RealServerKey(address: IPAddress("10.244.1.3")!, port: 8080))])
        await loop.deleteService(service(), at: 6)
        await loop.step(at: 6)
        XCTAssertEqual(kernel.conntrackCalls, [])
    }

    func testConntrackFailureIsRecordedButIsNoSyncFailure() async {
        let kernel = memoryKernel()
        kernel.conntrackFault = { _ in
            var partial = ApplyResult()
            partial.applied = 3
            return KernelBatchError(errors: [KernelError(subsystem: .conntrack, operation: "IPCTNL_MSG_CT_DELETE", errno: EPERM)], partial: partial)
        }
        let loop = ProxyLoop(kernel: kernel, config: config(), nodeName: "node1")
        await loop.replaceServices([service(proto: "UDP")], at: 0)
        await loop.replaceEndpointSources([endpoints(["10.244.1.2", "10.244.1.3"], proto: "UDP")], at: 0)
        await loop.setNode(nil, at: 0)
        await loop.step(at: 0)
        let observes = kernel.observeCalls
        await loop.upsertEndpointSource(endpoints(["10.244.1.2"], proto: "UDP"), at: 1)
        await loop.step(at: 1)
        let result = await loop.lastResult
        XCTAssertNil(result?.error, "the plan was applied")
        XCTAssertEqual(result?.conntrackDeleted, 3, "what the failed batch did delete")
        XCTAssertEqual(result?.conntrackError, "conntrack IPCTNL_MSG_CT_DELETE: EPERM (Operation not permitted)")
        XCTAssertEqual(kernel.state.family(.ipv4).virtualServers[udpKey]?.realServers.count, 1)
        await loop.upsertEndpointSource(endpoints(["10.244.1.2", "10.244.1.5"], proto: "UDP"), at: 2)
        await loop.step(at: 2)
        XCTAssertEqual(kernel.observeCalls, observes, "no full resync after a conntrack failure")
    }
}
