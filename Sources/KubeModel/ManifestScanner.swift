import CLibYAML

// MARK: - The first pass over YAML text: syntax, nesting and alias expansion
//
// One walk over libyaml's events, before anything is composed, refuses text that is not YAML,
// that nests deeper than the composer and decoders can recurse safely, or whose aliases expand
// far beyond its own size (the "billion laughs": a few hundred bytes of nested aliases that
// expand to gigabytes once anything walks the composed tree). Go's YAML library refuses the last
// kind the same way. Each node weighs `nodeWeight` plus its scalar's bytes, an alias the weight
// of what it names, so the walk's bookkeeping is linear in the text however far aliases expand.

/// Why manifest text was refused as a whole: nothing in it is used.
public struct ManifestRefusal: Sendable, Hashable, CustomStringConvertible {
    /// The file (or the source name given to `parse`).
    public var source: String
    /// 1-based number of the document in the stream; 0 when the text as a whole is refused.
    public var document: Int
    /// 1-based line of the problem; 0 when it has none.
    public var line: Int
    public var message: String
    public init(source: String, document: Int, line: Int, message: String) {
        self.source = source; self.document = document; self.line = line; self.message = message
    }
    public var description: String {
        var place = source
        if document > 0 { place += ": document \(document)" }
        if line > 0 { place += document > 0 ? ", line \(line)" : ": line \(line)" }
        return "\(place): \(message)"
    }
}

/// The bounds ManifestLoader reads manifest text within.
public enum ManifestLimits {
    /// Largest manifest file (or text) read: about 100k Services with 10 endpoints each as
    /// `kubectl get -o json` writes them, ten times what kube-ipvs is benchmarked at; memory while
    /// loading grows with the text, so an unbounded read (a device, a runaway generator) is refused.
    public static let maxTextBytes = 128 << 20
    /// Deepest nesting of mappings and sequences: Kubernetes objects nest about 20 deep; the
    /// composer and decoders recurse once per level and must stay far from the thread stack's end.
    public static let maxDepth = 128
    /// What aliases may add to a text, on top of its own size (see `aliasBudget`).
    public static let aliasAllowance = 4 << 20
    /// Weight of one node besides its scalar's bytes: roughly what a composed node costs in memory
    /// (a composed node with its tag and line), so that the budget bounds memory, not only text.
    static let nodeWeight = 64

    /// How much alias expansion a text of `bytes` bytes may have: its own size plus 4 MiB of
    /// weight (about 65k aliased nodes). A manifest that uses anchors at all uses a few small ones.
    public static func aliasBudget(textBytes bytes: Int) -> Int { bytes + aliasAllowance }
}

enum ManifestScanner {
    /// The refusal for `text`, or nil when it may be composed.
    static func check(_ text: String, source: String, maxDepth: Int = ManifestLimits.maxDepth,
                      aliasBudget: Int? = nil) -> ManifestRefusal? {
        var text = text
        return text.withUTF8 { buf -> ManifestRefusal? in
            guard let base = buf.baseAddress, buf.count > 0 else { return nil }  // libyaml wants non-null input
            return scan(base, count: buf.count, source: source, maxDepth: maxDepth,
                        aliasBudget: aliasBudget ?? ManifestLimits.aliasBudget(textBytes: buf.count))
        }
    }

    private struct Frame { var weight: Int; var anchor: String? }

    private static func scan(_ base: UnsafePointer<UInt8>, count: Int, source: String, maxDepth: Int,
                             aliasBudget: Int) -> ManifestRefusal? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            return ManifestRefusal(source: source, document: 0, line: 0, message: "out of memory")
        }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(&parser, base, count)

        // Weights saturate far below Int.max: an anchor may stand for an astronomically large tree.
        let cap = Int.max / 4
        func add(_ a: Int, _ b: Int) -> Int { min(cap, a + b) }

        var anchors: [String: Int] = [:]   // kept across documents, as YAMLComposer keeps them
        var frames: [Frame] = []
        var document = 0
        var aliased = 0
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else {
                return syntaxRefusal(&parser, base: base, count: count, source: source, document: max(document, 1))
            }
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1
            var finished: (weight: Int, anchor: String?)? = nil
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_DOCUMENT_START_EVENT:
                document += 1
            case YAML_SCALAR_EVENT:
                finished = (add(ManifestLimits.nodeWeight, event.data.scalar.length), anchorName(event.data.scalar.anchor))
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                guard frames.count < maxDepth else {
                    return ManifestRefusal(source: source, document: max(document, 1), line: line,
                                           message: "nested deeper than \(maxDepth) levels")
                }
                let anchor = event.type == YAML_SEQUENCE_START_EVENT
                    ? anchorName(event.data.sequence_start.anchor) : anchorName(event.data.mapping_start.anchor)
                frames.append(Frame(weight: ManifestLimits.nodeWeight, anchor: anchor))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                if let f = frames.popLast() { finished = (f.weight, f.anchor) }
            case YAML_ALIAS_EVENT:
                let name = anchorName(event.data.alias.anchor) ?? ""
                guard let w = anchors[name] else {
                    return ManifestRefusal(source: source, document: max(document, 1), line: line,
                                           message: "not valid YAML: alias *\(name) names no anchor")
                }
                aliased = add(aliased, w)
                if aliased > aliasBudget {
                    return ManifestRefusal(source: source, document: max(document, 1), line: line,
                                           message: "YAML aliases expand to more than \(aliasBudget) bytes (the text's size plus \(ManifestLimits.aliasAllowance >> 20) MiB); refused as an alias bomb")
                }
                finished = (w, nil)
            default:
                break
            }
            if let (w, anchor) = finished {
                if let anchor { anchors[anchor] = w }
                if !frames.isEmpty { frames[frames.count - 1].weight = add(frames[frames.count - 1].weight, w) }
            }
        }
    }

    private static func anchorName(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let p else { return nil }
        return String(cString: p)
    }

    private static func syntaxRefusal(_ parser: inout yaml_parser_t, base: UnsafePointer<UInt8>, count: Int,
                                      source: String, document: Int) -> ManifestRefusal {
        let problem = parser.problem.map { String(cString: $0) } ?? "unknown problem"
        let context = parser.context.map { String(cString: $0) }
        var line = Int(parser.problem_mark.line) + 1
        if parser.error == YAML_READER_ERROR {
            // Reader errors (a control character, say) carry a byte offset, not a mark.
            let end = min(Int(parser.problem_offset), count)
            line = 1
            for i in 0..<end where base[i] == 0x0A { line += 1 }
        }
        let text = context.map { "\(problem) (\($0))" } ?? problem
        return ManifestRefusal(source: source, document: document, line: line, message: "not valid YAML or JSON: \(text)")
    }
}
