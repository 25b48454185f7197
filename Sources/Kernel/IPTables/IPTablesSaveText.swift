import KubeModel
import ProxyCore

// MARK: - iptables-save text <-> ObservedTable, and the restore text kube-ipvs feeds
//
// Pure, so that it is tested on captured `iptables-save` output
// (Tests/KernelTests/Fixtures/iptables-save-*.txt).

/// Parsing `iptables-save` output and building `iptables-restore --noflush` input.
public enum IPTablesSaveText {
    /// Tables in `text`: for each, the KUBE-* chain bodies (chains whose name starts with
    /// `prefix`) and the rules of every built-in chain (those with a policy), as rule texts after
    /// `-A CHAIN `. Chains of other tables and foreign user chains are ignored.
    public static func parse(_ text: String, prefix: String = "KUBE-") -> [IPTablesTable: ObservedTable] {
        var out: [IPTablesTable: ObservedTable] = [:]
        var table: IPTablesTable?
        var current = ObservedTable()
        var builtins: Set<String> = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.hasPrefix("*") {
                table = IPTablesTable(rawValue: String(line.dropFirst()))
                current = ObservedTable(); builtins = []
            } else if line == "COMMIT" {
                if let t = table { out[t] = current }
                table = nil
            } else if table != nil, line.hasPrefix(":") {
                let words = line.dropFirst().split(separator: " ")
                guard words.count >= 2 else { continue }
                let name = String(words[0])
                if words[1] != "-" { builtins.insert(name); current.builtinChains[name] = [] }
                else if name.hasPrefix(prefix) { current.kubeChains[name] = [] }
            } else if table != nil, line.hasPrefix("-A ") {
                let rest = line.dropFirst(3)
                guard let sp = rest.firstIndex(of: " ") else {
                    // A rule with no matches and no target: `-A CHAIN`.
                    let name = String(rest)
                    if builtins.contains(name) { current.builtinChains[name, default: []].append("") }
                    else if name.hasPrefix(prefix) { current.kubeChains[name, default: []].append("") }
                    continue
                }
                let name = String(rest[..<sp]), rule = String(rest[rest.index(after: sp)...])
                if builtins.contains(name) { current.builtinChains[name, default: []].append(rule) }
                else if name.hasPrefix(prefix) { current.kubeChains[name, default: []].append(rule) }
            }
        }
        return out
    }

    /// `iptables-restore --noflush` input for one table: declaring a chain creates it or, when it
    /// exists, flushes it (so each written chain gets exactly `rules`); each jump in `insertJumps`
    /// is inserted at position 1 of its built-in chain, in order. Nothing else is touched.
    /// `ensureChains` are declared too, for jumps whose target chain is not written (these must be
    /// chains that are missing: declaring an existing one flushes it).
    public static func restoreInput(table: IPTablesTable, chains: [ChainBody], insertJumps: [JumpRule],
                                    ensureChains: [String] = []) -> String {
        var s = "*\(table.rawValue)\n"
        var seen = Set<String>()
        for c in chains where seen.insert(c.name).inserted { s += ":\(c.name) - [0:0]\n" }
        for c in ensureChains where seen.insert(c).inserted { s += ":\(c) - [0:0]\n" }
        for c in chains {
            for r in c.rules { s += "-A \(c.name) \(r)\n" }
        }
        for j in insertJumps { s += "-I \(j.chain) 1 \(j.ruleText)\n" }
        s += "COMMIT\n"
        return s
    }

    /// `iptables-restore --noflush` input that deletes one copy of each jump, then flushes every
    /// chain of `chains` and deletes them (cleanup). Every jump must be present: `-D` of a missing
    /// rule fails the whole restore.
    public static func removeInput(table: IPTablesTable, deleteJumps: [JumpRule], chains: [String]) -> String {
        var s = "*\(table.rawValue)\n"
        for j in deleteJumps { s += "-D \(j.chain) \(j.ruleText)\n" }
        for c in chains { s += "-F \(c)\n" }
        for c in chains { s += "-X \(c)\n" }
        s += "COMMIT\n"
        return s
    }
}
