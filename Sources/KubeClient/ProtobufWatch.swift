#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel
import KubeProto
import SwiftProtobuf

// MARK: - Watch streams in protobuf
//
// The response (`application/vnd.kubernetes.protobuf;stream=watch`) is a sequence of frames, each
// a 4-byte big-endian length and then that many bytes: a meta/v1 WatchEvent {type, object}. The
// API server writes the event itself without the "k8s\0" envelope, and its object.raw with one
// (the object's own kind: the watched type, or a Status for ERROR); an enveloped frame is read too.

/// Splits a byte stream into length-prefixed frames; a value-type state machine, no I/O.
struct FrameSplitter {
    /// Longest frame accepted: a longer length is an error before any byte of it is kept.
    let maximumFrameLength: Int
    private var pending: [UInt8] = []

    init(maximumFrameLength: Int) { self.maximumFrameLength = maximumFrameLength }

    enum Failure: Error, CustomStringConvertible {
        /// A frame announced as longer than the limit.
        case frameTooLong(length: UInt32, limit: Int)
        /// The stream ended inside a frame (or its length).
        case truncated(have: Int, need: Int?)

        var description: String {
            switch self {
            case .frameTooLong(let length, let limit):
                return "a frame of \(length) bytes, longer than the limit of \(limit) bytes"
            case .truncated(let have, let need?):
                return "the stream ended inside a frame (\(have) of \(need) bytes)"
            case .truncated(let have, nil):
                return "the stream ended inside a frame's length (\(have) of 4 bytes)"
            }
        }
    }

    /// Appends bytes and returns the frames they complete (without their length prefix).
    mutating func append<C: Collection<UInt8>>(_ bytes: C) throws(Failure) -> [[UInt8]] {
        pending.append(contentsOf: bytes)
        var frames: [[UInt8]] = []
        var start = 0
        while pending.count - start >= 4 {
            let length = UInt32(pending[start]) << 24 | UInt32(pending[start + 1]) << 16
                | UInt32(pending[start + 2]) << 8 | UInt32(pending[start + 3])
            // UInt32 and a non-negative Int limit compare exactly as UInt64: nothing here traps.
            guard UInt64(length) <= UInt64(max(0, maximumFrameLength)) else {
                throw .frameTooLong(length: length, limit: maximumFrameLength)
            }
            let size = Int(length)
            guard pending.count - start - 4 >= size else { break }
            frames.append(Array(pending[(start + 4)..<(start + 4 + size)]))
            start += 4 + size
        }
        if start > 0 { pending.removeFirst(start) }
        return frames
    }

    /// Throws when the stream ended inside a frame; a stream must end between frames.
    func finish() throws(Failure) {
        guard !pending.isEmpty else { return }
        guard pending.count >= 4 else { throw .truncated(have: pending.count, need: nil) }
        let length = UInt32(pending[0]) << 24 | UInt32(pending[1]) << 16 | UInt32(pending[2]) << 8 | UInt32(pending[3])
        throw .truncated(have: pending.count - 4, need: Int(length))
    }
}

/// Decodes one frame of a protobuf watch stream.
enum ProtobufWatchDecoder {
    /// The event in `frame`; `apiVersion` is the collection's, for an object whose envelope names none.
    static func decode<T: KubeObject>(_ frame: [UInt8], as type: T.Type, apiVersion: String) throws -> WatchEvent<T> {
        let event: K8sWatchEvent
        do {
            if ProtobufEnvelope.hasMagic(frame) {
                event = try K8sWatchEvent(serializedBytes: try ProtobufEnvelope(frame).raw, options: ProtobufEnvelope.options)
            } else {
                event = try K8sWatchEvent(serializedBytes: frame, options: ProtobufEnvelope.options)
            }
        } catch let e as ProtobufError {
            throw e
        } catch {
            throw ProtobufError("", describeDecoding(error))
        }
        guard event.hasType else { throw ProtobufError("type", "missing") }
        let object = try ProtobufError.at("object") { try ProtobufEnvelope(event.object.raw) }
        let version = object.apiVersion.isEmpty ? apiVersion : object.apiVersion
        func decoded() throws -> T {
            try ProtobufError.at("object") { try T.decodeProtobuf(object.raw, apiVersion: version) }
        }
        switch event.type {
        case "ADDED": return .added(try decoded())
        case "MODIFIED": return .modified(try decoded())
        case "DELETED": return .deleted(try decoded())
        case "BOOKMARK":
            guard let rv = try decoded().metadata?.resourceVersion, !rv.isEmpty else {
                throw ProtobufError("object", "BOOKMARK without metadata.resourceVersion")
            }
            return .bookmark(resourceVersion: rv)
        case "ERROR":
            guard let status = try ProtobufError.at("object", { try object.status() }) else {
                throw ProtobufError("object", "an ERROR event carrying a \(object.kind.isEmpty ? "object without kind" : object.kind), not a Status")
            }
            return .error(status)
        default:
            throw ProtobufError("type", "unknown watch event type \(event.type)")
        }
    }
}
