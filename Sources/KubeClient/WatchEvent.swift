#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel

// MARK: - Watch events as the API server sends them
//
// A watch response is a stream of JSON objects, one per line:
//   {"type":"ADDED","object":{...}}
// BOOKMARK objects carry only metadata.resourceVersion; ERROR objects are a Status (410 when the
// requested resourceVersion is too old).

/// One raw event of a watch stream.
public enum WatchEvent<T: Sendable>: Sendable {
    case added(T)
    case modified(T)
    case deleted(T)
    /// Nothing changed, but the collection is now at this resourceVersion.
    case bookmark(resourceVersion: String)
    /// The server ends the watch with this Status (410: resourceVersion too old, list again).
    case error(APIStatus)
}

extension WatchEvent: Equatable where T: Equatable {}

/// Decodes one line of a watch stream: reads `type` first, then `object` as the right shape.
struct WatchLine<T: Decodable & Sendable>: Decodable {
    let event: WatchEvent<T>

    private enum Keys: String, CodingKey { case type, object }
    private struct BookmarkObject: Decodable {
        struct Meta: Decodable { var resourceVersion: String? }
        var metadata: Meta?
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "ADDED": event = .added(try c.decode(T.self, forKey: .object))
        case "MODIFIED": event = .modified(try c.decode(T.self, forKey: .object))
        case "DELETED": event = .deleted(try c.decode(T.self, forKey: .object))
        case "BOOKMARK":
            let o = try c.decode(BookmarkObject.self, forKey: .object)
            guard let rv = o.metadata?.resourceVersion, !rv.isEmpty else {
                throw DecodingError.dataCorruptedError(forKey: .object, in: c,
                                                       debugDescription: "BOOKMARK without metadata.resourceVersion")
            }
            event = .bookmark(resourceVersion: rv)
        case "ERROR": event = .error(try c.decode(APIStatus.self, forKey: .object))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown watch event type \(type)")
        }
    }
}

/// Splits a byte stream into newline-terminated lines; a value-type state machine, no I/O.
struct LineSplitter {
    private var pending: [UInt8] = []
    /// Longest line accepted; a longer one is an error rather than unbounded memory.
    let maximumLineLength: Int

    init(maximumLineLength: Int) { self.maximumLineLength = maximumLineLength }

    enum Failure: Error { case lineTooLong(Int) }

    /// Appends bytes and returns the complete lines they finish (without the newline; blank lines skipped).
    mutating func append<C: Collection>(_ bytes: C) throws -> [[UInt8]] where C.Element == UInt8 {
        var lines: [[UInt8]] = []
        for b in bytes {
            if b == UInt8(ascii: "\n") {
                if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                if !pending.isEmpty { lines.append(pending) }
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(b)
                if pending.count > maximumLineLength { throw Failure.lineTooLong(maximumLineLength) }
            }
        }
        return lines
    }

    /// What is left when the stream ends: a last line without a newline, if any.
    mutating func finish() -> [UInt8]? {
        defer { pending.removeAll() }
        return pending.isEmpty ? nil : pending
    }
}
