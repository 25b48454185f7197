// MARK: - A KubeProxyConfiguration document as upstream's decoder sees it
//
// Upstream converts the YAML to JSON and decodes that into typed Go structs, first strictly
// (an unknown or duplicate field fails), then leniently (unknown fields dropped, the last of
// duplicate keys wins). A value of the wrong type fails both. `ConfigTree` is the document
// after that conversion; `ConfigSchema` is the typed structs' shape.

/// One value of the document: duplicate keys already resolved (the last wins).
indirect enum ConfigValue: Sendable, Hashable {
    case null
    /// Scalar text; `quoted` when written in quotes or as a block scalar (always a string in YAML).
    case scalar(String, quoted: Bool)
    case list([ConfigValue])
    case map([String: ConfigValue])

    subscript(key: String) -> ConfigValue? {
        if case .map(let m) = self { return m[key] }
        return nil
    }
}

/// The field types of upstream's structs, as far as decoding tells them apart.
indirect enum FieldKind: Sendable {
    case string, bool, int32, uint32, float32
    /// metav1.Duration: Go duration text.
    case duration
    /// component-base's TimeOrMetaDuration (logging.flushFrequency): nanoseconds or duration text.
    case timeOrDuration
    /// resource.Quantity (logging.options.*.infoBufferSize): a number or its text (`0`, `64Ki`).
    case quantity
    /// []string
    case strings
    /// map[string]bool
    case boolMap
    case object([String: FieldKind])
    case objects([String: FieldKind])
}

/// What the strict pass found beyond type errors: fields upstream's strict decoder refuses.
struct StrictProblems: Sendable, Hashable {
    var unknown: [String] = []
    var duplicate: [String] = []
    var isEmpty: Bool { unknown.isEmpty && duplicate.isEmpty }

    /// Upstream's text for them (the error its strict decoder returns).
    var description: String {
        "strict decoding error: " + (unknown.map { "unknown field \"\($0)\"" } + duplicate.map { "duplicate field \"\($0)\"" })
            .joined(separator: ", ")
    }
}

enum ConfigTree {
    /// The document's root value and its duplicate keys (paths), or a YAML error naming the problem.
    static func read(_ text: String) throws -> (root: ConfigValue?, duplicates: [String]) {
        var composer = YAMLComposer()
        composer.allowsDuplicateKeys = true  // reported as upstream's strict pass does, then the last wins
        let node: YAMLNode
        do {
            guard let n = try composer.compose(text) else { return (nil, []) }
            node = n
        } catch {
            throw ConfigError("", "not valid YAML: \(error)")
        }
        var duplicates: [String] = []
        let root = value(node, path: "", duplicates: &duplicates)
        return (root, duplicates)
    }

    private static func value(_ node: YAMLNode, path: String, duplicates: inout [String]) -> ConfigValue {
        switch node {
        case .scalar(let s):
            if s.isNull { return .null }
            return .scalar(s.string, quoted: !s.isImplicit)
        case .sequence(let seq):
            return .list(seq.enumerated().map { i, n in value(n, path: "\(path)[\(i)]", duplicates: &duplicates) })
        case .mapping(let m):
            var out: [String: ConfigValue] = [:]
            var last: [String: Int] = [:]
            for (i, (k, _)) in m.enumerated() { last[k.string ?? ""] = i }
            for (i, (k, v)) in m.enumerated() {
                let key = k.string ?? ""
                let full = path.isEmpty ? key : "\(path).\(key)"
                // An earlier occurrence of a duplicate key is reported (once) where it stands and
                // dropped: the last one wins.
                if last[key] != i {
                    if !duplicates.contains(full) { duplicates.append(full) }
                    continue
                }
                out[key] = value(v, path: full, duplicates: &duplicates)
            }
            return .map(out)
        }
    }

    // MARK: - Type checks (the strict and the lenient pass alike)

    /// Checks `value` against `kind`: a wrong type throws naming `path`; fields the schema does not
    /// know are collected in `unknown`.
    static func check(_ value: ConfigValue, _ kind: FieldKind, path: String, unknown: inout [String]) throws {
        if case .null = value { return }
        switch kind {
        case .string:
            _ = try string(value, path)
        case .bool:
            _ = try bool(value, path)
        case .int32:
            _ = try int32(value, path)
        case .uint32:
            _ = try uint32(value, path)
        case .float32:
            _ = try float32(value, path)
        case .duration:
            _ = try duration(value, path)
        case .timeOrDuration:
            if case .scalar(let s, false) = value, Int64(s) != nil { return }
            _ = try duration(value, path)
        case .quantity:
            guard case .scalar = value else { throw ConfigError(path, "expected a quantity (like 0 or 64Ki)") }
        case .strings:
            _ = try strings(value, path)
        case .boolMap:
            _ = try boolMap(value, path)
        case .object(let fields):
            guard case .map(let m) = value else { throw ConfigError(path, "expected a map") }
            for key in m.keys.sorted() {
                let sub = path.isEmpty ? key : "\(path).\(key)"
                guard let k = fields[key] else { unknown.append(sub); continue }
                try check(m[key]!, k, path: sub, unknown: &unknown)
            }
        case .objects(let fields):
            guard case .list(let items) = value else { throw ConfigError(path, "expected a list") }
            for (i, item) in items.enumerated() {
                try check(item, .object(fields), path: "\(path)[\(i)]", unknown: &unknown)
            }
        }
    }

    static func string(_ v: ConfigValue, _ path: String) throws -> String? {
        switch v {
        case .null: return nil
        // Upstream's YAML-to-JSON step turns a number or a bool into text for a string field.
        case .scalar(let s, _): return s
        default: throw ConfigError(path, "expected a single value")
        }
    }

    static func bool(_ v: ConfigValue, _ path: String) throws -> Bool? {
        guard let (s, quoted) = try plain(v, path) else { return nil }
        // YAML 1.1's booleans, as upstream's YAML library reads them; a quoted one is a string.
        if !quoted {
            if ["true", "True", "TRUE", "yes", "Yes", "YES", "y", "Y", "on", "On", "ON"].contains(s) { return true }
            if ["false", "False", "FALSE", "no", "No", "NO", "n", "N", "off", "Off", "OFF"].contains(s) { return false }
        }
        throw ConfigError(path, "\"\(s)\" is not true or false")
    }

    static func int32(_ v: ConfigValue, _ path: String) throws -> Int32? {
        guard let (s, quoted) = try plain(v, path) else { return nil }
        guard !quoted, let i = Int64(s) else { throw ConfigError(path, "\"\(s)\" is not an integer") }
        guard let n = Int32(exactly: i) else { throw ConfigError(path, "\(i) is out of range (\(Int32.min)-\(Int32.max))") }
        return n
    }

    static func uint32(_ v: ConfigValue, _ path: String) throws -> UInt32? {
        guard let (s, quoted) = try plain(v, path) else { return nil }
        guard !quoted, let i = Int64(s) else { throw ConfigError(path, "\"\(s)\" is not an integer") }
        guard let n = UInt32(exactly: i) else { throw ConfigError(path, "\(i) is out of range (0-\(UInt32.max))") }
        return n
    }

    static func float32(_ v: ConfigValue, _ path: String) throws -> Float? {
        guard let (s, quoted) = try plain(v, path) else { return nil }
        // Digits only: Swift's Float("nan") and Float("inf") are no JSON numbers.
        let numeric = s.unicodeScalars.allSatisfy { "0123456789.eE+-".unicodeScalars.contains($0) }
        guard !quoted, numeric, let f = Float(s) else { throw ConfigError(path, "\"\(s)\" is not a number") }
        guard f.isFinite else { throw ConfigError(path, "\(s) is out of range for a 32-bit float") }
        return f
    }

    /// Seconds; negative when the text has a `-` (range checks are the caller's).
    static func duration(_ v: ConfigValue, _ path: String) throws -> Double? {
        guard let (s, _) = try plain(v, path) else { return nil }
        guard let d = GoDuration.parseSigned(s) else {
            throw ConfigError(path, "\"\(s)\" is not a duration (like 30s, 1m0s, 500ms)")
        }
        return d
    }

    static func strings(_ v: ConfigValue, _ path: String) throws -> [String]? {
        switch v {
        case .null: return nil
        case .list(let items):
            return try items.enumerated().map { i, item in try string(item, "\(path)[\(i)]") ?? "" }
        default: throw ConfigError(path, "expected a list")
        }
    }

    static func boolMap(_ v: ConfigValue, _ path: String) throws -> [String: Bool]? {
        switch v {
        case .null: return nil
        case .map(let m):
            var out: [String: Bool] = [:]
            for key in m.keys.sorted() { out[key] = try bool(m[key]!, "\(path).\(key)") ?? false }
            return out
        default: throw ConfigError(path, "expected a map of names to true or false")
        }
    }

    private static func plain(_ v: ConfigValue, _ path: String) throws -> (String, Bool)? {
        switch v {
        case .null: return nil
        case .scalar(let s, let quoted): return (s, quoted)
        default: throw ConfigError(path, "expected a single value")
        }
    }
}
