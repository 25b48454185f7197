import Foundation
@testable import KubeClient
import KubeModel
import XCTest

// MARK: - Pure pieces: line framing, watch event decoding, backoff, URLs

final class WireTests: XCTestCase {
    func testLineSplitterAcrossChunks() throws {
        var s = LineSplitter(maximumLineLength: 100)
        XCTAssertEqual(try s.append(Array("{\"a\":".utf8)), [])
        XCTAssertEqual(try s.append(Array("1}\n\n{\"b\"".utf8)).map { String(decoding: $0, as: UTF8.self) }, ["{\"a\":1}"])
        XCTAssertEqual(try s.append(Array(":2}\r\n{\"c\":3}".utf8)).map { String(decoding: $0, as: UTF8.self) }, ["{\"b\":2}"])
        XCTAssertEqual(s.finish().map { String(decoding: $0, as: UTF8.self) }, "{\"c\":3}")
        XCTAssertNil(s.finish())
    }

    func testLineSplitterLimit() {
        var s = LineSplitter(maximumLineLength: 4)
        XCTAssertThrowsError(try s.append(Array("12345".utf8)))
    }

    private func decode(_ line: String) throws -> WatchEvent<ServiceResource> {
        try JSONDecoder().decode(WatchLine<ServiceResource>.self, from: Data(line.utf8)).event
    }

    func testWatchEventTypes() throws {
        guard case .added(let s) = try decode(#"{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"5"},"unknown":1}}"#)
        else { return XCTFail() }
        XCTAssertEqual(s.metadata?.resourceVersion, "5")
        guard case .modified = try decode(#"{"type":"MODIFIED","object":{"metadata":{"name":"a"}}}"#) else { return XCTFail() }
        guard case .deleted = try decode(#"{"type":"DELETED","object":{"metadata":{"name":"a"}}}"#) else { return XCTFail() }
        guard case .bookmark(let rv) = try decode(#"{"type":"BOOKMARK","object":{"kind":"Service","metadata":{"resourceVersion":"77"},"spec":{"ports":null}}}"#)
        else { return XCTFail() }
        XCTAssertEqual(rv, "77")
        guard case .error(let st) = try decode(#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (5)","reason":"Expired","code":410}}"#)
        else { return XCTFail() }
        XCTAssertEqual(st.code, 410)
        XCTAssertEqual(st.reason, "Expired")
        XCTAssertThrowsError(try decode(#"{"type":"BOOKMARK","object":{"metadata":{}}}"#))
        XCTAssertThrowsError(try decode(#"{"type":"RENAMED","object":{}}"#))
        XCTAssertThrowsError(try decode(#"{"type":"ADDED","object":{"spec":{"ports":"eighty"}}}"#))
    }

    func testBackoffDoublesToTheCapAndResets() {
        var b = Backoff(initial: 0.8, maximum: 30, factor: 2, jitter: 0)
        XCTAssertEqual((0..<8).map { _ in b.next() }, [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30])
        b.reset()
        XCTAssertEqual(b.next(), 0.8)
        var j = Backoff(initial: 1, maximum: 30, factor: 2, jitter: 0.5, random: { 0.5 })
        XCTAssertEqual(j.next(), 0.75)
        XCTAssertEqual(j.next(), 1.5)
        var r = Backoff()
        for _ in 0..<200 {
            let d = r.next()
            XCTAssertTrue(d > 0 && d <= 30, "\(d)")
        }
    }

    func testResourceKindsAndQueryEncoding() throws {
        XCTAssertEqual(ResourceKind.services.path, "/api/v1/services")
        XCTAssertEqual(ResourceKind.endpoints.path, "/api/v1/endpoints")
        XCTAssertEqual(ResourceKind.endpointSlices(version: "v1beta1").path, "/apis/discovery.k8s.io/v1beta1/endpointslices")
        let node = ResourceKind.node(named: "worker-1")
        XCTAssertEqual(node.path, "/api/v1/nodes")
        XCTAssertEqual(node.fieldSelector, "metadata.name=worker-1")
        let client = try APIClient(config: KubeConfig(server: "http://127.0.0.1:1"))
        XCTAssertEqual(client.url(node.path, [("fieldSelector", node.fieldSelector!), ("labelSelector", ResourceKind.kubeProxyLabelSelector)]),
                       "http://127.0.0.1:1/api/v1/nodes?fieldSelector=metadata.name%3Dworker-1&labelSelector=%21service.kubernetes.io%2Fservice-proxy-name%2C%21service.kubernetes.io%2Fheadless")
    }
}
