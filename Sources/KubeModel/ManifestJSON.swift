#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: - Manifest decoding: YAML node -> JSON -> JSONDecoder
//
// kubectl reads YAML by converting it to JSON and decoding that; this does the same: one walk over
// the composed nodes writes JSON text, resolving plain scalars as YAML's core schema does (null,
// true and false, integers, floats, everything else a string; quoted and `!!str` scalars are
// strings), and JSONDecoder decodes the object. Kubernetes' own decoding is as strict, but manifests
// written for kube-ipvs have been read more leniently (a plain `80` where a string is expected,
// a quoted "80" where a number is): `Coercions` names the scalars to write as the type the decoder
// expected, found one decoding error at a time (see ManifestLoader.decode).

enum ManifestJSON {
    /// What a scalar is written as instead of its resolution, by its path (see `pathKey`).
    typealias Coercions = [String: Coercion]
    /// A scalar written as the type the decoder expected.
    enum Coercion: Sendable { case string, number(String), bool(Bool) }

    /// JSON text for `node`, or nil when the walk does not handle it (a mapping key that is not a scalar).
    static func json(_ node: YAMLNode, coercions: Coercions = [:]) -> Data? {
        var out = ""
        out.reserveCapacity(1024)
        var path: [String] = []
        guard write(node, path: &path, coercions: coercions, into: &out) else { return nil }
        return Data(out.utf8)
    }

    /// The key of a coding path in `Coercions`: mapping keys and sequence indexes, in order.
    static func pathKey(_ components: [String]) -> String { components.joined(separator: "\u{1F}") }

    /// The components of a decoder's coding path as `pathKey` takes them.
    static func pathComponents(_ codingPath: [CodingKey]) -> [String] {
        codingPath.map { $0.intValue.map { "#\($0)" } ?? $0.stringValue }
    }

    private static func write(_ node: YAMLNode, path: inout [String], coercions: Coercions, into out: inout String) -> Bool {
        switch node {
        case .scalar(let s):
            switch coercions.isEmpty ? nil : coercions[pathKey(path)] {
            case .string?: writeString(s.string, into: &out)
            case .number(let n)?: out.append(n)
            case .bool(let b)?: out.append(b ? "true" : "false")
            case nil: writeScalar(s, into: &out)
            }
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
                path.append(key.string)
                defer { path.removeLast() }
                guard write(v, path: &path, coercions: coercions, into: &out) else { return false }
            }
            out.append("}")
            return true
        case .sequence(let seq):
            out.append("[")
            for (i, v) in seq.enumerated() {
                if i > 0 { out.append(",") }
                path.append("#\(i)")
                defer { path.removeLast() }
                guard write(v, path: &path, coercions: coercions, into: &out) else { return false }
            }
            out.append("]")
            return true
        }
    }

    private static func writeScalar(_ s: YAMLNode.Scalar, into out: inout String) {
        let text = s.string
        guard s.isImplicit else { writeString(text, into: &out); return }
        switch text {
        case "", "~", "null", "Null", "NULL": out.append("null")
        case "true", "True", "TRUE": out.append("true")
        case "false", "False", "FALSE": out.append("false")
        default:
            if isJSONNumber(text) { out.append(text) } else { writeString(text, into: &out) }
        }
    }

    /// Whether `t` is a number JSON accepts as written: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    /// (YAML's other spellings, such as `+1`, `0x10`, `.5` or `1_000`, stay strings here and are
    /// coerced where a number is expected: see `number`).
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
    static func string(_ node: YAMLNode, _ key: String) -> String? {
        guard case .scalar(let s)? = value(node, key) else { return nil }
        return s.string
    }

    /// The value node of `key` in a mapping node.
    static func value(_ node: YAMLNode, _ key: String) -> YAMLNode? {
        guard case .mapping(let m) = node else { return nil }
        for (k, v) in m { if case .scalar(let ks) = k, ks.string == key { return v } }
        return nil
    }

    /// The scalar at a coding path, if there is one.
    static func scalar(_ node: YAMLNode, at path: [String]) -> YAMLNode.Scalar? {
        var node = node
        for c in path {
            switch node {
            case .mapping(let m):
                guard let v = m.last(where: { $0.key.string == c })?.value else { return nil }
                node = v
            case .sequence(let items):
                guard c.hasPrefix("#"), let i = Int(c.dropFirst()), items.indices.contains(i) else { return nil }
                node = items[i]
            case .scalar:
                return nil
            }
        }
        if case .scalar(let s) = node { return s }
        return nil
    }

    /// The JSON number for a YAML 1.1 integer spelling, where a number is expected: decimal with an
    /// optional sign and `_` separators, `0x` hex or `0o` octal; nil otherwise.
    static func number(_ text: String) -> String? {
        var t = Substring(text.filter { $0 != "_" })
        var negative = false
        if let c = t.first, c == "+" || c == "-" { negative = c == "-"; t = t.dropFirst() }
        let value: Int64?
        if t.hasPrefix("0x") { value = Int64(t.dropFirst(2), radix: 16) }
        else if t.hasPrefix("0o") { value = Int64(t.dropFirst(2), radix: 8) }
        else if !t.isEmpty, t.allSatisfy({ $0.isASCII && $0.isNumber }) { value = Int64(t) }
        else { value = nil }
        return value.map { negative ? "-\($0)" : "\($0)" }
    }

    /// A YAML 1.1 boolean spelling, where true or false is expected.
    static func bool(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return false
        default: return nil
        }
    }
}
