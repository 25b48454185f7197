#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Yams

// MARK: - The fast path of manifest decoding: YAML node -> JSON -> JSONDecoder
//
// Yams' decoder resolves every scalar's tag with a set of regular expressions each time a node is
// compared or read, and looks mapping keys up by comparing nodes, which made decoding the bulk of a
// cold sync (docs/benchmarks.md). kubectl reads YAML by converting it to JSON and decoding that;
// this does the same: one walk over the composed nodes writes JSON text, resolving plain scalars
// by hand (null, true and false, integers, floats, everything else a string; quoted scalars are
// strings), and Foundation's JSONDecoder decodes the object. Anything the walk does not handle (aliases, a
// non-scalar mapping key) or an object the JSON form does not decode (say a plain `80` where a
// string is expected, which Yams accepts) goes through Yams' YAMLDecoder, so every manifest Yams
// decodes still decodes, with the same diagnostics.

enum ManifestJSON {
    /// JSON text for `node`, or nil when the walk does not handle it.
    static func json(_ node: Node) -> Data? {
        var out = ""
        out.reserveCapacity(1024)
        guard write(node, into: &out) else { return nil }
        return Data(out.utf8)
    }

    private static func write(_ node: Node, into out: inout String) -> Bool {
        switch node {
        case .scalar(let s):
            writeScalar(s, into: &out)
            return true
        case .mapping(let m):
            out.append("{")
            var first = true
            for (k, v) in m {
                guard case .scalar(let key) = k else { return false }
                if !first { out.append(",") }
                first = false
                writeString(key.string, into: &out)
                out.append(":")
                guard write(v, into: &out) else { return false }
            }
            out.append("}")
            return true
        case .sequence(let seq):
            out.append("[")
            var first = true
            for v in seq {
                if !first { out.append(",") }
                first = false
                guard write(v, into: &out) else { return false }
            }
            out.append("]")
            return true
        default:
            return false
        }
    }

    private static func writeScalar(_ s: Node.Scalar, into out: inout String) {
        let text = s.string
        guard s.style == .plain || s.style == .any else { writeString(text, into: &out); return }
        switch text {
        case "", "~", "null", "Null", "NULL": out.append("null")
        case "true", "True", "TRUE": out.append("true")
        case "false", "False", "FALSE": out.append("false")
        default:
            if isJSONNumber(text) { out.append(text) } else { writeString(text, into: &out) }
        }
    }

    /// Whether `t` is a number JSON accepts as written: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    /// (YAML's other spellings, such as `+1`, `0x10`, `.5` or `1_000`, stay strings here and so
    /// fall back to Yams where a number is expected).
    static func isJSONNumber(_ t: String) -> Bool {
        var u = Array(t.utf8)[...]
        func digits() -> Int { var n = 0; while let c = u.first, c >= 0x30, c <= 0x39 { u = u.dropFirst(); n += 1 }; return n }
        if u.first == 0x2D { u = u.dropFirst() }  // -
        guard let c = u.first, c >= 0x30, c <= 0x39 else { return false }
        if c == 0x30 { u = u.dropFirst() } else { _ = digits() }
        if u.first == 0x2E { u = u.dropFirst(); guard digits() > 0 else { return false } }  // .
        if u.first == 0x65 || u.first == 0x45 {  // e E
            u = u.dropFirst()
            if u.first == 0x2B || u.first == 0x2D { u = u.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return u.isEmpty
    }

    private static func writeString(_ s: String, into out: inout String) {
        out.append("\"")
        var plain = true
        for b in s.utf8 where b < 0x20 || b == 0x22 || b == 0x5C { plain = false; break }
        if plain {
            out.append(s)
        } else {
            for ch in s.unicodeScalars {
                switch ch {
                case "\"": out.append("\\\"")
                case "\\": out.append("\\\\")
                case "\n": out.append("\\n")
                case "\r": out.append("\\r")
                case "\t": out.append("\\t")
                default:
                    if ch.value < 0x20 { out.append("\\u00" + String(ch.value >> 4, radix: 16) + String(ch.value & 0xf, radix: 16)) } else { out.unicodeScalars.append(ch) }
                }
            }
        }
        out.append("\"")
    }

    /// The scalar value of `key` in a mapping node, compared as plain text (no tag resolution).
    static func string(_ node: Node, _ key: String) -> String? {
        guard case .scalar(let s)? = value(node, key) else { return nil }
        return s.string
    }

    /// The value node of `key` in a mapping node.
    static func value(_ node: Node, _ key: String) -> Node? {
        guard case .mapping(let m) = node else { return nil }
        for (k, v) in m { if case .scalar(let ks) = k, ks.string == key { return v } }
        return nil
    }
}
