import Foundation
@testable import KubeClient
import KubeFakeAPI
import KubeModel
import KubeProto
import SwiftProtobuf
import TestSupport
import XCTest

// MARK: - Protobuf bodies without a server: envelopes, lists, the field mapping, watch frames

final class ProtobufWireTests: XCTestCase {
    private let services = "/api/v1/services"

    /// A Service with every field the wire struct names (what JSON and protobuf must agree on).
    private let fullService = """
    {"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"shop","resourceVersion":"42",
      "labels":{"app":"web"},"annotations":{"kube-ipvs.io/scheduler":"wrr"},"deletionTimestamp":"2024-02-29T12:34:56Z",
      "managedFields":[{"manager":"kubectl"}]},
     "spec":{"type":"LoadBalancer","clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10","fd00::10"],"ipFamilies":["IPv4","IPv6"],
      "ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080,"nodePort":30080,"appProtocol":"http"},
               {"name":"named","protocol":"UDP","port":53,"targetPort":"dns"}],
      "externalIPs":["192.0.2.1"],"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":600}},
      "externalTrafficPolicy":"Local","internalTrafficPolicy":"Cluster","healthCheckNodePort":31000,
      "loadBalancerSourceRanges":["10.0.0.0/8"],"selector":{"app":"web"},"trafficDistribution":"PreferClose"},
     "status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.7","ipMode":"VIP"},{"hostname":"lb.example"}]}}}
    """

    private func jsonList<T: KubeObject>(_ type: T.Type, _ objects: [String]) throws -> ListPage<T> {
        let body = #"{"kind":"List","metadata":{"resourceVersion":"9","continue":"next"},"items":[\#(objects.joined(separator: ","))]}"#
        return try ListBodyDecoder.decode(T.self, body: Array(body.utf8), encoding: .json, apiVersion: "v1")
    }

    private func protobufList<T: KubeObject>(_ type: T.Type, _ path: String, _ objects: [String]) throws -> ListPage<T> {
        let body = try FakeProtobuf.list(path, resourceVersion: "9", continueToken: "next", objects: objects.map { Data($0.utf8) })
        return try ListBodyDecoder.decode(T.self, body: body, encoding: .protobuf, apiVersion: "")
    }

    // MARK: Lists: the same objects in both encodings give the same wire structs

    func testServiceListInProtobufEqualsJSON() throws {
        let objects = [fullService, KubeJSON.service("plain")]
        let json = try jsonList(ServiceResource.self, objects)
        let proto = try protobufList(ServiceResource.self, services, objects)
        XCTAssertEqual(proto.resourceVersion, "9")
        XCTAssertEqual(proto.continueToken, "next")
        // kind/apiVersion of list items: JSON may carry them, nothing reads them.
        XCTAssertEqual(proto.items, json.items.map { var s = $0; s.kind = nil; s.apiVersion = nil; return s })
        let svc = try XCTUnwrap(proto.items.first)
        XCTAssertEqual(svc.spec?.ports?.map(\.targetPort), [.int(8080), .string("dns")])
        XCTAssertEqual(svc.metadata?.deletionTimestamp, "2024-02-29T12:34:56Z")
        guard case .ok(let info) = svc.checked() else { return XCTFail("\(svc.checked())") }
        XCTAssertEqual(info.scheduler, "wrr")
    }

    func testEndpointSliceVersionsNumberEndpointFieldsDifferently() throws {
        // v1beta1: topology = 5, hints = 7; v1: zone = 7, hints = 8. One message for both would
        // read v1's zone as v1beta1's hints.
        let v1beta1 = """
        {"metadata":{"name":"s1","namespace":"default","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4",
         "endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":true,"serving":true,"terminating":false},"nodeName":"n1",
                       "topology":{"topology.kubernetes.io/zone":"z1"},"hints":{"forZones":[{"name":"z1"}]}}],
         "ports":[{"name":"http","protocol":"TCP","port":8080}]}
        """
        let v1 = """
        {"metadata":{"name":"s2","namespace":"default","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv6",
         "endpoints":[{"addresses":["fd00::1"],"conditions":{"ready":false},"nodeName":"n2","zone":"z2",
                       "hints":{"forZones":[{"name":"z2"}],"forNodes":[{"name":"n2"}]}},{"addresses":["fd00::2"]}],
         "ports":[{"port":8080},{"name":"all"}]}
        """
        for (objects, path) in [([v1beta1], "/apis/discovery.k8s.io/v1beta1/endpointslices"), ([v1], "/apis/discovery.k8s.io/v1/endpointslices")] {
            let proto = try protobufList(EndpointSliceResource.self, path, objects)
            XCTAssertEqual(proto.items, try jsonList(EndpointSliceResource.self, objects).items, path)
        }
        let beta = try protobufList(EndpointSliceResource.self, "/apis/discovery.k8s.io/v1beta1/endpointslices", [v1beta1]).items[0]
        XCTAssertEqual(beta.endpoints?[0].hints?.forZones?.compactMap(\.name), ["z1"])
        XCTAssertEqual(beta.endpoints?[0].topology?["topology.kubernetes.io/zone"], "z1")
        let ga = try protobufList(EndpointSliceResource.self, "/apis/discovery.k8s.io/v1/endpointslices", [v1]).items[0]
        XCTAssertEqual(ga.endpoints?[0].zone, "z2")
        XCTAssertEqual(ga.endpoints?[0].hints?.forNodes?.compactMap(\.name), ["n2"])
        XCTAssertNil(ga.endpoints?[1].conditions, "an unset pointer stays unset")
    }

    func testNodeAndEndpointsListsInProtobufEqualJSON() throws {
        let node = """
        {"metadata":{"name":"n1","labels":{"kubernetes.io/hostname":"n1"}},"spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"],
         "taints":[{"key":"ToBeDeletedByClusterAutoscaler","value":"1","effect":"NoSchedule"}]},
         "status":{"addresses":[{"type":"InternalIP","address":"192.168.0.1"},{"type":"Hostname","address":"n1"}]}}
        """
        let nodes = try protobufList(NodeResource.self, "/api/v1/nodes", [node])
        XCTAssertEqual(nodes.items, try jsonList(NodeResource.self, [node]).items)
        XCTAssertTrue(nodes.items[0].isBeingRemoved)
        let endpoints = """
        {"metadata":{"name":"web","namespace":"default"},"subsets":[{"addresses":[{"ip":"10.0.0.1","nodeName":"n1","hostname":"a"}],
         "notReadyAddresses":[{"ip":"10.0.0.2"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}]}
        """
        XCTAssertEqual(try protobufList(EndpointsResource.self, "/api/v1/endpoints", [endpoints]).items,
                       try jsonList(EndpointsResource.self, [endpoints]).items)
    }

    // MARK: Errors name the item and field

    private func listBody(_ items: [Data]) throws -> [UInt8] {
        var list = K8sRawList()
        list.metadata.resourceVersion = "5"
        list.items = items
        return FakeProtobuf.envelope(apiVersion: "v1", kind: "ServiceList", raw: try list.serializedBytes())
    }

    private func decodeError(_ body: [UInt8]) -> String {
        do {
            _ = try ListBodyDecoder.decode(ServiceResource.self, body: body, encoding: .protobuf, apiVersion: "v1")
            return "no error"
        } catch {
            return ListBodyDecoder.describe(error)
        }
    }

    func testBadValuesAreNamedByItemAndField() throws {
        var good = K8sService()
        good.metadata.name = "ok"
        var badPort = K8sService()
        badPort.spec.ports = [K8sServicePort(), K8sServicePort()]
        badPort.spec.ports[1].targetPort.type = 7
        XCTAssertEqual(decodeError(try listBody([try good.serializedBytes(), try badPort.serializedBytes()])),
                       "items.1.spec.ports.1.targetPort.type: 7 is neither 0 (intVal) nor 1 (strVal)")

        var farFuture = K8sService()
        farFuture.metadata.deletionTimestamp.seconds = Int64.max
        XCTAssertEqual(decodeError(try listBody([try farFuture.serializedBytes()])),
                       "items.0.metadata.deletionTimestamp.seconds: \(Int64.max) is out of range (years 1-9999)")

        let cut = Data(try good.serializedBytes() as [UInt8]).dropLast(1)
        XCTAssertEqual(decodeError(try listBody([try good.serializedBytes(), Data(cut)])), "items.1: truncated protobuf")
        XCTAssertEqual(decodeError(Array("{\"items\":[]}".utf8)), "not the API's protobuf encoding (no \"k8s\\0\" prefix)")
        XCTAssertEqual(decodeError(FakeProtobuf.envelope(apiVersion: "v1", kind: "ServiceList", raw: Data([0x12, 0x05, 0x01]))),
                       "ServiceList: truncated protobuf")
    }

    func testEnvelopeRefusesCompressedContentAndReadsStatus() throws {
        var unknown = K8sUnknown()
        unknown.contentEncoding = "gzip"
        XCTAssertEqual(decodeError([0x6B, 0x38, 0x73, 0x00] + (try unknown.serializedBytes())),
                       "contentEncoding: \"gzip\" is not supported")
        let status = FakeProtobuf.status(Data(#"{"status":"Failure","reason":"Expired","message":"too old","code":410}"#.utf8))
        XCTAssertEqual(try ProtobufEnvelope(status).status(), APIStatus(message: "too old", reason: "Expired", code: 410))
    }

    func testTimesFormatAsTheJSONDoes() throws {
        XCTAssertEqual(try ProtobufTime.rfc3339(seconds: 0), "1970-01-01T00:00:00Z")
        XCTAssertEqual(try ProtobufTime.rfc3339(seconds: 951_782_400), "2000-02-29T00:00:00Z")
        XCTAssertEqual(try ProtobufTime.rfc3339(seconds: -1), "1969-12-31T23:59:59Z")
        XCTAssertEqual(try ProtobufTime.rfc3339(seconds: ProtobufTime.range.lowerBound), "0001-01-01T00:00:00Z")
        XCTAssertEqual(try ProtobufTime.rfc3339(seconds: ProtobufTime.range.upperBound), "9999-12-31T23:59:59Z")
        XCTAssertThrowsError(try ProtobufTime.rfc3339(seconds: ProtobufTime.range.upperBound + 1))
        XCTAssertThrowsError(try ProtobufTime.rfc3339(seconds: Int64.min))
    }

    // MARK: Watch frames

    private func frames() throws -> [UInt8] {
        try FakeProtobuf.frame(path: services, type: "ADDED", json: Data(KubeJSON.service("a").utf8))
            + FakeProtobuf.frame(path: services, type: "BOOKMARK", json: Data(#"{"metadata":{"resourceVersion":"77"}}"#.utf8))
            + FakeProtobuf.frame(path: services, type: "DELETED", json: Data(KubeJSON.service("a").utf8))
            + FakeProtobuf.frame(path: services, type: "ERROR",
                                 json: Data(#"{"kind":"Status","status":"Failure","reason":"Expired","message":"too old resource version","code":410}"#.utf8))
    }

    private func reader() -> WatchStreamReader<ServiceResource> {
        WatchStreamReader(encoding: .protobuf, maximumEventBytes: 1 << 20, apiVersion: "v1")
    }

    private func describe(_ events: [WatchEvent<ServiceResource>]) -> [String] {
        events.map {
            switch $0 {
            case .added(let s): return "ADDED \(s.metadata?.name ?? "") \(s.spec?.ports?.first?.targetPort.map(String.init(describing:)) ?? "")"
            case .modified(let s): return "MODIFIED \(s.metadata?.name ?? "")"
            case .deleted(let s): return "DELETED \(s.metadata?.name ?? "")"
            case .bookmark(let rv): return "BOOKMARK \(rv)"
            case .error(let st): return "ERROR \(st)"
            }
        }
    }

    func testWatchFramesSplitAtEveryByteAcrossChunks() throws {
        let stream = try frames()
        let expected = ["ADDED a 8080", "BOOKMARK 77", "DELETED a", "ERROR 410 Expired too old resource version"]
        var whole = reader()
        XCTAssertEqual(describe(try whole.append(stream) + (try whole.finish())), expected)
        for cut in 0...stream.count {
            var r = reader()
            let events = try r.append(stream[..<cut]) + (try r.append(stream[cut...])) + (try r.finish())
            XCTAssertEqual(describe(events), expected, "cut at \(cut)")
        }
        var bytewise = reader()
        var events: [WatchEvent<ServiceResource>] = []
        for b in stream { events += try bytewise.append([b]) }
        XCTAssertEqual(describe(events + (try bytewise.finish())), expected)
    }

    func testEnvelopedWatchFramesAreReadToo() throws {
        let frame = try FakeProtobuf.frame(path: services, type: "ADDED", json: Data(KubeJSON.service("b").utf8))
        let enveloped = FakeProtobuf.envelope(apiVersion: "v1", kind: "WatchEvent", raw: Data(frame.dropFirst(4)))
        var r = reader()
        XCTAssertEqual(describe(try r.append(FakeProtobuf.lengthPrefix(enveloped.count) + enveloped)), ["ADDED b 8080"])
    }

    func testTruncatedAndOversizedFramesAreErrors() throws {
        let stream = try frames()
        var cut = reader()
        XCTAssertEqual(describe(try cut.append(stream.dropLast(3))).count, 3)
        XCTAssertThrowsError(try cut.finish()) { XCTAssertTrue("\($0)".contains("the stream ended inside a frame"), "\($0)") }
        var head = reader()
        _ = try head.append([0, 0])
        XCTAssertThrowsError(try head.finish()) { XCTAssertTrue("\($0)".contains("inside a frame's length (2 of 4 bytes)"), "\($0)") }
        // A length far above the limit fails on its 4 bytes, before anything of that size exists.
        var huge = WatchStreamReader<ServiceResource>(encoding: .protobuf, maximumEventBytes: 1000, apiVersion: "v1")
        XCTAssertThrowsError(try huge.append([0xFF, 0xFF, 0xFF, 0xFF])) {
            XCTAssertEqual("\($0)", "watch event: a frame of 4294967295 bytes, longer than the limit of 1000 bytes")
        }
    }

    func testBadWatchEventsAreNamed() throws {
        var event = K8sWatchEvent()
        event.type = "RENAMED"
        event.object.raw = Data(FakeProtobuf.envelope(apiVersion: "v1", kind: "Service", raw: Data()))
        let bytes: [UInt8] = try event.serializedBytes()
        var r = reader()
        XCTAssertThrowsError(try r.append(FakeProtobuf.lengthPrefix(bytes.count) + bytes)) {
            XCTAssertEqual("\($0)", "watch event: type: unknown watch event type RENAMED")
        }
        var noObject = K8sWatchEvent()
        noObject.type = "ADDED"
        let bytes2: [UInt8] = try noObject.serializedBytes()
        var r2 = reader()
        XCTAssertThrowsError(try r2.append(FakeProtobuf.lengthPrefix(bytes2.count) + bytes2)) {
            XCTAssertEqual("\($0)", "watch event: object: not the API's protobuf encoding (no \"k8s\\0\" prefix)")
        }
    }

    func testContentTypeChoosesTheEncoding() {
        XCTAssertEqual(APIEncoding(contentType: "application/vnd.kubernetes.protobuf"), .protobuf)
        XCTAssertEqual(APIEncoding(contentType: "Application/VND.kubernetes.protobuf; charset=x"), .protobuf)
        XCTAssertEqual(APIEncoding(contentType: "application/json"), .json)
        XCTAssertEqual(APIEncoding(contentType: ""), .json)
        XCTAssertEqual(APIEncoding.ofResponse(contentType: "application/vnd.kubernetes.protobuf;stream=watch"), .protobuf)
        XCTAssertEqual(APIEncoding.ofResponse(contentType: nil), .json)
        XCTAssertEqual(APIEncoding.protobuf.accept, "application/vnd.kubernetes.protobuf, application/json")
        XCTAssertEqual(APIEncoding.json.accept, "application/json")
        XCTAssertEqual(ResourceKind.services.apiVersion, "v1")
        XCTAssertEqual(ResourceKind.endpointSlices(version: "v1beta1").apiVersion, "discovery.k8s.io/v1beta1")
    }
}
