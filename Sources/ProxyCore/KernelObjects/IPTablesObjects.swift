import KubeModel

// MARK: - iptables (docs/spec.md §3)
//
// Rules are kept as the exact text `iptables-save` prints after `-A CHAIN `, so that desired and
// observed chain bodies compare as strings and the dry-run shows what `iptables-save` will show.

/// The two tables kube-ipvs writes.
public enum IPTablesTable: String, Sendable, Hashable, Comparable, CaseIterable {
    case filter, nat
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// One KUBE-* chain and its whole body, in order.
public struct ChainBody: Sendable, Hashable {
    public var name: String
    /// Rule texts after `-A NAME `, in iptables-save form.
    public var rules: [String]
    public init(name: String, rules: [String]) { self.name = name; self.rules = rules }
}

/// A jump from a built-in chain into a KUBE-* chain; it must be first in the built-in chain.
public struct JumpRule: Sendable, Hashable, Comparable {
    public var table: IPTablesTable
    /// The built-in chain (`PREROUTING`, `INPUT`, ...).
    public var chain: String
    public var target: String
    public var comment: String

    public init(table: IPTablesTable, chain: String, target: String, comment: String) {
        self.table = table; self.chain = chain; self.target = target; self.comment = comment
    }

    /// The rule text after `-A CHAIN `, as iptables-save prints it.
    public var ruleText: String { "-m comment --comment \(IPTablesText.quote(comment)) -j \(target)" }

    public static func < (a: Self, b: Self) -> Bool {
        (a.table, a.chain, a.target) < (b.table, b.chain, b.target)
    }
}

/// The KUBE-* chains and jump rules of one family and table.
public struct TableRules: Sendable, Hashable {
    /// Chains in declaration order (docs/spec.md §3).
    public var chains: [ChainBody]
    /// Jumps in the order they must appear at the top of their built-in chains.
    public var jumps: [JumpRule]
    public init(chains: [ChainBody] = [], jumps: [JumpRule] = []) { self.chains = chains; self.jumps = jumps }

    public func chain(_ name: String) -> ChainBody? { chains.first { $0.name == name } }
}

/// Quoting as iptables-save does it (xtables_save_string).
public enum IPTablesText {
    /// Quotes `s` with double quotes unless it is made only of `[A-Za-z0-9_-]`.
    public static func quote(_ s: String) -> String {
        let plain = !s.isEmpty && s.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 45
        }
        if plain { return s }
        var out = "\""
        for ch in s {
            if ch == "\"" || ch == "\\" || ch == "'" { out.append("\\") }
            out.append(ch)
        }
        out.append("\"")
        return out
    }
}
