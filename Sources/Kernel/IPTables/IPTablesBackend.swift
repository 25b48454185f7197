#if canImport(Glibc)
import Glibc
#endif
import CIPTCShim
import KubeModel
import ProxyCore
import KernelPort

// MARK: - iptables backend (one family, one flavour)
//
// Legacy flavour: libiptc (libip4tc / libip6tc). Per table and apply, under the xtables lock:
// one iptc_init snapshot, the KUBE-* chains created or flushed and refilled with entries built by
// IPTablesEntryCodec, missing jumps inserted at position 1 of their built-in chains, then ONE
// iptc_commit (one IPT_SO_SET_REPLACE). Observation reads the same snapshot and decodes entries
// back to iptables-save text. Rules outside the codec's grammar are handled, per table and never
// per rule, by the tools: one `iptables-legacy-restore --noflush` to write, or one
// `iptables-legacy-save -t TABLE` to read (a foreign rule with `-i eth0` in INPUT, say, only
// makes observation of that table go through iptables-legacy-save).
//
// nf_tables flavour: one `iptables-nft-restore --noflush` per table with the same text, and
// `iptables-nft-save -t TABLE` to read (libiptc cannot speak nf_tables).
//
// Only owned state changes: the KUBE-* chains named by writeChains (declared, hence flushed, then
// filled) and the jump rules of ensureJump. Other chains and rules are left byte-identical.

/// The iptables backend of one address family.
public final class IPTablesBackend {
    /// How a table was last read or written, for logs and tests.
    public enum Path: String, Sendable { case libiptc, tool }

    public let family: IPFamily
    public let flavor: IPTablesFlavor
    /// Prefix of the chains kube-ipvs owns and observes.
    public let chainPrefix = "KUBE-"
    /// Path used for each table by the last observe/apply.
    public private(set) var lastPath: [IPTablesTable: Path] = [:]

    /// The save and restore tools, resolved once (the plain names on nodes that have only those).
    private let saveTool: String, restoreTool: String
    /// Seconds to wait for the xtables lock (legacy) before the table's apply fails.
    public let lockWait: Double

    public init(family: IPFamily, flavor: IPTablesFlavor, tools: IPTablesTools = .system, lockWait: Double = IPTablesBackend.daemonLockWait) {
        self.family = family; self.flavor = flavor; self.lockWait = lockWait
        // A tool installed under neither name keeps the flavour's own name: running it then fails naming it.
        let named = { (verb: String) in "\(family == .ipv4 ? "iptables" : "ip6tables")-\(flavor.rawValue)-\(verb)" }
        saveTool = tools.tool("save", family: family, flavor: flavor) ?? named("save")
        restoreTool = tools.tool("restore", family: family, flavor: flavor) ?? named("restore")
    }

    /// The daemon waits as long as kube-proxy's `iptables-restore -w 5`: a failed table is retried at
    /// the next sync, and a longer wait would hold back the IPVS changes applied after it.
    public static let daemonLockWait: Double = 5
    /// A one-shot command (`sync`, `cleanup`) waits longer: it has no next sync to retry at.
    public static let commandLockWait: Double = 30

    /// `iptables-nft-save`, `ip6tables-legacy-restore`, ... (or `iptables-save` etc. of that flavour).
    func tool(_ verb: String) -> String { verb == "save" ? saveTool : restoreTool }

    // MARK: - Observing

    /// The KUBE-* chains and all built-in chains of `tables`, rule texts in iptables-save form.
    public func observe(tables: [IPTablesTable] = IPTablesTable.allCases) throws -> [IPTablesTable: ObservedTable] {
        var out: [IPTablesTable: ObservedTable] = [:]
        for t in tables { out[t] = try observe(table: t) }
        return out
    }

    /// One table (see `observe(tables:)`).
    public func observe(table: IPTablesTable) throws -> ObservedTable {
        if flavor == .legacy {
            let h = try LibIPTC(family: family, table: table)
            if let obs = h.observe(prefix: chainPrefix) { lastPath[table] = .libiptc; return obs }
        }
        lastPath[table] = .tool
        return try observeWithTool(table)
    }

    func observeWithTool(_ table: IPTablesTable) throws -> ObservedTable {
        let out = try ExternalCommand.run(tool("save"), ["-t", table.rawValue])
        guard out.status == 0 else {
            throw KernelError(subsystem: .iptables, operation: tool("save"), object: table.rawValue,
                              message: "exit \(out.status): \(out.stderr.trimmingNewlines)")
        }
        return IPTablesSaveText.parse(out.stdout, prefix: chainPrefix)[table] ?? ObservedTable()
    }

    // MARK: - Applying

    /// Applies the writeChains and ensureJump operations of this family in `ops` (others are
    /// ignored): one commit (legacy) or one restore (nft) per table, tables in `IPTablesTable` order.
    @discardableResult
    public func apply(_ ops: [Operation]) throws -> ApplyResult {
        var chains: [IPTablesTable: [ChainBody]] = [:], jumps: [IPTablesTable: [JumpRule]] = [:]
        var removeJumps: [IPTablesTable: [JumpRule]] = [:], removeChains: [IPTablesTable: [String]] = [:]
        var count: [IPTablesTable: Int] = [:]
        for op in ops {
            switch op {
            case let .writeChains(f, t, c) where f == family:
                chains[t, default: []] += c; count[t, default: 0] += 1
            case let .ensureJump(f, j) where f == family:
                jumps[j.table, default: []].append(j); count[j.table, default: 0] += 1
            case let .deleteJump(f, j) where f == family:
                removeJumps[j.table, default: []].append(j); count[j.table, default: 0] += 1
            case let .deleteChains(f, t, names) where f == family:
                removeChains[t, default: []] += names; count[t, default: 0] += 1
            default: continue
            }
        }
        var result = ApplyResult()
        for t in IPTablesTable.allCases where count[t] != nil {
            // A chain written twice keeps its last body, at its first position.
            var order: [String] = [], bodies: [String: [String]] = [:]
            for c in chains[t] ?? [] {
                if bodies[c.name] == nil { order.append(c.name) }
                bodies[c.name] = c.rules
            }
            let merged = order.map { ChainBody(name: $0, rules: bodies[$0]!) }
            do {
                if !merged.isEmpty || jumps[t] != nil { try apply(table: t, chains: merged, jumps: jumps[t] ?? []) }
                if removeJumps[t] != nil || removeChains[t] != nil {
                    try remove(table: t, jumps: removeJumps[t] ?? [], chains: removeChains[t] ?? [])
                }
                result.applied += count[t]!
                result.requestsSent += 1
            } catch let e as KernelError {
                result.errors.append(e)
            }
        }
        if !result.errors.isEmpty {
            var partial = result; partial.errors = []
            throw KernelBatchError(errors: result.errors, partial: partial)
        }
        return result
    }

    func apply(table: IPTablesTable, chains: [ChainBody], jumps: [JumpRule]) throws {
        if flavor == .legacy {
            // Every rule must be inside the codec's grammar, else the whole table goes through the tool.
            var parsed: [(String, [IPTablesRule])]? = []
            for c in chains {
                let rules = c.rules.map { IPTablesRule(text: $0, family: family) }
                if rules.contains(where: { $0 == nil }) { parsed = nil; break }
                parsed?.append((c.name, rules.map { $0! }))
            }
            let parsedJumps = jumps.map { IPTablesRule(text: $0.ruleText, family: family) }
            if let parsed, !parsedJumps.contains(where: { $0 == nil }) {
                let lock = try XtablesLock(timeout: lockWait)
                defer { lock.release() }
                let h = try LibIPTC(family: family, table: table)
                try h.write(chains: parsed, jumps: zip(jumps, parsedJumps.map { $0! }).map { ($0.0, $0.1) })
                try h.commit()
                lastPath[table] = .libiptc
                return
            }
        }
        lastPath[table] = .tool
        var insert: [JumpRule] = []
        if !jumps.isEmpty {
            let current = try observeWithTool(table)
            var present = current.builtinChains
            for j in jumps where !(present[j.chain] ?? []).contains(j.ruleText) {
                insert.append(j); present[j.chain, default: []].insert(j.ruleText, at: 0)
            }
        }
        // A jump needs its target chain: declare (create) missing KUBE-* targets that are not written.
        let written = Set(chains.map(\.name))
        let input = IPTablesSaveText.restoreInput(table: table, chains: chains, insertJumps: insert,
                                                  ensureChains: Set(insert.map(\.target)).subtracting(written).sorted())
        let args = flavor == .legacy ? ["--noflush", "-w", "5"] : ["--noflush"]
        let out = try ExternalCommand.run(tool("restore"), args, input: input)
        guard out.status == 0 else {
            throw KernelError(subsystem: .iptables, operation: tool("restore"), object: "\(family.rawValue) \(table.rawValue)",
                              message: "exit \(out.status): \(out.stderr.trimmingNewlines)")
        }
    }
}

extension IPTablesBackend {
    // MARK: - Removing (cleanup)

    /// Deletes one copy of each jump in `jumps` (a rule of its built-in chain with exactly that
    /// text), then flushes every chain of `chains` and deletes them, in one commit (legacy) or one
    /// `iptables-nft-restore --noflush` (nft). A jump that is not there any more is skipped; a
    /// chain still referenced by another rule makes the whole table fail, changing nothing.
    func remove(table: IPTablesTable, jumps: [JumpRule], chains: [String]) throws {
        if flavor == .legacy {
            let lock = try XtablesLock(timeout: lockWait)
            defer { lock.release() }
            let h = try LibIPTC(family: family, table: table)
            try h.remove(jumps: jumps, chains: chains)
            try h.commit()
            lastPath[table] = .libiptc
            return
        }
        lastPath[table] = .tool
        // -D of a missing rule fails the restore: delete only the copies that are there now.
        let current = try observeWithTool(table)
        var present = current.builtinChains
        var delete: [JumpRule] = []
        for j in jumps {
            guard let i = present[j.chain]?.firstIndex(of: j.ruleText) else { continue }
            present[j.chain]!.remove(at: i)
            delete.append(j)
        }
        let existing = Set(current.kubeChains.keys)
        let input = IPTablesSaveText.removeInput(table: table, deleteJumps: delete, chains: chains.filter(existing.contains))
        let out = try ExternalCommand.run(tool("restore"), ["--noflush"], input: input)
        guard out.status == 0 else {
            throw KernelError(subsystem: .iptables, operation: tool("restore"), object: "\(family.rawValue) \(table.rawValue)",
                              message: "exit \(out.status): \(out.stderr.trimmingNewlines)")
        }
    }
}

// MARK: - Both families behind NodeKernel's RulesBackend

/// The iptables backends of several families, as NodeKernel uses them.
public final class IPTablesFamilies: RulesBackend {
    public let backends: [IPFamily: IPTablesBackend]

    /// One backend per family, all of `flavor` (detect it once with `IPTablesFlavor.detect()`).
    public init(families: Set<IPFamily>, flavor: IPTablesFlavor, lockWait: Double = IPTablesBackend.daemonLockWait) {
        var b: [IPFamily: IPTablesBackend] = [:]
        for f in families { b[f] = IPTablesBackend(family: f, flavor: flavor, lockWait: lockWait) }
        backends = b
    }

    public func observeTables(families: Set<IPFamily>) throws -> [IPFamily: [IPTablesTable: ObservedTable]] {
        var out: [IPFamily: [IPTablesTable: ObservedTable]] = [:]
        for f in families.sorted() {
            guard let b = backends[f] else { continue }
            out[f] = try b.observe()
        }
        return out
    }

    public func apply(_ ops: [Operation]) throws -> ApplyResult {
        var result = ApplyResult()
        for f in backends.keys.sorted() {
            do { result.merge(try backends[f]!.apply(ops)) } catch let e as KernelBatchError {
                result.merge(e.partial); result.errors += e.errors
            }
        }
        if !result.errors.isEmpty {
            var partial = result; partial.errors = []
            throw KernelBatchError(errors: result.errors, partial: partial)
        }
        return result
    }
}

// MARK: - libiptc handle

/// One libiptc snapshot of a table (see kiptc.h).
final class LibIPTC {
    let family: IPFamily
    let table: IPTablesTable
    private let h: OpaquePointer
    private var setNames: [UInt16: String] = [:]
    private var setIndexes: [String: UInt16] = [:]

    init(family: IPFamily, table: IPTablesTable) throws {
        self.family = family; self.table = table
        var err = [CChar](repeating: 0, count: 256)
        guard let h = kiptc_open(family == .ipv4 ? 4 : 6, table.rawValue, &err, err.count) else {
            throw KernelError(subsystem: .iptables, operation: "iptc_init", object: "\(family.rawValue) \(table.rawValue)",
                              errno: errno, message: LibIPTC.string(err))
        }
        self.h = h
    }

    deinit { kiptc_close(h) }

    /// sizeof(struct ipt_entry / ip6t_entry) as the C compiler sees it (codec layout check).
    static func cEntrySize(_ f: IPFamily) -> Int { kiptc_entry_size(f == .ipv4 ? 4 : 6) }
    /// offsetof(.., target_offset) as the C compiler sees it.
    static func cTargetOffsetField(_ f: IPFamily) -> Int { kiptc_target_offset_field(f == .ipv4 ? 4 : 6) }

    static func string(_ buf: [CChar]) -> String {
        String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func chains() -> [String] {
        var out: [String] = []
        var c = kiptc_first_chain(h)
        while let p = c { out.append(String(cString: p)); c = kiptc_next_chain(h) }
        return out
    }

    /// Raw entries of `chain` with their target labels.
    func entries(_ chain: String) -> [([UInt8], String)] {
        var out: [([UInt8], String)] = []
        var size = 0
        var label: UnsafePointer<CChar>?
        var e = kiptc_first_rule(h, chain, &size, &label)
        while let p = e {
            out.append((Array(UnsafeRawBufferPointer(start: p, count: size)), label.map { String(cString: $0) } ?? ""))
            e = kiptc_next_rule(h, p, &size, &label)
        }
        return out
    }

    func setName(_ index: UInt16) -> String? {
        if let n = setNames[index] { return n }
        var buf = [CChar](repeating: 0, count: 64)
        guard kiptc_set_name(index, &buf, buf.count) == 0 else { return nil }
        let n = LibIPTC.string(buf)
        setNames[index] = n
        return n
    }

    func setIndex(_ name: String) throws -> UInt16 {
        if let i = setIndexes[name] { return i }
        var idx: UInt16 = 0
        var err = [CChar](repeating: 0, count: 256)
        guard kiptc_set_index(name, &idx, &err, err.count) == 0 else {
            throw KernelError(subsystem: .iptables, operation: "ipset index", object: name, errno: errno, message: LibIPTC.string(err))
        }
        setIndexes[name] = idx
        return idx
    }

    /// Decoded rule texts of `chain`; nil when some entry is outside the codec's grammar.
    func ruleTexts(_ chain: String) -> [String]? {
        var out: [String] = []
        for (bytes, label) in entries(chain) {
            guard let r = IPTablesEntryCodec.decode(bytes, targetLabel: label, family: family, setName: setName) else { return nil }
            out.append(r.saveText)
        }
        return out
    }

    /// The observed table, or nil when a relevant rule cannot be decoded.
    func observe(prefix: String) -> ObservedTable? {
        var obs = ObservedTable()
        for c in chains() {
            let builtin = kiptc_is_builtin(h, c) != 0
            guard builtin || c.hasPrefix(prefix) else { continue }
            guard let texts = ruleTexts(c) else { return nil }
            if builtin { obs.builtinChains[c] = texts } else { obs.kubeChains[c] = texts }
        }
        return obs
    }

    /// Creates or flushes `chains`, fills them, and inserts the missing jumps at position 0.
    func write(chains: [(String, [IPTablesRule])], jumps: [(JumpRule, IPTablesRule)]) throws {
        // All chains first: a rule may jump to a chain written after it.
        for (name, _) in chains {
            if kiptc_is_chain(h, name) != 0 {
                guard kiptc_flush_chain(h, name) == 0 else { throw error("flush chain", name) }
            } else {
                guard kiptc_create_chain(h, name) == 0 else { throw error("create chain", name) }
            }
        }
        for (j, _) in jumps where kiptc_is_chain(h, j.target) == 0 {
            guard kiptc_create_chain(h, j.target) == 0 else { throw error("create chain", j.target) }
        }
        for (name, rules) in chains {
            for r in rules {
                let e = try IPTablesEntryCodec.encode(r, setIndex: setIndex)
                let ok = e.withUnsafeBytes { kiptc_append(h, name, $0.baseAddress, e.count) }
                guard ok == 0 else { throw error("append rule", "\(name) \(r.saveText)") }
            }
        }
        for (j, r) in jumps {
            // Present anywhere in the chain (compared as iptables-save text): leave it.
            let present = entries(j.chain).contains { bytes, label in
                IPTablesEntryCodec.decode(bytes, targetLabel: label, family: family, setName: setName)?.saveText == j.ruleText
            }
            if present { continue }
            let e = try IPTablesEntryCodec.encode(r, setIndex: setIndex)
            let ok = e.withUnsafeBytes { kiptc_insert(h, j.chain, $0.baseAddress, e.count, 0) }
            guard ok == 0 else { throw error("insert rule", "\(j.chain) \(j.ruleText)") }
        }
    }

    /// Deletes one copy of each jump (found by its iptables-save text; entries the codec cannot
    /// decode are foreign and skipped), then flushes and deletes `chains` that exist.
    func remove(jumps: [JumpRule], chains: [String]) throws {
        for j in jumps where kiptc_is_chain(h, j.chain) != 0 {
            let texts = entries(j.chain).map { bytes, label in
                IPTablesEntryCodec.decode(bytes, targetLabel: label, family: family, setName: setName)?.saveText
            }
            guard let pos = texts.firstIndex(where: { $0 == j.ruleText }) else { continue }
            guard kiptc_delete_num(h, j.chain, UInt32(pos)) == 0 else { throw error("delete rule", "\(j.chain) \(j.ruleText)") }
        }
        let existing = chains.filter { kiptc_is_chain(h, $0) != 0 }
        // All flushed before any is deleted: they jump to one another.
        for c in existing { guard kiptc_flush_chain(h, c) == 0 else { throw error("flush chain", c) } }
        for c in existing { guard kiptc_delete_chain(h, c) == 0 else { throw error("delete chain", c) } }
    }

    func commit() throws {
        guard kiptc_commit(h) == 0 else { throw error("iptc_commit", "") }
    }

    private func error(_ op: String, _ object: String) -> KernelError {
        let e = errno
        return KernelError(subsystem: .iptables, operation: op,
                           object: "\(family.rawValue) \(table.rawValue)\(object.isEmpty ? "" : " ")\(object)",
                           errno: e, message: String(cString: kiptc_error(h)))
    }
}

extension String {
    /// Without trailing newlines (tool output in error messages).
    var trimmingNewlines: String {
        var s = Substring(self)
        while s.last == "\n" || s.last == "\r" { s = s.dropLast() }
        return String(s)
    }
}
