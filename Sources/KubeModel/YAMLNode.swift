// MARK: - A composed YAML document: mappings, sequences and scalars
//
// What the manifest, configuration and kubeconfig readers walk. Aliases are resolved while
// composing (an alias is the node its anchor names), so a tree has no alias nodes. Scalars keep
// their text, style and explicit tag: resolving a plain scalar (null, bool, number) is the
// reader's business, as each follows its own upstream's rules.

/// A YAML node: a scalar, a sequence or a mapping (pairs in document order; duplicate keys are
/// kept, for the reader to report).
public indirect enum YAMLNode: Sendable, Hashable {
    case scalar(Scalar)
    case sequence([YAMLNode])
    case mapping(Mapping)

    /// A scalar: its text, how it was written, its explicit tag and where it starts.
    public struct Scalar: Sendable, Hashable {
        /// How a scalar was written (libyaml's scalar styles).
        public enum Style: Sendable, Hashable { case plain, singleQuoted, doubleQuoted, literal, folded }
        public var string: String
        public var style: Style
        /// The explicit tag, expanded (`!!str` is `tag:yaml.org,2002:str`); nil when there is none.
        public var tag: String?
        /// 1-based line of the scalar's start.
        public var line: Int
        public init(_ string: String, style: Style = .plain, tag: String? = nil, line: Int = 0) {
            self.string = string; self.style = style; self.tag = tag; self.line = line
        }

        /// Whether YAML's implicit resolution applies (a plain scalar without a tag, or one tagged
        /// as a null, bool, int or float): otherwise the scalar is a string whatever its text.
        public var isImplicit: Bool {
            guard let tag else { return style == .plain }
            return ["null", "bool", "int", "float"].map { YAMLNode.yamlTagPrefix + $0 }.contains(tag)
        }

        /// Whether this is an implicit null (`~`, `null`, `Null`, `NULL` or nothing), as the YAML
        /// 1.1 core schema resolves it, or is tagged `!!null`.
        public var isNull: Bool {
            if tag == YAMLNode.yamlTagPrefix + "null" { return true }
            return isImplicit && ["", "~", "null", "Null", "NULL"].contains(string)
        }
    }

    /// A mapping's pairs, in document order.
    public struct Mapping: Sendable, Hashable, RandomAccessCollection {
        /// One key and its value.
        public struct Pair: Sendable, Hashable { public var key: YAMLNode; public var value: YAMLNode }
        public var pairs: [Pair]
        public init(_ pairs: [Pair]) { self.pairs = pairs }
        public var startIndex: Int { pairs.startIndex }
        public var endIndex: Int { pairs.endIndex }
        public subscript(i: Int) -> (key: YAMLNode, value: YAMLNode) { (pairs[i].key, pairs[i].value) }
        /// The value of the last pair whose key is the scalar `key` (a later duplicate wins).
        public subscript(key: String) -> YAMLNode? {
            pairs.last(where: { $0.key.string == key })?.value
        }
    }

    /// The prefix `!!` expands to.
    public static let yamlTagPrefix = "tag:yaml.org,2002:"

    /// The scalar's text; nil for a sequence or a mapping.
    public var string: String? { if case .scalar(let s) = self { return s.string }; return nil }
    /// The mapping; nil for a scalar or a sequence.
    public var mapping: Mapping? { if case .mapping(let m) = self { return m }; return nil }
    /// The sequence's items; nil for a scalar or a mapping.
    public var sequence: [YAMLNode]? { if case .sequence(let s) = self { return s }; return nil }
}
