import Foundation
import KubeModel
import ProxyCore
@testable import Reconciler
import TestSupport
import XCTest

final class ChangeCountersTests: XCTestCase {
    func service(_ name: String, ip: String) -> ServiceResource { decode(KubeJSON.service(name, ip: ip)) }

    func endpoints(_ name: String, _ ips: [String], trigger: String? = nil) -> EndpointsResource {
        decode(KubeJSON.endpoints(ips, name: name, trigger: trigger))
    }

    func testCountersCountChangesAndPendingUntilSynced() async {
        let kernel = memoryKernel()
        var c = ProxyConfig()
        c.minSyncPeriod = 1
        let loop = ProxyLoop(kernel: kernel, config: c, nodeName: "node1")
        await loop.replaceServices([service("a", ip: "10.254.0.10"), service("b", ip: "10.254.0.11")], at: 0)
        await loop.replaceEndpointSources([endpoints("a", ["10.244.1.2"])], at: 0)
        await loop.setNode(nil, at: 0)
        var n = await loop.changeCounters
        XCTAssertEqual(n, ChangeCounters(serviceChangesTotal: 2, endpointChangesTotal: 1, servicesPending: 2, endpointsPending: 1))
        await loop.step(at: 0)
        let firstResult = await loop.lastResult
        XCTAssertEqual(firstResult?.first, true)
        n = await loop.changeCounters
        XCTAssertEqual(n.servicesPending, 0)
        XCTAssertEqual(n.endpointsPending, 0)

        // Two updates of one Endpoints object: two changes, one pending object.
        await loop.upsertEndpointSource(endpoints("a", ["10.244.1.2", "10.244.1.3"], trigger: "2026-11-23T10:00:00Z"), at: 0.2)
        await loop.upsertEndpointSource(endpoints("a", ["10.244.1.3"]), at: 0.3)
        await loop.deleteService(service("b", ip: "10.254.0.11"), at: 0.4)
        n = await loop.changeCounters
        XCTAssertEqual(n, ChangeCounters(serviceChangesTotal: 3, endpointChangesTotal: 3, servicesPending: 1, endpointsPending: 1))
        await loop.step(at: 1.5)
        let r = await loop.lastResult
        XCTAssertEqual(r?.endpointChangeTimes, [RFC3339.seconds("2026-11-23T10:00:00Z")!, 0.3])
        XCTAssertEqual(r?.counters.endpointsPending, 0)
        XCTAssertEqual(r?.counters.serviceChangesTotal, 3)
        XCTAssertEqual(r?.first, false)
    }

    func testQueueObserverSeesEveryChange() async {
        let seen = Locked<[(ChangeCounters, Double)]>([])
        var observers = ProxyLoopObservers()
        observers.changeQueued = { c, t in seen.mutate { $0.append((c, t)) } }
        let loop = ProxyLoop(kernel: memoryKernel(), config: ProxyConfig(), nodeName: "node1", observers: observers)
        await loop.upsertService(service("a", ip: "10.254.0.10"), at: 5)
        await loop.upsertEndpointSource(endpoints("a", ["10.244.1.2"]), at: 6)
        XCTAssertEqual(seen.value.map(\.1), [5, 6])
        XCTAssertEqual(seen.value.last?.0.endpointChangesTotal, 1)
        XCTAssertEqual(seen.value.last?.0.serviceChangesTotal, 1)
    }

    /// While syncs keep failing, the times of the changes queued behind them stay bounded: an
    /// evenly spread sample that keeps the oldest, reported by the sync that finally succeeds.
    func testEndpointChangeTimesStayBoundedWhileSyncsFail() async {
        struct Failure: Error {}
        let failing = Locked(false)
        let kernel = memoryKernel()
        kernel.applyFault = { _ in failing.value ? Failure() : nil }
        var c = ProxyConfig()
        c.minSyncPeriod = 1
        let loop = ProxyLoop(kernel: kernel, config: c, nodeName: "node1")
        await loop.limitEndpointChangeTimes(to: 8)
        await loop.replaceServices([service("a", ip: "10.254.0.10")], at: 0)
        await loop.replaceEndpointSources([endpoints("a", ["10.244.1.1"])], at: 0)
        await loop.setNode(nil, at: 0)
        await loop.step(at: 0)
        failing.mutate { $0 = true }
        for round in 1...10 {
            for j in 0..<10 {
                await loop.upsertEndpointSource(endpoints("a", ["10.244.1.\(round * 10 + j)"]), at: Double(round) + Double(j) / 100)
            }
            await loop.step(at: Double(round) + 0.5)
            let failed = await loop.lastResult
            XCTAssertNotNil(failed?.error)
        }
        failing.mutate { $0 = false }
        await loop.upsertEndpointSource(endpoints("a", ["10.244.1.200"]), at: 11.2)
        await loop.step(at: 11.5)
        let r = await loop.lastResult
        XCTAssertNil(r?.error)
        XCTAssertEqual(r?.counters.endpointChangesTotal, 102)
        let times = r?.endpointChangeTimes ?? []
        XCTAssertLessThanOrEqual(times.count, 8)
        XCTAssertEqual(times.min(), 1, "the oldest change")
        XCTAssertGreaterThanOrEqual(times.max() ?? 0, 8, "later changes are sampled too")
    }

    func testChangeTimeSampleKeepsTheOldestAndAnEvenSpread() {
        var sample = ChangeTimeSample(limit: 4)
        sample.append(100)
        sample.append(50)  // a trigger time older than the first change: dropped by the thinning, reported anyway
        for t in 101..<120 { sample.append(Double(t)) }
        XCTAssertEqual(sample.times, [50, 100, 107, 115], "every 8th change of 21")
        sample.removeAll()
        for t in 0..<3 { sample.append(Double(t)) }
        XCTAssertEqual(sample.times, [0, 1, 2], "below the limit every time is kept")
    }

    func testRFC3339() {
        XCTAssertEqual(RFC3339.seconds("1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(RFC3339.seconds("2026-11-23T10:00:00Z"), 1795428000)
        XCTAssertEqual(RFC3339.seconds("2026-11-23T11:00:00+01:00"), 1795428000)
        XCTAssertEqual(RFC3339.seconds("2026-11-23T10:00:00.25Z")!, 1795428000.25, accuracy: 1e-6)
        XCTAssertEqual(RFC3339.seconds("2000-02-29T00:00:00Z"), 951782400)
        for bad in ["", "2026-11-23", "2026-13-01T00:00:00Z", "2026-11-23T10:00:00", "2026-11-23T10:00:00Zx", "2026-11-23T10:00:00.Z"] {
            XCTAssertNil(RFC3339.seconds(bad), bad)
        }
    }
}
