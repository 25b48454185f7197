import Foundation
import KubeProto
import SwiftProtobuf

// MARK: - The fake server's protobuf answers
//
// The store holds JSON; an answer in protobuf converts each object into the message of its
// collection (through SwiftProtobuf's JSON reader, after rewriting the two fields whose JSON is
// not the message's: targetPort's int-or-string and deletionTimestamp's RFC 3339 text), then
// wraps it as the API server does: "k8s\0" + Unknown for lists, objects and Statuses, and
// length-prefixed WatchEvent frames for watches.

/// Encodes the fake server's objects as the API server's protobuf.
public enum FakeProtobuf {
    /// The API's protobuf media type.
    public static let mediaType = "application/vnd.kubernetes.protobuf"

    /// The message type, apiVersion and kind of the objects of a collection path; nil for a path
    /// whose objects the fake cannot encode (answered in JSON, as a server without protobuf for them).
    public static func schema(_ path: String) -> (type: any SwiftProtobuf.Message.Type, apiVersion: String, kind: String)? {
        switch path {
        case "/api/v1/services": return (K8sService.self, "v1", "Service")
        case "/api/v1/endpoints": return (K8sEndpoints.self, "v1", "Endpoints")
        case "/api/v1/nodes": return (K8sNode.self, "v1", "Node")
        case "/apis/discovery.k8s.io/v1/endpointslices": return (K8sEndpointSliceV1.self, "discovery.k8s.io/v1", "EndpointSlice")
        case "/apis/discovery.k8s.io/v1beta1/endpointslices":
            return (K8sEndpointSliceV1beta1.self, "discovery.k8s.io/v1beta1", "EndpointSlice")
        default: return nil
        }
    }

    /// "k8s\0" + Unknown{typeMeta, raw}.
    public static func envelope(apiVersion: String, kind: String, raw: Data) -> [UInt8] {
        var unknown = K8sUnknown()
        unknown.typeMeta.apiVersion = apiVersion
        unknown.typeMeta.kind = kind
        unknown.raw = raw
        // As the API server (gogo's non-pointer strings): present and empty.
        unknown.contentEncoding = ""
        unknown.contentType = ""
        return [0x6B, 0x38, 0x73, 0x00] + ((try? unknown.serializedBytes()) ?? [])
    }

    /// One stored object as its message's bytes.
    public static func object(_ path: String, json: Data) throws -> Data {
        guard let schema = schema(path) else { throw FakeError("no protobuf schema for \(path)") }
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        let message = try schema.type.init(jsonUTF8Bytes: try rewrite(json), options: options)
        return try message.serializedBytes()
    }

    /// A list page: "k8s\0" + Unknown{XxxList} with each object embedded.
    public static func list(_ path: String, resourceVersion: String, continueToken: String?, objects: [Data]) throws -> [UInt8] {
        guard let schema = schema(path) else { throw FakeError("no protobuf schema for \(path)") }
        var list = K8sRawList()
        list.metadata.resourceVersion = resourceVersion
        if let continueToken { list.metadata.continue = continueToken }
        list.items = try objects.map { try object(path, json: $0) }
        return envelope(apiVersion: schema.apiVersion, kind: schema.kind + "List", raw: try list.serializedBytes())
    }

    /// A Status in protobuf, as error answers and ERROR events carry it.
    public static func status(_ json: Data) -> [UInt8] {
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        let status = (try? K8sStatus(jsonUTF8Bytes: json, options: options)) ?? K8sStatus()
        return envelope(apiVersion: "v1", kind: "Status", raw: (try? status.serializedBytes()) ?? Data())
    }

    /// One watch frame: a 4-byte big-endian length and a WatchEvent whose object is enveloped.
    /// ERROR events carry a Status; the others an object of the collection.
    public static func frame(path: String, type: String, json: Data) throws -> [UInt8] {
        var event = K8sWatchEvent()
        event.type = type
        if type == "ERROR" {
            event.object.raw = Data(status(json))
        } else {
            guard let schema = schema(path) else { throw FakeError("no protobuf schema for \(path)") }
            event.object.raw = Data(envelope(apiVersion: schema.apiVersion, kind: schema.kind, raw: try object(path, json: json)))
        }
        let bytes: [UInt8] = try event.serializedBytes()
        return lengthPrefix(bytes.count) + bytes
    }

    /// The 4-byte big-endian length of a frame.
    public static func lengthPrefix(_ count: Int) -> [UInt8] {
        let n = UInt32(truncatingIfNeeded: count)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
    }

    /// The JSON of an object with the fields whose JSON differs from the message's rewritten.
    private static func rewrite(_ json: Data) throws -> Data {
        guard var dict = try JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw FakeError("object is not a JSON object")
        }
        if var meta = dict["metadata"] as? [String: Any], let text = meta["deletionTimestamp"] as? String {
            let formatter = ISO8601DateFormatter()
            guard let date = formatter.date(from: text) else { throw FakeError("bad deletionTimestamp \(text)") }
            meta["deletionTimestamp"] = ["seconds": Int64(date.timeIntervalSince1970)]
            dict["metadata"] = meta
        }
        if var spec = dict["spec"] as? [String: Any], let ports = spec["ports"] as? [[String: Any]] {
            spec["ports"] = ports.map { port -> [String: Any] in
                var p = port
                if let n = p["targetPort"] as? Int {
                    p["targetPort"] = ["type": 0, "intVal": n]
                } else if let s = p["targetPort"] as? String {
                    p["targetPort"] = ["type": 1, "strVal": s]
                }
                return p
            }
            dict["spec"] = spec
        }
        return try JSONSerialization.data(withJSONObject: dict)
    }
}
