import Foundation
import KubeModel
import ProxyCore
@testable import Reconciler
import XCTest

final class ChangeCountersTests: XCTestCase {
    func decode<T: Decodable>(_ json: String) -> T { try! JSONDecoder().decode(T.self, from: Data(json.utf8)) }

    func service(_ name: String, ip: String) -> ServiceResource {
        decode("""
        {"metadata": {"name": "\(name)", "namespace": "default"},
         "spec": {"clusterIP": "\(ip)", "ports": [{"protocol": "TCP", "port": 80, "targetPort": 8080}]}}
        """)
    }

    func endpoints(_ name: String, _ ips: [String], trigger: String? = nil) -> EndpointsResource {
        let addrs = ips.map { "{\"ip\": \"\($0)\"}" }.joined(separator: ",")
        let ann = trigger.map { ", \"annotations\": {\"endpoints.kubernetes.io/last-change-trigger-time\": \"\($0)\"}" } ?? ""
        return decode("""
        {"metadata": {"name": "\(name)", "namespace": "default"\(ann)},
         "subsets": [{"addresses": [\(addrs)], "ports": [{"port": 8080, "protocol": "TCP"}]}]}
        """)
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
        XCTAssertEqual(n.serviceChangesTotal, 2)
        XCTAssertEqual(n.endpointChangesTotal, 1)
        XCTAssertEqual(n.servicesPending, 2)
        XCTAssertEqual(n.endpointsPending, 1)
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
        XCTAssertEqual(n.endpointChangesTotal, 3)
        XCTAssertEqual(n.endpointsPending, 1)
        XCTAssertEqual(n.serviceChangesTotal, 3)
        XCTAssertEqual(n.servicesPending, 1)
        await loop.step(at: 1.5)
        let r = await loop.lastResult
        XCTAssertEqual(r?.endpointChangeTimes, [RFC3339.seconds("2026-11-23T10:00:00Z")!, 0.3])
        XCTAssertEqual(r?.counters.endpointsPending, 0)
        XCTAssertEqual(r?.counters.serviceChangesTotal, 3)
        XCTAssertEqual(r?.first, false)
    }

    func testQueueObserverSeesEveryChange() async {
        let loop = ProxyLoop(kernel: memoryKernel(), config: ProxyConfig(), nodeName: "node1")
        let seen = Seen()
        await loop.setQueueObserver { c, t in seen.add(c, t) }
        await loop.upsertService(service("a", ip: "10.254.0.10"), at: 5)
        await loop.upsertEndpointSource(endpoints("a", ["10.244.1.2"]), at: 6)
        XCTAssertEqual(seen.items.map(\.1), [5, 6])
        XCTAssertEqual(seen.items.last?.0.endpointChangesTotal, 1)
        XCTAssertEqual(seen.items.last?.0.serviceChangesTotal, 1)
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

private final class Seen: @unchecked Sendable {
    private let lock = NSLock()
    private var _items: [(ChangeCounters, Double)] = []
    func add(_ c: ChangeCounters, _ t: Double) { lock.lock(); _items.append((c, t)); lock.unlock() }
    var items: [(ChangeCounters, Double)] { lock.lock(); defer { lock.unlock() }; return _items }
}
