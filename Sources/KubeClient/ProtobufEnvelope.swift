#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeProto
import SwiftProtobuf

// MARK: - The API's protobuf envelope
//
// A protobuf body (a list, an object inside a watch event, a Status) is the 4 bytes "k8s\0" and
// then a runtime.Unknown: the object's apiVersion and kind, and its own encoding in `raw`.

/// A decoding problem, naming the field as the JSON decoder's errors do (`items.3.spec.ports.0.port`).
public struct ProtobufError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Dotted path of the field; empty for the whole body.
    public var field: String
    public var message: String

    /// A problem at `field`.
    public init(_ field: String, _ message: String) { self.field = field; self.message = message }

    /// The same problem seen from an enclosing field (`prefix` + "." + field).
    func within(_ prefix: String) -> ProtobufError {
        if prefix.isEmpty { return self }
        return ProtobufError(field.isEmpty ? prefix : "\(prefix).\(field)", message)
    }

    /// Runs `body`, naming any error it throws as a problem at `field` (nested names kept).
    static func at<R>(_ field: String, _ body: () throws -> R) throws -> R {
        do { return try body() } catch let e as ProtobufError {
            throw e.within(field)
        } catch {
            throw ProtobufError(field, describeDecoding(error))
        }
    }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

/// SwiftProtobuf's errors in words ("truncated", "malformed protobuf", ...).
func describeDecoding(_ error: any Error) -> String {
    if let e = error as? BinaryDecodingError {
        switch e {
        case .truncated: return "truncated protobuf"
        case .malformedProtobuf: return "malformed protobuf"
        case .invalidUTF8: return "a string that is not UTF-8"
        case .messageDepthLimit: return "protobuf nested too deeply"
        default: return "invalid protobuf (\(e))"
        }
    }
    return String(describing: error)
}

/// An enveloped object: its type and its bytes.
struct ProtobufEnvelope {
    /// "k8s" and a zero byte: what every enveloped protobuf body starts with.
    static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]

    /// The options of every decode: kube-ipvs names only the fields it reads, so the many others
    /// are skipped rather than kept as unknown fields.
    static let options: BinaryDecodingOptions = {
        var o = BinaryDecodingOptions()
        o.discardUnknownFields = true
        return o
    }()

    var apiVersion: String
    var kind: String
    var raw: Data

    /// Whether `bytes` start with the envelope's magic.
    static func hasMagic<C: Collection<UInt8>>(_ bytes: C) -> Bool {
        bytes.count >= magic.count && bytes.prefix(magic.count).elementsEqual(magic)
    }

    /// Opens an envelope; throws when the magic is missing, the Unknown is malformed, or its
    /// content is compressed or not protobuf (the API server sends neither to us).
    init(_ bytes: some ContiguousBytes) throws {
        let unknown: K8sUnknown
        do {
            // No copy of the (possibly large) body: the decoder copies out what it keeps.
            unknown = try bytes.withUnsafeBytes { whole in
                guard Self.hasMagic(whole) else {
                    throw ProtobufError("", "not the API's protobuf encoding (no \"k8s\\0\" prefix)")
                }
                let rest = UnsafeRawBufferPointer(rebasing: whole[Self.magic.count...])
                guard let base = rest.baseAddress, !rest.isEmpty else { return K8sUnknown() }
                let view = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: rest.count, deallocator: .none)
                return try K8sUnknown(serializedBytes: view, options: Self.options)
            }
        } catch let e as ProtobufError {
            throw e
        } catch {
            throw ProtobufError("", "envelope: \(describeDecoding(error))")
        }
        if unknown.hasContentEncoding, !unknown.contentEncoding.isEmpty {
            throw ProtobufError("contentEncoding", "\"\(unknown.contentEncoding)\" is not supported")
        }
        if unknown.hasContentType, !unknown.contentType.isEmpty, !APIEncoding.isProtobuf(unknown.contentType) {
            throw ProtobufError("contentType", "\"\(unknown.contentType)\" is not protobuf")
        }
        apiVersion = unknown.typeMeta.apiVersion
        kind = unknown.typeMeta.kind
        raw = unknown.raw
    }

    /// The Status this envelope holds, when its kind is Status.
    func status() throws -> APIStatus? {
        guard kind == "Status" else { return nil }
        let s = try ProtobufError.at("") { try K8sStatus(serializedBytes: raw, options: Self.options) }
        var status = APIStatus(status: s.hasStatus ? s.status : nil, message: s.hasMessage ? s.message : nil,
                               reason: s.hasReason ? s.reason : nil, code: s.hasCode ? Int(s.code) : nil)
        status.apiVersion = apiVersion.isEmpty ? "v1" : apiVersion
        return status
    }
}
