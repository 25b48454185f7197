#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel

// MARK: - Watch events as the API server sends them
//
// A watch response in JSON is a stream of JSON objects, one per line (in protobuf: frames,
// ProtobufWatch.swift):
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

/// Turns the bytes of a watch response into events, in the encoding the response is in: JSON
/// lines or protobuf frames. A value-type state machine, no I/O.
struct WatchStreamReader<T: KubeObject> {
    private enum Splitter { case lines(LineSplitter), frames(FrameSplitter) }
    private var splitter: Splitter
    private let decoder = JSONDecoder()
    private let apiVersion: String
    let maximumEventBytes: Int

    /// Why a stream cannot be read on: an event too long, undecodable, or cut short.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A reader for a response in `encoding`; `apiVersion` is the watched collection's.
    init(encoding: APIEncoding, maximumEventBytes: Int, apiVersion: String) {
        self.maximumEventBytes = maximumEventBytes
        self.apiVersion = apiVersion
        switch encoding {
        case .json: splitter = .lines(LineSplitter(maximumLineLength: maximumEventBytes))
        case .protobuf: splitter = .frames(FrameSplitter(maximumFrameLength: maximumEventBytes))
        }
    }

    /// The events the bytes complete.
    mutating func append<C: Collection<UInt8>>(_ bytes: C) throws(Failure) -> [WatchEvent<T>] {
        switch splitter {
        case .lines(var lines):
            let complete: [[UInt8]]
            do { complete = try lines.append(bytes) } catch {
                throw Failure(description: "watch event longer than \(maximumEventBytes) bytes (\(error))")
            }
            splitter = .lines(lines)
            return try complete.map(decodeLine)
        case .frames(var frames):
            let complete: [[UInt8]]
            do { complete = try frames.append(bytes) } catch {
                throw Failure(description: "watch event: \(error)")
            }
            splitter = .frames(frames)
            return try complete.map(decodeFrame)
        }
    }

    /// The events left when the stream ends: a last JSON line without a newline; for protobuf,
    /// nothing, and an error when the stream ended inside a frame.
    mutating func finish() throws(Failure) -> [WatchEvent<T>] {
        switch splitter {
        case .lines(var lines):
            let last = lines.finish()
            splitter = .lines(lines)
            guard let last else { return [] }
            return [try decodeLine(last)]
        case .frames(let frames):
            do { try frames.finish() } catch { throw Failure(description: "watch event: \(error)") }
            return []
        }
    }

    private func decodeLine(_ line: [UInt8]) throws(Failure) -> WatchEvent<T> {
        do {
            return try decoder.decode(WatchLine<T>.self, from: Data(line)).event
        } catch {
            throw Failure(description: "watch event: \(ListBodyDecoder.describe(error))")
        }
    }

    private func decodeFrame(_ frame: [UInt8]) throws(Failure) -> WatchEvent<T> {
        do {
            return try ProtobufWatchDecoder.decode(frame, as: T.self, apiVersion: apiVersion)
        } catch {
            throw Failure(description: "watch event: \(ListBodyDecoder.describe(error))")
        }
    }
}
