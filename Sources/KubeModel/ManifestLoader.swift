#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: - Manifests: YAML or JSON files, multi-document, `kind: List`, directories

/// Reads Services, Endpoints, EndpointSlices and Nodes from manifest text, files and directories.
public struct ManifestLoader: Sendable {
    /// Namespace for objects whose metadata has none (kubectl's default).
    public var defaultNamespace: String

    public init(defaultNamespace: String = "default") { self.defaultNamespace = defaultNamespace }

    /// Largest text read (ManifestLimits.maxTextBytes; tests lower it).
    var maxTextBytes = ManifestLimits.maxTextBytes

    /// Whether JSON text is decoded directly, without the YAML parser; tests turn it off to compare.
    var fastPath = true

    /// The objects read and the problems found; invalid objects are left out of `snapshot`.
    public struct Result: Sendable {
        public var snapshot = ClusterSnapshot()
        public var diagnostics: [Diagnostic] = []
        /// Problems with optional fields of objects that were still used (a bad scheduler
        /// annotation, an unparsable externalIP or endpoint address that was dropped).
        public var warnings: [Diagnostic] = []
        /// Objects of kinds kube-ipvs does not use (Deployments, ...), by kind.
        public var ignoredKinds: [String: Int] = [:]
        /// Texts refused as a whole (a syntax error, an alias bomb, too large): nothing of a
        /// refused text is in `snapshot`, and `load` throws when there is any.
        public var refusals: [ManifestRefusal] = []
        public init() {}

        /// The valid object; records an invalid one's diagnostic; nil for invalid and ignored ones.
        mutating func accept<V>(_ checked: Checked<V>) -> V? {
            switch checked {
            case .ok(let v): return v
            case .ignored: return nil
            case .invalid(let d): diagnostics.append(d); return nil
            }
        }

        mutating func merge(_ other: Result) {
            snapshot.services += other.snapshot.services
            snapshot.endpointSets += other.snapshot.endpointSets
            snapshot.nodes += other.snapshot.nodes
            diagnostics += other.diagnostics
            warnings += other.warnings
            refusals += other.refusals
            for (k, v) in other.ignoredKinds { ignoredKinds[k, default: 0] += v }
        }
    }

    /// Reads each path: a file, or a directory whose `.yaml`, `.yml` and `.json` files are read in name order.
    /// Throws `ManifestError.refused` when any text is refused: a syntax error anywhere must not
    /// shrink the desired state (a sync would delete the missing Services' virtual servers).
    public func load(paths: [String]) throws -> Result {
        var result = Result()
        for path in paths {
            guard let isDirectory = BoundedFile.isDirectory(path) else { throw ManifestError.notFound(path) }
            let files: [String]
            if isDirectory {
                let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
                files = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") || $0.hasSuffix(".json") }
                    .map { path.hasSuffix("/") ? path + $0 : path + "/" + $0 }
            } else {
                files = [path]
            }
            for file in files {
                // Read at most one byte past the limit, so that a device or a pipe cannot make it unbounded.
                guard let data = BoundedFile.read(file, limit: maxTextBytes + 1) else { throw ManifestError.unreadable(file) }
                if data.count > maxTextBytes {
                    result.refusals.append(tooLarge(file))
                    continue
                }
                guard let text = String(bytes: data, encoding: .utf8) else { throw ManifestError.unreadable(file) }
                result.merge(parse(text: text, source: file))
            }
        }
        if !result.refusals.isEmpty { throw ManifestError.refused(result.refusals) }
        return result
    }

    func tooLarge(_ source: String) -> ManifestRefusal {
        let limit = maxTextBytes % (1 << 20) == 0 ? "\(maxTextBytes >> 20) MiB" : "\(maxTextBytes) bytes"
        return ManifestRefusal(source: source, document: 0, line: 0, message: "larger than \(limit), the most one manifest file may hold")
    }

    /// Parses manifest text (YAML or JSON, one or more documents). Text that is not YAML or JSON,
    /// nests too deep, expands through aliases far beyond its size, or is larger than
    /// `ManifestLimits.maxTextBytes` is refused whole: the result holds only the refusal.
    public func parse(text: String, source: String = "<input>") -> Result {
        if text.utf8.count > maxTextBytes {
            var result = Result()
            result.refusals.append(tooLarge(source))
            return result
        }
        // JSON text (`kubectl get -o json`): decoded directly, without the YAML parser, unless some
        // object in it does not decode (then the YAML path below reads it all again, for the same
        // diagnostics and leniency as any other manifest).
        if fastPath, text.utf8.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) == UInt8(ascii: "{"),
           let doc = try? JSONDecoder().decode(JSONDocument.self, from: Data(text.utf8)), doc.decodedEverything {
            var result = Result()
            add(doc, into: &result)
            return result
        }
        var result = Result()
        if let refusal = ManifestScanner.check(text, source: source) {
            result.refusals.append(refusal)
            return result
        }
        let documents: [YAMLNode]
        do {
            documents = try YAMLComposer().composeAll(text)
        } catch let e as YAMLError {
            // Every document or none: the documents after a bad one would silently be missing.
            result.refusals.append(ManifestRefusal(source: source, document: e.document, line: e.line,
                                                   message: "not valid YAML or JSON: \(e.message)"))
            return result
        } catch {
            result.refusals.append(ManifestRefusal(source: source, document: 1, line: 0, message: "not valid YAML or JSON: \(error)"))
            return result
        }
        for (i, doc) in documents.enumerated() {
            add(node: doc, where: "\(source) document \(i + 1)", into: &result)
        }
        return result
    }

    private func add(node: YAMLNode, where location: String, into result: inout Result) {
        guard node.mapping != nil else {
            if case .scalar(let s) = node, s.string.isEmpty { return }  // empty document
            result.diagnostics.append(Diagnostic(kind: "document", object: location, field: "", message: "not an object"))
            return
        }
        let kind = ManifestJSON.string(node, "kind") ?? ""
        let items = ManifestJSON.value(node, "items")
        if kind == "List" || kind.hasSuffix("List") && items != nil {
            for (i, item) in (items?.sequence ?? []).enumerated() {
                add(node: item, where: "\(location) items[\(i)]", into: &result)
            }
            return
        }
        let apiVersion = ManifestJSON.string(node, "apiVersion") ?? ""
        switch kind {
        case "Service":
            decode(ServiceResource.self, kind: kind, node: node, location: location, into: &result) { r, res in add(service: r, into: &res) }
        case "Endpoints":
            decode(EndpointsResource.self, kind: kind, node: node, location: location, into: &result) { r, res in add(endpoints: r, into: &res) }
        case "EndpointSlice" where ManifestLoader.isDiscovery(apiVersion):
            decode(EndpointSliceResource.self, kind: kind, node: node, location: location, into: &result) { r, res in add(slice: r, into: &res) }
        case "Node":
            decode(NodeResource.self, kind: kind, node: node, location: location, into: &result) { r, res in add(node: r, into: &res) }
        case "":
            result.diagnostics.append(Diagnostic(kind: "document", object: location, field: "kind", message: "missing"))
        default:
            result.ignoredKinds[kind, default: 0] += 1
        }
    }

    static func isDiscovery(_ apiVersion: String) -> Bool { apiVersion.hasPrefix("discovery.k8s.io/") || apiVersion.isEmpty }

    private func add(service r: ServiceResource, into res: inout Result) {
        if let v = res.accept(r.checked(defaultNamespace: defaultNamespace)) {
            res.snapshot.services.append(v)
            res.warnings += v.ignoredFieldDiagnostics
        }
    }
    private func add(endpoints r: EndpointsResource, into res: inout Result) {
        if let v = res.accept(r.checked(defaultNamespace: defaultNamespace)) {
            res.snapshot.endpointSets += v
            res.warnings += v.flatMap(\.ignoredFieldDiagnostics)
        }
    }
    private func add(slice r: EndpointSliceResource, into res: inout Result) {
        if let v = res.accept(r.checked(defaultNamespace: defaultNamespace)) {
            res.snapshot.endpointSets.append(v)
            res.warnings += v.ignoredFieldDiagnostics
        }
    }
    private func add(node r: NodeResource, into res: inout Result) {
        if let v = res.accept(r.checked()) { res.snapshot.nodes.append(v) }
    }

    private func add(_ doc: JSONDocument, into result: inout Result) {
        switch doc.object {
        case .service(let r): add(service: r, into: &result)
        case .endpoints(let r): add(endpoints: r, into: &result)
        case .slice(let r): add(slice: r, into: &result)
        case .node(let r): add(node: r, into: &result)
        case .list(let items): for item in items { add(item, into: &result) }
        case .other(let kind): result.ignoredKinds[kind, default: 0] += 1
        case .failed: break  // never added: parse() takes the YAML path when an object failed
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, kind: String, node: YAMLNode, location: String,
                                      into result: inout Result, then use: (T, inout Result) -> Void) {
        do {
            use(try ManifestLoader.decode(type, from: node), &result)
        } catch {
            let metadata = ManifestJSON.value(node, "metadata")
            let name = metadata.flatMap { ManifestJSON.string($0, "name") }
            let ns = metadata.flatMap { ManifestJSON.string($0, "namespace") } ?? defaultNamespace
            let object = name.map { kind == "Node" ? $0 : "\(ns)/\($0)" } ?? location
            let (field, message) = ManifestLoader.fieldAndMessage(error)
            result.diagnostics.append(Diagnostic(kind: kind, object: object, field: field, message: message))
        }
    }

    /// Decodes `node` through its JSON form. A scalar of the wrong type for its field is written
    /// again as the type expected, where its text reads as one (a plain `80` where a string is
    /// expected, a quoted "80" or `0x50` where a number is, `yes` where a bool is), and decoding
    /// retried; each retry fixes one more scalar, so the number of scalars bounds the retries.
    static func decode<T: Decodable>(_ type: T.Type, from node: YAMLNode) throws -> T {
        var coercions: ManifestJSON.Coercions = [:]
        while true {
            guard let json = ManifestJSON.json(node, coercions: coercions) else {
                throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "a mapping key that is not a scalar"))
            }
            do {
                return try JSONDecoder().decode(type, from: json)
            } catch DecodingError.typeMismatch(let expected, let ctx) {
                let path = ManifestJSON.pathComponents(ctx.codingPath)
                let key = ManifestJSON.pathKey(path)
                guard coercions[key] == nil, let scalar = ManifestJSON.scalar(node, at: path),
                      let coercion = coercion(scalar, to: expected) else {
                    throw DecodingError.typeMismatch(expected, ctx)
                }
                coercions[key] = coercion
            }
        }
    }

    private static func coercion(_ s: YAMLNode.Scalar, to expected: Any.Type) -> ManifestJSON.Coercion? {
        if s.isNull { return nil }
        switch expected {
        case is String.Type: return .string
        case is Bool.Type: return ManifestJSON.bool(s.string).map { .bool($0) }
        case is Int.Type, is Int32.Type, is Int64.Type, is UInt16.Type, is UInt32.Type, is UInt64.Type, is UInt8.Type, is UInt.Type:
            return ManifestJSON.number(s.string).map { .number($0) }
        case is Double.Type, is Float.Type:
            if let n = ManifestJSON.number(s.string) { return .number(n) }
            return ManifestJSON.isJSONNumber(s.string) ? .number(s.string) : nil
        default: return nil
        }
    }

    /// Turns a DecodingError into a dotted field path and a short message.
    static func fieldAndMessage(_ error: Error) -> (String, String) {
        func path(_ keys: [CodingKey]) -> String {
            var out = ""
            for k in keys {
                if let i = k.intValue { out += "[\(i)]" } else { out += out.isEmpty ? k.stringValue : ".\(k.stringValue)" }
            }
            return out
        }
        guard let e = error as? DecodingError else { return ("", describe(error)) }
        switch e {
        case .typeMismatch(let t, let ctx):
            return (path(ctx.codingPath), "wrong type (expected \(typeName(t)))")
        case .valueNotFound(let t, let ctx):
            return (path(ctx.codingPath), "missing value (expected \(typeName(t)))")
        case .keyNotFound(let k, let ctx):
            return (path(ctx.codingPath + [k]), "missing")
        case .dataCorrupted(let ctx):
            return (path(ctx.codingPath), ctx.debugDescription)
        @unknown default:
            return ("", describe(error))
        }
    }

    static func typeName(_ t: Any.Type) -> String {
        switch t {
        case is Int.Type, is UInt16.Type, is UInt32.Type: return "an integer"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default:
            let n = "\(t)"
            if n.hasPrefix("Array") { return "a list" }
            if n.hasPrefix("Dictionary") { return "a map" }
            return "an object"
        }
    }

    static func describe(_ error: Error) -> String {
        "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
    }
}

/// A manifest path that cannot be read, or manifest text that was refused.
public enum ManifestError: Error, CustomStringConvertible {
    case notFound(String)
    case unreadable(String)
    /// Texts refused as a whole (ManifestLoader.Result.refusals), one line each.
    case refused([ManifestRefusal])
    public var description: String {
        switch self {
        case .notFound(let p): return "\(p): no such file or directory"
        case .unreadable(let p): return "\(p): cannot read as UTF-8 text"
        case .refused(let list): return list.map(\.description).joined(separator: "\n")
        }
    }
}

/// One JSON document decoded directly (ManifestLoader.parse's JSON path): the object by kind, a
/// List's items, or `failed` when an object does not decode (or has no kind), which sends the
/// whole text to the YAML path.
private struct JSONDocument: Decodable {
    indirect enum Object {
        case service(ServiceResource), endpoints(EndpointsResource), slice(EndpointSliceResource), node(NodeResource)
        case list([JSONDocument]), other(String), failed
    }
    let object: Object
    private enum Key: String, CodingKey { case kind, apiVersion, items }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let kind = (try? c.decodeIfPresent(String.self, forKey: .kind)) ?? nil
        let apiVersion = ((try? c.decodeIfPresent(String.self, forKey: .apiVersion)) ?? nil) ?? ""
        switch kind {
        case let k? where k == "List" || k.hasSuffix("List") && c.contains(.items):
            object = (try? c.decode([JSONDocument].self, forKey: .items)).map { .list($0) } ?? .failed
        case "Service": object = (try? ServiceResource(from: decoder)).map { .service($0) } ?? .failed
        case "Endpoints": object = (try? EndpointsResource(from: decoder)).map { .endpoints($0) } ?? .failed
        case "EndpointSlice" where ManifestLoader.isDiscovery(apiVersion):
            object = (try? EndpointSliceResource(from: decoder)).map { .slice($0) } ?? .failed
        case "Node": object = (try? NodeResource(from: decoder)).map { .node($0) } ?? .failed
        case let k? where !k.isEmpty: object = .other(k)
        default: object = .failed
        }
    }

    var decodedEverything: Bool {
        switch object {
        case .failed: return false
        case .list(let items): return items.allSatisfy(\.decodedEverything)
        default: return true
        }
    }
}
