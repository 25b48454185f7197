import Foundation
import XCTest
import KernelPort
import KubeModel
import ProxyCore
@testable import Reconciler
import TestSupport

/// A Service whose scheduler the kernel lacks: reported and served with the fallback; the others
/// are programmed as usual.
final class ProxyLoopSchedulerTests: XCTestCase {
    func service(_ name: String, ip: String, scheduler: String?) -> ServiceResource {
        let annotations = scheduler.map { #", "annotations": {"kube-ipvs.io/scheduler": "\#($0)"}"# } ?? ""
        return try! JSONDecoder().decode(ServiceResource.self, from: Data("""
        {"metadata": {"name": "\(name)", "namespace": "default"\(annotations)},
         "spec": {"clusterIP": "\(ip)", "ports": [{"protocol": "TCP", "port": 80, "targetPort": 8080}]}}
        """.utf8))
    }

    func vs(_ kernel: InMemoryKernel, _ ip: String) -> VirtualServer? {
        kernel.state.family(.ipv4).virtualServers[VirtualServerKey(address: IPAddress(ip)!, proto: .tcp, port: 80)]?.server
    }

    func testServiceWithAMissingSchedulerIsReportedAndServedWithTheFallback() async {
        let kernel = memoryKernel()
        kernel.missingSchedulers = ["twos"]
        var config = ProxyConfig()
        config.clusterCIDRs = [CIDR("10.244.0.0/16")!]
        let warnings = Locked<[Diagnostic]>([])
        var observers = ProxyLoopObservers()
        observers.warning = { d in warnings.mutate { $0.append(d) } }
        let l = ProxyLoop(kernel: kernel, config: config, nodeName: "node1", observers: observers)
        await l.replaceServices([service("a", ip: "10.254.0.1", scheduler: "twos"), service("b", ip: "10.254.0.2", scheduler: "lc")], at: 0)
        await l.replaceEndpointSources([EndpointSliceResource](), at: 0)
        await l.setNode(nil, at: 0)
        await l.step(at: 0)

        var r = await l.lastResult
        XCTAssertNil(r?.error)
        XCTAssertEqual(vs(kernel, "10.254.0.1")?.scheduler, "rr")
        XCTAssertEqual(vs(kernel, "10.254.0.2")?.scheduler, "lc")
        XCTAssertFalse(kernel.lastOps.contains(.loadModule("ip_vs_twos")))
        let a = ObjectRef(namespace: "default", name: "a")
        XCTAssertEqual(r?.schedulerFallbacks, [a: SchedulerFallback(wanted: "twos", used: "rr")])
        XCTAssertEqual(warnings.value.map(\.description),
                       ["Service default/a: metadata.annotations[kube-ipvs.io/scheduler]: IPVS scheduler twos is not available in this kernel (no ip_vs_twos module); using rr"])

        // Another change: reported once only; a new Service with the same problem is reported too.
        await l.upsertService(service("c", ip: "10.254.0.3", scheduler: "twos"), at: 2)
        await l.step(at: 2)
        r = await l.lastResult
        XCTAssertEqual(r?.schedulerFallbacks.count, 2)
        XCTAssertEqual(warnings.value.count, 2)
        XCTAssertEqual(vs(kernel, "10.254.0.3")?.scheduler, "rr")

        // The annotation fixed: no fallback left for that Service.
        await l.upsertService(service("a", ip: "10.254.0.1", scheduler: "lc"), at: 4)
        await l.step(at: 4)
        r = await l.lastResult
        XCTAssertEqual(Set(r?.schedulerFallbacks.keys.map(\.name) ?? []), ["c"])
        XCTAssertEqual(vs(kernel, "10.254.0.1")?.scheduler, "lc")

        // The kernel gets the module: the next sync rebuilds with the Service's own scheduler.
        kernel.missingSchedulers = []
        await l.upsertService(service("b", ip: "10.254.0.2", scheduler: nil), at: 6)
        await l.step(at: 6)
        r = await l.lastResult
        XCTAssertEqual(r?.schedulerFallbacks, [:])
        XCTAssertEqual(vs(kernel, "10.254.0.3")?.scheduler, "twos")
    }
}
