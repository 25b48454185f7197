import XCTest
import KubeModel
@testable import Reconciler

final class ClusterCacheTests: XCTestCase {
    let web = ObjectRef(namespace: "default", name: "web")
    func svc(_ ref: ObjectRef, ip: String = "10.254.0.1") -> ServiceInfo {
        ServiceInfo(ref: ref, clusterIPs: [IPAddress(ip)!], ports: [ServicePortInfo(name: "", proto: .tcp, port: 80)])
    }
    func slice(_ name: String, for service: ObjectRef, _ ips: [String]) -> EndpointSetInfo {
        EndpointSetInfo(source: ObjectRef(namespace: service.namespace, name: name), service: service,
                        ports: [EndpointPortInfo(name: "", proto: .tcp, port: 8080)],
                        endpoints: ips.map { EndpointInfo(address: IPAddress($0)!) })
    }

    func testSyncedOnlyAfterEveryFirstList() {
        var c = ClusterCache()
        XCTAssertFalse(c.isSynced)
        c.replaceServices([])
        c.replaceEndpoints([:])
        XCTAssertFalse(c.isSynced)
        c.setNode(nil)
        XCTAssertTrue(c.isSynced)
    }

    func testChangesMarkOnlyTheirServiceDirty() {
        var c = ClusterCache()
        c.replaceServices([svc(web), svc(ObjectRef(namespace: "default", name: "other"), ip: "10.254.0.2")])
        _ = c.takeDirty()
        c.upsert(service: svc(web))
        XCTAssertEqual(c.takeDirty().services, [], "an identical update changes nothing")
        let a = slice("web-a", for: web, ["10.244.0.1"])
        let b = slice("web-b", for: web, ["10.244.0.2"])
        c.upsert(endpointsFrom: a.source, sets: [a])
        c.upsert(endpointsFrom: b.source, sets: [b])
        XCTAssertEqual(c.takeDirty().services, [web])
        XCTAssertEqual(c.endpoints(of: web).flatMap(\.endpoints).map(\.address.description), ["10.244.0.1", "10.244.0.2"])
        c.upsert(endpointsFrom: a.source, sets: [])
        XCTAssertEqual(c.takeDirty().services, [web])
        XCTAssertEqual(c.endpoints(of: web).flatMap(\.endpoints).map(\.address.description), ["10.244.0.2"])
    }

    func testRelistDeletesWhatIsGone() {
        var c = ClusterCache()
        let other = ObjectRef(namespace: "x", name: "gone")
        c.replaceServices([svc(web), svc(other, ip: "10.254.0.9")])
        let s = slice("gone-1", for: other, ["10.244.9.9"])
        c.replaceEndpoints([s.source: [s]])
        _ = c.takeDirty()
        c.replaceServices([svc(web)])
        c.replaceEndpoints([:])
        XCTAssertEqual(c.takeDirty().services, [other])
        XCTAssertNil(c.services[other])
        XCTAssertEqual(c.endpoints(of: other), [])
    }

    func testNodeChangeMakesEverythingDirty() {
        var c = ClusterCache()
        c.setNode(NodeInfo(name: "n1"))
        XCTAssertTrue(c.takeDirty().all)
        c.setNode(NodeInfo(name: "n1"))
        XCTAssertFalse(c.takeDirty().all)
    }
}
