import Foundation
import XCTest
import KernelPort
import KubeModel
import ProxyCore
@testable import Reconciler
import TestSupport

final class ProxyLoopTests: XCTestCase {
    let vip = IPAddress("10.254.10.128")!
    var vsKey: VirtualServerKey { VirtualServerKey(address: vip, proto: .tcp, port: 80) }

    func config() -> ProxyConfig {
        var c = ProxyConfig()
        c.clusterCIDRs = [CIDR("10.244.0.0/16")!]
        c.minSyncPeriod = 1
        c.syncPeriod = 30
        return c
    }

    func service(proto: String = "TCP", name: String = "web-service", port: Int = 80) -> ServiceResource {
        decode(KubeJSON.service(name, proto: proto, port: port))
    }

    func endpoints(_ ips: [String], proto: String = "TCP") -> EndpointsResource {
        decode(KubeJSON.endpoints(ips, proto: proto))
    }

    func started(_ kernel: InMemoryKernel, ips: [String] = ["10.244.1.2", "10.244.1.3"], proto: String = "TCP",
                 observers: ProxyLoopObservers = ProxyLoopObservers()) async -> ProxyLoop {
        let loop = ProxyLoop(kernel: kernel, config: config(), nodeName: "node1", observers: observers)
        await loop.replaceServices([service(proto: proto)], at: 0)
        await loop.replaceEndpointSources([endpoints(ips, proto: proto)], at: 0)
        await loop.setNode(nil, at: 0)
        await loop.step(at: 0)
        return loop
    }

    func realServerCount(_ kernel: InMemoryKernel) -> Int? { kernel.state.family(.ipv4).virtualServers[vsKey]?.realServers.count }

    /// Observers that record the diagnostic of every invalid object.
    func recordingInvalidObjects() -> (ProxyLoopObservers, Locked<[Diagnostic]>) {
        let seen = Locked<[Diagnostic]>([])
        var observers = ProxyLoopObservers()
        observers.invalidObject = { d in seen.mutate { $0.append(d) } }
        return (observers, seen)
    }

    func testNothingIsProgrammedBeforeEveryFirstList() async {
        let kernel = memoryKernel()
        let loop = ProxyLoop(kernel: kernel, config: config(), nodeName: "node1")
        await loop.replaceServices([service()], at: 0)
        await loop.replaceEndpointSources([endpoints(["10.244.1.2"])], at: 0)
        await loop.step(at: 5)
        XCTAssertEqual(kernel.applied.count, 0)
        XCTAssertEqual(kernel.observeCalls, 0)
        let synced = await loop.hasSynced
        XCTAssertFalse(synced)
        await loop.setNode(nil, at: 5)
        await loop.step(at: 5)
        XCTAssertEqual(kernel.applied.count, 1)
    }

    func testFirstSyncProgramsTheSeedAndThenNothing() async {
        let kernel = memoryKernel()
        let loop = await started(kernel)
        XCTAssertEqual(kernel.state.family(.ipv4).virtualServers[vsKey]?.realServers.count, 2)
        XCTAssertTrue(kernel.state.family(.ipv4).boundAddresses.contains(vip))
        let wait = await loop.step(at: 0.5)
        XCTAssertEqual(wait, 29.5, accuracy: 1e-9)
        XCTAssertEqual(kernel.applied.count, 1)
    }

    /// Nothing is read or programmed until Services, endpoints and the Node have each delivered a
    /// complete list (as kube-proxy waits for its informers); then one full sync does everything.
    func testTheFirstSyncWaitsForAllThreeListsAndHappensOnce() async {
        let kernel = memoryKernel()
        let loop = ProxyLoop(kernel: kernel, config: config(), nodeName: "node1")
        await loop.replaceServices([service()], at: 0)
        await loop.step(at: 0.1)
        await loop.replaceEndpointSources([endpoints(["10.244.1.2"])], at: 0.2)
        await loop.step(at: 0.3)
        XCTAssertEqual(kernel.observeCalls, 0)
        XCTAssertEqual(kernel.applyCalls, 0)
        await loop.setNode(nil, at: 0.4)
        await loop.step(at: 0.5)
        await loop.step(at: 0.6)
        XCTAssertEqual(kernel.applyCalls, 1)
        let r = await loop.lastResult
        XCTAssertEqual(r?.first, true)
        XCTAssertEqual(r?.full, true)
        XCTAssertEqual(realServerCount(kernel), 1)
    }

    /// A full sync reports where its time went (the daemon logs it with the first sync); an
    /// incremental one does not, so that its log line stays short.
    func testAFullSyncReportsItsPhases() async {
        let kernel = memoryKernel()
        let loop = await started(kernel)
        let first = await loop.lastResult
        XCTAssertEqual(first?.phases.map(\.name), ["addresses", "schedulers", "index", "observe", "plan", "conntrack", "cache"])
        await loop.upsertEndpointSource(endpoints(["10.244.1.2", "10.244.1.3", "10.244.1.4"]), at: 0.2)
        await loop.step(at: 1.0)
        let next = await loop.lastResult
        XCTAssertEqual(next?.full, false)
        XCTAssertEqual(next?.phases.count, 0)
    }

    /// With a memory probe, a full sync samples it after each phase and after the apply (the
    /// daemon logs these as kib-*, to show where a first sync's peak comes from); an incremental
    /// sync does not.
    func testAFullSyncSamplesMemoryAfterEachPhase() async {
        let calls = Locked(0)
        var observers = ProxyLoopObservers()
        observers.memoryKiB = { calls.mutate { $0 += 1; return 1000 + $0 } }
        let loop = await started(memoryKernel(), observers: observers)
        let first = await loop.lastResult
        XCTAssertEqual(first?.phaseMemory.map(\.name), ["addresses", "schedulers", "index", "observe", "plan", "apply", "conntrack", "cache"])
        XCTAssertEqual(first?.phaseMemory.map(\.kib), (1...8).map { 1000 + $0 })
        await loop.upsertEndpointSource(endpoints(["10.244.1.2", "10.244.1.3", "10.244.1.4"]), at: 0.2)
        await loop.step(at: 1.0)
        let next = await loop.lastResult
        XCTAssertEqual(next?.phaseMemory.count, 0)
        XCTAssertEqual(calls.value, 8)
    }

    func testOneEndpointChangeIsOneOperationWithoutReadingTheKernel() async {
        let kernel = memoryKernel()
        let loop = await started(kernel)
        let observes = kernel.observeCalls
        await loop.upsertEndpointSource(endpoints(["10.244.1.2", "10.244.1.3", "10.244.1.4"]), at: 0.2)
        await loop.step(at: 0.5)
        XCTAssertEqual(kernel.applied.count, 1, "not before minSyncPeriod")
        await loop.step(at: 1.0)
        XCTAssertEqual(kernel.lastOps, [.addRealServer(vsKey, RealServer(key: RealServerKey(address: IPAddress("10.244.1.4")!, port: 8080)))])
        XCTAssertEqual(kernel.observeCalls, observes, "an incremental sync plans against the cached state")
        let result = await loop.lastResult
        XCTAssertEqual(result?.full, false)
        XCTAssertEqual(result?.servicesRecomputed, 1)
        XCTAssertEqual(result?.oldestChange, 0.2)
    }

    /// The running loop wakes for a change, syncs it, and then sleeps: it used to spin (each
    /// cancelled timer woke the next turn), burning a CPU and memory from the first change on.
    func testRunningLoopIsIdleAfterAChange() async throws {
        let kernel = memoryKernel()
        let loop = await started(kernel)
        let t0 = Date().timeIntervalSince1970
        let task = Task { await loop.run(now: { Date().timeIntervalSince1970 - t0 + 100 }) }
        try await Task.sleep(for: .milliseconds(200))
        await loop.upsertEndpointSource(endpoints(["10.244.1.2", "10.244.1.3", "10.244.1.4"]), at: 100)
        try await Task.sleep(for: .milliseconds(1500))  // minSyncPeriod is 1 s
        let afterChange = await loop.runIterations
        try await Task.sleep(for: .milliseconds(700))
        let later = await loop.runIterations
        task.cancel()
        await loop.stop()
        _ = await task.value
        XCTAssertTrue(kernel.lastOps.contains { if case .addRealServer = $0 { return true } else { return false } }, "\(kernel.lastOps)")
        // A turn per wake and per timer: a handful, not thousands.
        XCTAssertLessThan(afterChange, 15)
        XCTAssertLessThanOrEqual(later - afterChange, 2, "the loop kept turning while idle: \(later - afterChange) turns in 0.7 s")
    }

    func testChangesAreCoalesced() async {
        let kernel = memoryKernel()
        let loop = await started(kernel)
        await loop.upsertEndpointSource(endpoints(["10.244.1.2", "10.244.1.3", "10.244.1.4"]), at: 0.1)
        await loop.upsertEndpointSource(endpoints(["10.244.1.2", "10.244.1.3", "10.244.1.4", "10.244.1.5"]), at: 0.3)
        await loop.step(at: 0.4)
        await loop.step(at: 1.0)
        XCTAssertEqual(kernel.applied.count, 2, "one sync for both changes")
        XCTAssertEqual(kernel.applied.last?.count, 2)
    }

    func testTCPRealServersDrainThenGo() async {
        let kernel = memoryKernel()
        let loop = await started(kernel)
        let gone = RealServerKey(address: IPAddress("10.244.1.3")!, port: 8080)
        kernel.stats[gone] = RealServerStats(activeConnections: 2, inactiveConnections: 0)
        await loop.upsertEndpointSource(endpoints(["10.244.1.2"]), at: 1)
        await loop.step(at: 1)
        XCTAssertEqual(kernel.lastOps, [.updateRealServer(vsKey, RealServer(key: gone, weight: 0))])
        let draining = await loop.drainingCount
        XCTAssertEqual(draining, 1)
        await loop.step(at: 3.5)
        XCTAssertEqual(kernel.applied.count, 2, "still busy: kept at weight 0")
        kernel.stats[gone] = RealServerStats()
        await loop.step(at: 6)
        XCTAssertEqual(kernel.lastOps, [.deleteRealServer(vsKey, gone)])
        let after = await loop.drainingCount
        XCTAssertEqual(after, 0)
    }

    func testReturningEndpointGetsItsWeightBack() async {
        let kernel = memoryKernel()
        let loop = await started(kernel)
        let back = RealServerKey(address: IPAddress("10.244.1.3")!, port: 8080)
        kernel.stats[back] = RealServerStats(activeConnections: 1)
        await loop.upsertEndpointSource(endpoints(["10.244.1.2"]), at: 1)
        await loop.step(at: 1)
        await loop.upsertEndpointSource(endpoints(["10.244.1.2", "10.244.1.3"]), at: 2)
        await loop.step(at: 2)
        XCTAssertEqual(kernel.lastOps, [.updateRealServer(vsKey, RealServer(key: back, weight: 1))])
        await loop.step(at: 5)
        let draining = await loop.drainingCount
        XCTAssertEqual(draining, 0)
        XCTAssertEqual(kernel.state.family(.ipv4).virtualServers[vsKey]?.realServers[back]?.weight, 1)
    }

    func testUDPRealServersGoAtOnce() async {
        let kernel = memoryKernel()
        let loop = await started(kernel, proto: "UDP")
        let key = VirtualServerKey(address: vip, proto: .udp, port: 80)
        await loop.upsertEndpointSource(endpoints(["10.244.1.2"], proto: "UDP"), at: 1)
        await loop.step(at: 1)
        XCTAssertEqual(kernel.lastOps, [.deleteRealServer(key, RealServerKey(address: IPAddress("10.244.1.3")!, port: 8080))])
    }

    func testFullResyncRepairsDriftEverySyncPeriod() async {
        let kernel = memoryKernel()
        let loop = await started(kernel)
        kernel.state.families[.ipv4]!.virtualServers[vsKey] = nil  // someone deleted it by hand
        await loop.step(at: 10)
        XCTAssertEqual(kernel.applied.count, 1, "no change queued: nothing before syncPeriod")
        await loop.step(at: 30)
        XCTAssertEqual(kernel.lastOps.filter { $0.kind == .ipvs }.count, 3)
        XCTAssertNotNil(kernel.state.family(.ipv4).virtualServers[vsKey])
        let full = await loop.lastResult?.full
        XCTAssertEqual(full, true)
    }

    func testRestartOnAProgrammedNodeAppliesNothing() async {
        let kernel = memoryKernel()
        _ = await started(kernel)
        let before = kernel.applied.count
        let again = await started(kernel)  // a new daemon, the same kernel
        XCTAssertEqual(kernel.applied.count, before, "nothing flushed, nothing re-applied")
        let result = await again.lastResult
        XCTAssertEqual(result?.total, 0)
    }

    func testServiceDeletionRemovesItsState() async {
        let kernel = memoryKernel()
        let loop = await started(kernel)
        await loop.deleteService(service(), at: 1)
        await loop.step(at: 1)
        let f = kernel.state.family(.ipv4)
        XCTAssertNil(f.virtualServers[vsKey])
        XCTAssertFalse(f.boundAddresses.contains(vip))
        XCTAssertEqual(f.ipsets["KUBE-CLUSTER-IP"]?.entries, [])
    }

    func testInvalidUpdateIsReportedAndLeavesOthersAlone() async {
        let kernel = memoryKernel()
        let (observers, invalid) = recordingInvalidObjects()
        let loop = await started(kernel, observers: observers)
        await loop.upsertService(service(name: "broken", port: 0), at: 1)
        await loop.step(at: 1)
        XCTAssertEqual(invalid.value.map(\.description), ["Service default/broken: spec.ports[0].port: 0 is out of range (1-65535)"])
        XCTAssertEqual(kernel.state.family(.ipv4).virtualServers[vsKey]?.realServers.count, 2)
    }

    /// Sends an invalid version as an update at 1 s, then in a relist at 2.5 s: each time it is
    /// reported and the Service keeps its two real servers.
    func assertKeptThroughUpdateAndRelist(_ kernel: InMemoryKernel, _ loop: ProxyLoop, _ invalid: Locked<[Diagnostic]>, kind: String,
                                          update: (Double) async -> Void, relist: (Double) async -> Void,
                                          file: StaticString = #filePath, line: UInt = #line) async {
        await update(1)
        await loop.step(at: 1)
        XCTAssertEqual(invalid.value.map(\.kind), [kind], file: file, line: line)
        XCTAssertEqual(realServerCount(kernel), 2, "after the update", file: file, line: line)
        await relist(2.5)
        await loop.step(at: 2.5)
        XCTAssertEqual(invalid.value.map(\.kind), [kind, kind], file: file, line: line)
        XCTAssertEqual(realServerCount(kernel), 2, "after the relist", file: file, line: line)
    }

    /// An update that fails validation is reported and the Service's last valid version stays
    /// programmed, also through a relist; only its deletion removes it.
    func testInvalidServiceUpdateKeepsTheLastValidVersion() async {
        let kernel = memoryKernel()
        let (observers, invalid) = recordingInvalidObjects()
        let loop = await started(kernel, observers: observers)
        let bad: ServiceResource = decode(KubeJSON.service(ip: "10.254.10.999"))
        await assertKeptThroughUpdateAndRelist(kernel, loop, invalid, kind: "Service",
                                               update: { await loop.upsertService(bad, at: $0) },
                                               relist: { await loop.replaceServices([bad], at: $0) })
        XCTAssertTrue(kernel.state.family(.ipv4).boundAddresses.contains(vip))
        await loop.deleteService(bad, at: 4)
        await loop.step(at: 4)
        XCTAssertNil(kernel.state.family(.ipv4).virtualServers[vsKey])
        XCTAssertFalse(kernel.state.family(.ipv4).boundAddresses.contains(vip))
    }

    /// An endpoint object that fails validation as a whole keeps its last valid endpoint sets, also
    /// through a relist; its deletion still removes them.
    func testInvalidEndpointSliceUpdateKeepsTheLastValidSets() async {
        let kernel = memoryKernel()
        let (observers, invalid) = recordingInvalidObjects()
        let loop = ProxyLoop(kernel: kernel, config: config(), nodeName: "node1", observers: observers)
        let good: EndpointSliceResource = decode(KubeJSON.slice(service: "web-service", ["10.244.1.2", "10.244.1.3"].map { KubeJSON.sliceEndpoint($0) }))
        let bad: EndpointSliceResource = decode(KubeJSON.slice(service: "web-service", [KubeJSON.sliceEndpoint("10.244.1.4")], addressType: "IPv7"))
        await loop.replaceServices([service()], at: 0)
        await loop.replaceEndpointSources([good], at: 0)
        await loop.setNode(nil, at: 0)
        await loop.step(at: 0)
        XCTAssertEqual(realServerCount(kernel), 2)
        await assertKeptThroughUpdateAndRelist(kernel, loop, invalid, kind: "EndpointSlice",
                                               update: { await loop.upsertEndpointSource(bad, at: $0) },
                                               relist: { await loop.replaceEndpointSources([bad], at: $0) })
        await loop.deleteEndpointSource(bad, at: 4)
        await loop.step(at: 4)
        XCTAssertEqual(realServerCount(kernel), 0)
    }

    /// One bad address in a slice drops only that endpoint, and the loop reports it as a warning.
    func testBadEndpointAddressIsWarnedAndDroppedAlone() async {
        let kernel = memoryKernel()
        let warnings = Locked<[Diagnostic]>([])
        var observers = ProxyLoopObservers()
        observers.warning = { d in warnings.mutate { $0.append(d) } }
        let loop = ProxyLoop(kernel: kernel, config: config(), nodeName: "node1", observers: observers)
        let slice: EndpointSliceResource = decode(KubeJSON.slice(service: "web-service", ["10.244.1.2", "10.244.1.999"].map { KubeJSON.sliceEndpoint($0) }))
        await loop.replaceServices([service()], at: 0)
        await loop.replaceEndpointSources([slice], at: 0)
        await loop.setNode(nil, at: 0)
        await loop.step(at: 0)
        XCTAssertEqual(realServerCount(kernel), 1)
        XCTAssertEqual(warnings.value.count, 1)
        XCTAssertTrue(warnings.value.first?.description.contains("10.244.1.999") ?? false, "\(warnings.value)")
    }

    func testApplyFailureLeadsToAFullResync() async {
        struct Failure: Error {}
        var failNext = false
        let kernel = memoryKernel()
        kernel.applyFault = { _ in
            defer { failNext = false }
            return failNext ? Failure() : nil
        }
        let loop = ProxyLoop(kernel: kernel, config: config(), nodeName: "node1")
        await loop.replaceServices([service()], at: 0)
        await loop.replaceEndpointSources([endpoints(["10.244.1.2"])], at: 0)
        await loop.setNode(nil, at: 0)
        await loop.step(at: 0)
        failNext = true
        await loop.upsertEndpointSource(endpoints(["10.244.1.2", "10.244.1.3"]), at: 1)
        await loop.step(at: 1)
        let failed = await loop.lastResult
        XCTAssertNotNil(failed?.error)
        let observes = kernel.observeCalls
        await loop.upsertEndpointSource(endpoints(["10.244.1.2", "10.244.1.3"]), at: 2.5)
        await loop.step(at: 2.5)
        XCTAssertEqual(kernel.observeCalls, observes + 1, "after a failure the kernel is read again")
        XCTAssertEqual(kernel.state.family(.ipv4).virtualServers[vsKey]?.realServers.count, 2)
    }

    /// A sysctl that cannot be written (read-only /proc/sys) fails no sync: everything else is
    /// applied, the error is reported, changes keep being applied without a kernel read, and the
    /// full resync every syncPeriod tries the sysctl again.
    func testPrerequisiteFailureIsReportedNotAFailedSync() async {
        let kernel = memoryKernel()
        let readOnly = KernelError(subsystem: .sysctl, operation: "open", object: "net.ipv4.vs.conntrack", errno: EROFS)
        func isSysctl(_ p: PlannedOperation) -> Bool { if case .setSysctl = p.operation { return true }; return false }
        kernel.applyFault = { [unowned kernel] plan in
            guard plan.operations.contains(where: isSysctl) else { return nil }
            kernel.state.apply(Plan(operations: plan.operations.filter { !isSysctl($0) }))
            var report = ApplyReport()
            report.errors = [readOnly]
            return ApplyFailure(report: report)
        }
        let loop = ProxyLoop(kernel: kernel, config: config(), nodeName: "node1")
        await loop.replaceServices([service()], at: 0)
        await loop.replaceEndpointSources([endpoints(["10.244.1.2"])], at: 0)
        await loop.setNode(nil, at: 0)
        await loop.step(at: 0)
        var r = await loop.lastResult
        XCTAssertNil(r?.error)
        XCTAssertEqual(r?.first, true)
        XCTAssertTrue(r?.prerequisiteError?.contains("net.ipv4.vs.conntrack: errno 30") ?? false, "\(String(describing: r?.prerequisiteError))")
        XCTAssertEqual(kernel.state.family(.ipv4).virtualServers[vsKey]?.realServers.count, 1)

        let observes = kernel.observeCalls
        await loop.upsertEndpointSource(endpoints(["10.244.1.2", "10.244.1.3"]), at: 2)
        await loop.step(at: 2)
        r = await loop.lastResult
        XCTAssertNil(r?.error)
        XCTAssertNil(r?.prerequisiteError)
        XCTAssertEqual(r?.full, false)
        XCTAssertEqual(kernel.observeCalls, observes, "no kernel read for a change")
        XCTAssertEqual(kernel.state.family(.ipv4).virtualServers[vsKey]?.realServers.count, 2)

        await loop.step(at: 100)
        r = await loop.lastResult
        XCTAssertEqual(r?.full, true)
        XCTAssertNotNil(r?.prerequisiteError, "the full resync tries the sysctl again")
        XCTAssertNil(r?.error)
    }
}
