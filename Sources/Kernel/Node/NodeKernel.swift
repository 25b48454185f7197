import KubeModel
import ProxyCore
import KernelPort
#if canImport(Glibc)
import Glibc
#endif

// MARK: - The node's kernel as one backend
//
// NodeKernel reads the whole observed state (modules, sysctls, kube-ipvs0 and its addresses, IPVS,
// KUBE-* ipsets, KUBE-* iptables) and applies a Plan through the per-subsystem backends.
//
// Apply order (whatever the order inside the plan, which is kept within each group):
//   1. prerequisites (modules, sysctls)   2. link (createDummyLink)   3. sets (create, add entries)
//   4. iptables (chains, jumps)           5. addresses (add)          6. IPVS adds, updates, timeouts
//   7. deletions (real servers, virtual servers, addresses, set entries; for cleanup also jumps,
//      chains, sets and the link), in plan order, consecutive ones of one subsystem batched together.
// Creations come first so that every reference (rule -> set, virtual server -> bound VIP) exists
// before it is used; deletions come last so that traffic to what goes away keeps working until the
// replacement is in place.
//
// A failing entry does not stop the others: per-request failures (KernelBatchError) of a phase
// are collected and the next phases still run; the apply then throws `ApplyFailure` carrying the
// report. A module or sysctl that fails is such a failure too: a read-only sysctl must not keep
// every Service unprogrammed, and what needs a missing module fails by itself. A failure that
// leaves the state unknown (socket errors) stops at once.
//
// Conntrack is not part of a Plan (entries are not desired state): after an apply, the caller passes
// the filters of ConntrackCleanup to `clearConntrack`, which deletes the stale UDP entries.

// MARK: - Seams for the ipset and iptables backends

/// The ipset backend as NodeKernel uses it.
public protocol SetsBackend: AnyObject {
    /// KUBE-* sets of the given families, by family and name.
    func observeSets(families: Set<IPFamily>) throws -> [IPFamily: [String: ObservedSet]]
    /// Applies the set operations of `ops` (others ignored).
    func apply(_ ops: [Operation]) throws -> ApplyResult
}

/// The iptables backend as NodeKernel uses it.
public protocol RulesBackend: AnyObject {
    /// KUBE-* chains and the built-in chains of the given families, by family and table.
    func observeTables(families: Set<IPFamily>) throws -> [IPFamily: [IPTablesTable: ObservedTable]]
    /// Applies the iptables operations of `ops` (others ignored).
    func apply(_ ops: [Operation]) throws -> ApplyResult
}

extension IPSetBackend: SetsBackend {
    public func observeSets(families: Set<IPFamily>) throws -> [IPFamily: [String: ObservedSet]] {
        try observe().filter { families.contains($0.key) }
    }
}

// MARK: - NodeKernel

/// The real node: IPVS over generic netlink, kube-ipvs0 over rtnetlink, modules and sysctls through
/// /proc and /sys, plus the ipset and iptables backends given at construction.
public final class NodeKernel: KernelBackend {
    public let prerequisites: Prerequisites
    public let link: LinkBackend
    public let sets: SetsBackend?
    public let rules: RulesBackend?
    /// Sysctls read by `observe` (dotted names); names set by applied plans are added.
    public private(set) var sysctlNames: Set<String>
    /// Bring kube-ipvs0 up when creating it (upstream leaves it down; VIPs work either way).
    public var linkUp: Bool
    private var ipvsBackend: IPVSBackend?
    private var conntrackClient: Conntrack?
    /// Scheduler probes so far: whether each was missing, and when it was probed.
    private var schedulerProbes: [String: (missing: Bool, at: ContinuousClock.Instant)] = [:]
    /// How long a scheduler found missing stays so before it is probed again (a module installed
    /// later is then picked up without a restart); an available one is never probed again.
    public var schedulerRecheckInterval: Duration = .seconds(300)

    /// Opens the rtnetlink socket; IPVS is opened on first use (ip_vs may not be loaded yet).
    /// Pass nil for `sets` or `rules` to run without that subsystem (its operations then fail).
    public init(sets: SetsBackend?, rules: RulesBackend?, linkName: String = dummyLinkName, linkUp: Bool = false,
                sysctlNames: [String] = Prerequisites.specSysctls(strictARP: true), prerequisites: Prerequisites = Prerequisites()) throws {
        self.prerequisites = prerequisites
        self.link = try LinkBackend(linkName: linkName)
        self.sets = sets
        self.rules = rules
        self.sysctlNames = Set(sysctlNames)
        self.linkUp = linkUp
    }

    /// The IPVS backend, opened now if needed; nil when the kernel has no IPVS family yet.
    public func ipvs() throws -> IPVSBackend? {
        if let b = ipvsBackend { return b }
        do {
            ipvsBackend = try IPVSBackend()
        } catch let e as KernelError where e.subsystem == .ipvs && e.errno == ENOENT {
            return nil
        }
        return ipvsBackend
    }

    /// The conntrack client, opened on first use.
    public func conntrack() throws -> Conntrack {
        if let c = conntrackClient { return c }
        let c = try Conntrack()
        conntrackClient = c
        return c
    }

    /// The schedulers of `names` the kernel lacks (`Prerequisites.missingSchedulers`), each probed
    /// once (a missing one again after `schedulerRecheckInterval`): a modprobe per sync would not do.
    public func unavailableSchedulers(_ names: Set<String>) -> Set<String> {
        let now = ContinuousClock.now
        let due = names.filter { n in
            guard let p = schedulerProbes[n] else { return true }
            return p.missing && now - p.at >= schedulerRecheckInterval
        }
        if !due.isEmpty {
            let missing = prerequisites.missingSchedulers(due)
            for n in due { schedulerProbes[n] = (missing.contains(n), now) }
        }
        return names.filter { schedulerProbes[$0]?.missing == true }
    }

    // MARK: - Observe

    public func observe(families: Set<IPFamily>) throws -> ObservedState {
        var state = ObservedState()
        state.loadedModules = prerequisites.loadedModules()
        state.sysctls = prerequisites.readSysctls(sysctlNames.sorted())
        for f in families { state.families[f] = ObservedFamily() }

        state.dummyLinkExists = try link.lookupLink() != nil
        for a in try link.listAddresses() where families.contains(a.address.family) {
            state.families[a.address.family, default: ObservedFamily()].boundAddresses.insert(a.address)
        }
        if let ipvs = try ipvs() {
            state.ipvsTimeouts = try ipvs.getTimeouts()
            for (f, servers) in try ipvs.observe(families: families) {
                state.families[f, default: ObservedFamily()].virtualServers = servers
            }
        }
        if let sets {
            for (f, s) in try sets.observeSets(families: families) { state.families[f, default: ObservedFamily()].ipsets = s }
        }
        if let rules {
            // One family at a time: ip6_tables may be missing while ip_tables is loaded.
            for family in families.sorted() {
                do {
                    for (f, t) in try rules.observeTables(families: [family]) { state.families[f, default: ObservedFamily()].tables = t }
                } catch let e as KernelError where NodeKernel.isXtablesCoreMissing(e) {
                    // ip_tables / ip6_tables not loaded (libiptc: ENOPROTOOPT): no table exists, so none has rules.
                    state.families[family, default: ObservedFamily()].tables = [:]
                }
            }
        }
        return state
    }

    /// libiptc reports ENOPROTOOPT when the x_tables core module of the family is not loaded (the
    /// iptables tools modprobe it themselves; libiptc does not).
    static func isXtablesCoreMissing(_ e: KernelError) -> Bool {
        e.subsystem == .iptables && e.errno == ENOPROTOOPT
    }

    /// Applies iptables operations; when the x_tables core modules are missing, loads them (as the
    /// iptables tools would) and tries once more.
    private func applyRules(_ rules: RulesBackend, _ ops: [Operation]) throws -> ApplyResult {
        do {
            return try rules.apply(ops)
        } catch let e as KernelError where NodeKernel.isXtablesCoreMissing(e) {
            try prerequisites.loadModule("ip_tables")
            try? prerequisites.loadModule("ip6_tables")
            return try rules.apply(ops)
        } catch let b as KernelBatchError where !b.errors.isEmpty && b.errors.allSatisfy(NodeKernel.isXtablesCoreMissing) {
            try prerequisites.loadModule("ip_tables")
            try? prerequisites.loadModule("ip6_tables")
            return try rules.apply(ops)
        }
    }

    /// One virtual server and its real servers, read now (graceful-termination checks); nil when absent.
    public func observeVirtualServer(_ key: VirtualServerKey) throws -> ObservedVirtualServer? {
        guard let ipvs = try ipvs(), let server = try ipvs.getService(key) else { return nil }
        let (real, stats) = try ipvs.dumpDestinations(of: key)
        return ObservedVirtualServer(server: server, realServers: real, stats: stats)
    }

    // MARK: - Apply

    /// The phase an operation is applied in (see the file comment).
    enum Phase: Int, Comparable, CaseIterable {
        case prerequisites, link, sets, iptables, addresses, ipvs, deletions
        static func < (a: Phase, b: Phase) -> Bool { a.rawValue < b.rawValue }
    }

    static func phase(of op: Operation) -> Phase {
        switch op {
        case .loadModule, .setSysctl, .setModuleParameter: return .prerequisites
        case .createDummyLink: return .link
        case .createSet, .recreateSet, .addSetEntry: return .sets
        case .writeChains, .ensureJump: return .iptables
        case .addAddress: return .addresses
        case .addVirtualServer, .updateVirtualServer, .addRealServer, .updateRealServer, .setIPVSTimeouts: return .ipvs
        case .deleteRealServer, .deleteVirtualServer, .deleteAddress, .deleteSetEntry,
             .deleteJump, .deleteChains, .destroySet, .deleteDummyLink: return .deletions
        }
    }

    /// The plan cut into batches: one per phase, the deletions phase split into runs of one subsystem.
    static func batches(_ plan: Plan) -> [(OperationKind, [Operation])] {
        batchSelections(plan).map { ($0.0, Array($0.1)) }
    }

    /// `batches`, each batch a selection of the plan's operations by index rather than a copy: a
    /// cold sync's plan is 100k+ operations, and the IPVS backend walks its batch in place.
    static func batchSelections(_ plan: Plan) -> [(OperationKind, PlanSelection)] {
        let all = plan.operations
        var byPhase = [[Int32]](repeating: [], count: Phase.allCases.count)
        for (i, p) in all.enumerated() { byPhase[phase(of: p.operation).rawValue].append(Int32(truncatingIfNeeded: i)) }
        var out: [(OperationKind, PlanSelection)] = []
        for ph in Phase.allCases {
            let picks = byPhase[ph.rawValue]
            guard let first = picks.first else { continue }
            if ph == .sets, let flush = flushBeforeRecreating(sets: picks.map { all[Int($0)].operation },
                                                              chains: byPhase[Phase.iptables.rawValue].map { all[Int($0)].operation }) {
                out.append((.iptables, PlanSelection(flush)))
            }
            if ph == .deletions {
                var runStart = 0
                for k in 1...picks.count where k == picks.count || all[Int(picks[k])].operation.kind != all[Int(picks[runStart])].operation.kind {
                    out.append((all[Int(picks[runStart])].operation.kind, PlanSelection(all, picks[runStart..<k])))
                    runStart = k
                }
            } else {
                out.append((all[Int(first)].operation.kind, PlanSelection(all, picks[...])))
            }
        }
        return out
    }

    /// A set of the wrong type cannot be destroyed while a rule matches it, and kube-ipvs's own
    /// rules would hold it for ever: the chains about to be rewritten (the planner rewrites every
    /// chain that matches a recreated set) are emptied first, so the set is free to recreate.
    static func flushBeforeRecreating(sets: [Operation], chains: [Operation]) -> [Operation]? {
        let families = Set(sets.compactMap { op -> IPFamily? in
            if case .recreateSet(let spec) = op { return spec.family } else { return nil }
        })
        guard !families.isEmpty else { return nil }
        let flush = chains.compactMap { op -> Operation? in
            guard case let .writeChains(family, table, bodies) = op, families.contains(family) else { return nil }
            return .writeChains(family: family, table: table, chains: bodies.map { ChainBody(name: $0.name, rules: []) })
        }
        return flush.isEmpty ? nil : flush
    }

    public func apply(_ plan: Plan) throws -> ApplyReport {
        let clock = ContinuousClock()
        let start = clock.now
        var report = ApplyReport()
        report.operations = plan.countsByKind
        for p in plan.operations { if case .setSysctl(let n, _) = p.operation { sysctlNames.insert(n) } }

        for (kind, ops) in NodeKernel.batchSelections(plan) {
            let t0 = clock.now
            do {
                let r = try applyBatch(kind, ops)
                report.results[kind, default: ApplyResult()].merge(r)
            } catch let e as KernelBatchError {
                report.results[kind, default: ApplyResult()].merge(e.partial)
                report.errors += e.errors
            }
            report.elapsedByKind[kind, default: .zero] += clock.now - t0
        }
        report.elapsed = clock.now - start
        if !report.errors.isEmpty { throw ApplyFailure(report: report) }
        return report
    }

    // Only IPVS batches are big (one operation per real server): walked in place. The others (at
    // most a few operations per Service) are copied for their backends.
    private func applyBatch(_ kind: OperationKind, _ ops: PlanSelection) throws -> ApplyResult {
        switch kind {
        case .prerequisite:
            return try prerequisites.apply(Array(ops))
        case .link:
            return try applyLinkBatch(Array(ops))
        case .ipset:
            guard let sets else { throw missingBackend(.ipset, ops) }
            return try sets.apply(Array(ops))
        case .iptables:
            guard let rules else { throw missingBackend(.iptables, ops) }
            return try applyRules(rules, Array(ops))
        case .ipvs:
            guard let ipvs = try ipvs() else {
                throw KernelError(subsystem: .ipvs, operation: "resolve generic netlink family", object: IPVSGenl.familyName,
                                  errno: ENOENT, message: "IPVS is not available; load the ip_vs module")
            }
            return try ipvs.apply(ops)
        }
    }

    /// The link's batch: kube-ipvs0 created or deleted, then its address additions and deletions.
    private func applyLinkBatch(_ ops: [Operation]) throws -> ApplyResult {
        var result = ApplyResult()
        var addressOps: [Operation] = []
        for op in ops {
            if case .deleteDummyLink(let name) = op {
                // Cleanup: the addresses go with the link; a missing link counts as done.
                guard name == link.linkName else {
                    throw KernelError(subsystem: .link, operation: "RTM_DELLINK", object: name,
                                      errno: EINVAL, message: "NodeKernel manages \(link.linkName) only")
                }
                result.requestsSent += 1
                try link.deleteLink()
                result.applied += 1
                continue
            }
            guard case .createDummyLink(let name) = op else { addressOps.append(op); continue }
            guard name == link.linkName else {
                throw KernelError(subsystem: .link, operation: "RTM_NEWLINK", object: name,
                                  errno: EINVAL, message: "NodeKernel manages \(link.linkName) only")
            }
            result.requestsSent += 1
            try link.ensureLink(up: linkUp)
            result.applied += 1
        }
        // Address additions and deletions: one pipelined batch.
        if !addressOps.isEmpty { result.merge(try link.apply(addressOps)) }
        return result
    }

    // MARK: - Conntrack

    public func clearConntrack(_ filters: [ConntrackFilter]) throws -> Int {
        guard !filters.isEmpty else { return 0 }
        return try conntrack().clear(filters).applied
    }

    private func missingBackend(_ s: KernelSubsystem, _ ops: some Collection<Operation>) -> KernelError {
        KernelError(subsystem: s, operation: "apply", object: "\(ops.count) operation(s)", errno: EOPNOTSUPP,
                    message: "no \(s.rawValue) backend is wired into NodeKernel")
    }
}

/// Some of a plan's operations, picked by index, in the plan's order; holds the plan's array (no
/// copy of its operations).
struct PlanSelection: RandomAccessCollection {
    private let operations: [PlannedOperation]
    private let picks: ArraySlice<Int32>

    init(_ operations: [PlannedOperation], _ picks: ArraySlice<Int32>) {
        self.operations = operations; self.picks = picks
    }

    /// A selection of all of `ops`.
    init(_ ops: [Operation]) {
        operations = ops.map { PlannedOperation($0) }
        picks = Array(0..<Int32(truncatingIfNeeded: ops.count))[...]
    }

    var startIndex: Int { picks.startIndex }
    var endIndex: Int { picks.endIndex }
    subscript(i: Int) -> Operation { operations[Int(picks[i])].operation }
}
