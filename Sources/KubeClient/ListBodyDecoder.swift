#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel
import KubeProto
import SwiftProtobuf

// MARK: - One page of a list, from a body in either encoding
//
// JSON: `{"metadata":{"resourceVersion":..,"continue":..},"items":[..]}` through JSONDecoder.
// Protobuf: the envelope, then the XxxList whose items are decoded one by one (RawList in
// kube.proto), so that an error names the item (`items.3.spec...`) as the JSON decoder does.

/// One page of a list: its objects and its metadata.
public struct ListPage<T: Sendable>: Sendable {
    public var items: [T]
    /// `metadata.resourceVersion`: the snapshot the page was cut from.
    public var resourceVersion: String?
    /// `metadata.continue`: the token for the next page; nil on the last.
    public var continueToken: String?
}

/// Decodes list bodies into the wire structs, as the API client does (also for `kube-ipvs-bench --decode`).
public enum ListBodyDecoder {
    private struct JSONList<T: Decodable>: Decodable {
        struct Meta: Decodable {
            var resourceVersion: String?
            var `continue`: String?
        }
        var metadata: Meta?
        var items: [T]?
    }

    /// Decodes `body` in `encoding` as a list of `T`. `apiVersion` is the collection's, for a
    /// protobuf envelope that names none. Throws `ProtobufError` or Foundation's `DecodingError`
    /// (`describe(_:)` words both).
    public static func decode<T: KubeObject>(_ type: T.Type, body: [UInt8], encoding: APIEncoding,
                                             apiVersion: String) throws -> ListPage<T> {
        switch encoding {
        case .json:
            let page = try JSONDecoder().decode(JSONList<T>.self, from: Data(body))
            return ListPage(items: page.items ?? [], resourceVersion: page.metadata?.resourceVersion,
                            continueToken: page.metadata?.continue)
        case .protobuf:
            let envelope = try ProtobufEnvelope(body)
            if let status = try envelope.status() {
                throw ProtobufError("", "a Status instead of a list: \(status)")
            }
            let list: K8sRawList
            do {
                list = try K8sRawList(serializedBytes: envelope.raw, options: ProtobufEnvelope.options)
            } catch {
                throw ProtobufError("", "\(envelope.kind.isEmpty ? "list" : envelope.kind): \(describeDecoding(error))")
            }
            let version = envelope.apiVersion.isEmpty ? apiVersion : envelope.apiVersion
            var items: [T] = []
            items.reserveCapacity(list.items.count)
            for (i, raw) in list.items.enumerated() {
                items.append(try ProtobufError.at("items.\(i)") { try T.decodeProtobuf(raw, apiVersion: version) })
            }
            return ListPage(items: items, resourceVersion: list.metadata.hasResourceVersion ? list.metadata.resourceVersion : nil,
                            continueToken: list.metadata.hasContinue ? list.metadata.continue : nil)
        }
    }

    /// The `kind` and `apiVersion` a protobuf body's envelope names (e.g. `ServiceList`, `v1`).
    public static func envelopeType(_ body: [UInt8]) throws -> (kind: String, apiVersion: String) {
        let e = try ProtobufEnvelope(body)
        return (e.kind, e.apiVersion)
    }

    /// The error in words, with the field it concerns: `items.3.spec.ports.0.port: ...`.
    public static func describe(_ error: any Error) -> String {
        if let e = error as? DecodingError {
            switch e {
            case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c):
                let path = c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
                return path.isEmpty ? c.debugDescription : "\(path): \(c.debugDescription)"
            @unknown default: return String(describing: e)
            }
        }
        return String(describing: error)
    }
}
