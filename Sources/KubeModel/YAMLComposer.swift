import CLibYAML

// MARK: - libyaml's events composed into YAMLNode trees
//
// libyaml parses; this builds the tree, iteratively (nesting depth costs no stack), resolving
// aliases to the nodes their anchors name. A resolved alias shares its node's storage, but every
// walk over the tree expands it, so the nodes a text expands to are counted (an alias counts all
// the nodes of what it names) and composing stops past a bound: a few hundred bytes of nested
// aliases (the "billion laughs") would otherwise expand to billions of nodes in the readers.

/// A YAML text that cannot be composed: a syntax error, an unknown alias, a duplicate key, too
/// deep or too many nodes. `line` and `column` are 1-based (0 when there is no position).
public struct YAMLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// 1-based number of the document in the stream where composing stopped.
    public var document: Int
    public var line: Int
    public var column: Int
    public var message: String
    public var description: String { line > 0 ? "line \(line), column \(column): \(message)" : message }
}

/// Composes YAML text (one document or a stream of them) into YAMLNode trees.
public struct YAMLComposer: Sendable {
    /// Whether a mapping may repeat a scalar key (the configuration reader reports duplicates
    /// itself); otherwise a duplicate is a YAMLError, as in Kubernetes' own YAML reading.
    public var allowsDuplicateKeys = false
    /// Deepest nesting of mappings and sequences (the readers recurse once per level).
    public var maxDepth = ManifestLimits.maxDepth
    /// Most nodes a text may expand to, aliases counted expanded; nil for the default, the text's
    /// size in bytes plus about a million (a text without aliases has fewer nodes than bytes).
    public var maxNodes: Int? = nil

    public init() {}

    /// The one document of `text`; nil when the text has none. A second document is an error.
    public func compose(_ text: String) throws -> YAMLNode? {
        let docs = try composeAll(text, limit: 2)
        guard docs.count <= 1 else {
            throw YAMLError(document: 2, line: 0, column: 0, message: "expected a single document, but found another document")
        }
        return docs.first
    }

    /// Every document of `text`, in order. An error names the document it stopped in.
    public func composeAll(_ text: String) throws -> [YAMLNode] { try composeAll(text, limit: Int.max) }

    private func composeAll(_ text: String, limit: Int) throws -> [YAMLNode] {
        var text = text
        return try text.withUTF8 { buf throws -> [YAMLNode] in
            guard let base = buf.baseAddress, buf.count > 0 else { return [] }  // libyaml wants non-null input
            var run = Run(options: self, base: base, count: buf.count)
            return try run.documents(limit: limit)
        }
    }

    /// One composing pass: the parser and the state across its events.
    private struct Run {
        let options: YAMLComposer
        let base: UnsafePointer<UInt8>
        let count: Int

        private enum Frame {
            case sequence(items: [YAMLNode], anchor: String?, nodes: Int)
            // `keys`: the scalar keys so far, for the duplicate check (a scan of `pairs` per key
            // would make a mapping of many keys quadratic).
            case mapping(pairs: [YAMLNode.Mapping.Pair], keys: Set<String>, key: YAMLNode?, keyMark: (Int, Int), anchor: String?, nodes: Int)
        }

        init(options: YAMLComposer, base: UnsafePointer<UInt8>, count: Int) {
            self.options = options; self.base = base; self.count = count
        }

        mutating func documents(limit: Int) throws -> [YAMLNode] {
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else {
                throw YAMLError(document: 1, line: 0, column: 0, message: "out of memory")
            }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(&parser, base, count)

            let maxNodes = options.maxNodes ?? (count + (1 << 20))
            // Anchors stay defined across documents, as the manifest scanner counts them.
            var anchors: [String: (node: YAMLNode, nodes: Int)] = [:]
            var frames: [Frame] = []
            var docs: [YAMLNode] = []
            var root: YAMLNode? = nil
            var total = 0
            var event = yaml_event_t()
            while true {
                let document = docs.count + 1
                guard yaml_parser_parse(&parser, &event) == 1 else { throw syntaxError(&parser, document: document) }
                defer { yaml_event_delete(&event) }
                let line = Int(event.start_mark.line) + 1, column = Int(event.start_mark.column) + 1
                func fail(_ message: String) -> YAMLError { YAMLError(document: document, line: line, column: column, message: message) }

                var finished: (node: YAMLNode, nodes: Int, anchor: String?)? = nil
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return docs
                case YAML_DOCUMENT_START_EVENT:
                    root = nil
                case YAML_DOCUMENT_END_EVENT:
                    // An empty document is an empty plain scalar, as libyaml's own composer makes it.
                    docs.append(root ?? .scalar(.init("", line: line)))
                    if docs.count >= limit { return docs }
                case YAML_SCALAR_EVENT:
                    let s = event.data.scalar
                    let value = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
                    let tag = s.quoted_implicit == 1 || s.plain_implicit == 1 ? nil : Self.string(s.tag)
                    let scalar = YAMLNode.Scalar(value, style: Self.style(s.style), tag: tag, line: line)
                    finished = (.scalar(scalar), 1, Self.string(s.anchor))
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    guard frames.count < options.maxDepth else { throw fail("nested deeper than \(options.maxDepth) levels") }
                    if event.type == YAML_SEQUENCE_START_EVENT {
                        frames.append(.sequence(items: [], anchor: Self.string(event.data.sequence_start.anchor), nodes: 1))
                    } else {
                        frames.append(.mapping(pairs: [], keys: [], key: nil, keyMark: (0, 0), anchor: Self.string(event.data.mapping_start.anchor), nodes: 1))
                    }
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    switch frames.popLast() {
                    case .sequence(let items, let anchor, let nodes)?: finished = (.sequence(items), nodes, anchor)
                    case .mapping(let pairs, _, _, _, let anchor, let nodes)?: finished = (.mapping(.init(pairs)), nodes, anchor)
                    case nil: break
                    }
                case YAML_ALIAS_EVENT:
                    let name = Self.string(event.data.alias.anchor) ?? ""
                    guard let target = anchors[name] else { throw fail("alias *\(name) names no anchor") }
                    finished = (target.node, target.nodes, nil)
                default:
                    break
                }
                guard let (node, nodes, anchor) = finished else { continue }
                // Counted when a node is finished; a sequence or mapping's own count includes its items.
                if event.type == YAML_SCALAR_EVENT || event.type == YAML_ALIAS_EVENT {
                    total = total &+ nodes
                } else {
                    total = total &+ 1
                }
                guard total >= 0, total <= maxNodes else {
                    throw fail("expands to more than \(maxNodes) nodes (aliases counted expanded); refused as an alias bomb")
                }
                if let anchor { anchors[anchor] = (node, nodes) }
                guard let top = frames.popLast() else { root = node; continue }
                switch top {
                case .sequence(var items, let a, let n):
                    items.append(node)
                    frames.append(.sequence(items: items, anchor: a, nodes: min(Int.max / 4, n + nodes)))
                case .mapping(var pairs, var keys, let key, let keyMark, let a, let n):
                    if let key {
                        if !options.allowsDuplicateKeys, case .scalar(let k) = key, !keys.insert(k.string).inserted {
                            throw YAMLError(document: document, line: keyMark.0, column: keyMark.1,
                                            message: "duplicate key \"\(k.string)\" in a mapping")
                        }
                        pairs.append(.init(key: key, value: node))
                        frames.append(.mapping(pairs: pairs, keys: keys, key: nil, keyMark: (0, 0), anchor: a, nodes: min(Int.max / 4, n + nodes)))
                    } else {
                        frames.append(.mapping(pairs: pairs, keys: keys, key: node, keyMark: (line, column), anchor: a, nodes: min(Int.max / 4, n + nodes)))
                    }
                }
            }
        }

        private func syntaxError(_ parser: inout yaml_parser_t, document: Int) -> YAMLError {
            let problem = parser.problem.map { String(cString: $0) } ?? "unknown problem"
            let context = parser.context.map { String(cString: $0) }
            var line = Int(parser.problem_mark.line) + 1, column = Int(parser.problem_mark.column) + 1
            if parser.error == YAML_READER_ERROR {
                // Reader errors (a control character, say) carry a byte offset, not a mark.
                let end = min(Int(parser.problem_offset), count)
                line = 1; column = 1
                for i in 0..<end { if base[i] == 0x0A { line += 1; column = 1 } else { column += 1 } }
            }
            return YAMLError(document: document, line: line, column: column,
                             message: context.map { "\(problem) (\($0))" } ?? problem)
        }

        private static func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            p.map { String(cString: $0) }
        }

        private static func style(_ s: yaml_scalar_style_t) -> YAMLNode.Scalar.Style {
            switch s {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: return .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: return .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: return .literal
            case YAML_FOLDED_SCALAR_STYLE: return .folded
            default: return .plain
            }
        }
    }
}
