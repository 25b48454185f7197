import KubeModel

// MARK: - ObservedState -> the Plan of `kube-ipvs cleanup` (pure)
//
// docs/spec.md §5: remove everything the daemon owns (§3, last paragraph), and nothing else.
// Order, so that nothing removed is still referenced and every decision is made on what the
// kernel held before anything went:
//   1. owned IPVS virtual servers (their real servers go with them), decided with `VirtualServerOwnership`
//      while the KUBE-* sets that rule reads still exist;
//   2. per family and table (nat, then filter): the jump rules of `KubeChain.jumps` (each copy), then
//      the chains kube-ipvs writes (`KubeChain.natChains` / `.filterChains`), flushed then deleted;
//   3. the KUBE-* sets of docs/spec.md §4 (KUBE-6-* for IPv6), once no rule matches them;
//   4. kube-ipvs0, whose addresses go with it.
// Other KUBE-* chains (kubelet's KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-MARK-DROP, ...), other
// KUBE-* sets and anything not named above are left as they are.
//
// What cannot be removed without touching foreign state is kept and reported instead of failing
// the table: a chain some rule outside kube-ipvs's own still jumps to (and the chains and sets it
// references), a set a kept or foreign rule still matches, a virtual server in excludeCIDRs.

/// The cleanup plan and what it deliberately keeps.
public struct CleanupPlan: Sendable, Hashable {
    public var plan: Plan
    /// Owned objects left in place, each with the reason (`KUBE-SERVICES (ipv4 nat): ...`).
    public var kept: [String]

    /// Counts for the summary line.
    public var counts: (virtualServers: Int, jumps: Int, chains: Int, sets: Int, links: Int) {
        var c = (virtualServers: 0, jumps: 0, chains: 0, sets: 0, links: 0)
        for p in plan.operations {
            switch p.operation {
            case .deleteVirtualServer: c.virtualServers += 1
            case .deleteJump: c.jumps += 1
            case .deleteChains(_, _, let names): c.chains += names.count
            case .destroySet: c.sets += 1
            case .deleteDummyLink: c.links += 1
            default: break
            }
        }
        return c
    }

    /// `2 virtual server(s), 9 jump rule(s), 11 chain(s), 17 ipset(s) and the kube-ipvs0 link`.
    public var summary: String {
        let c = counts
        var parts = ["\(c.virtualServers) virtual server(s)", "\(c.jumps) jump rule(s)", "\(c.chains) chain(s)", "\(c.sets) ipset(s)"]
        parts.append(c.links > 0 ? "the \(dummyLinkName) link" : "no link")
        return parts.dropLast().joined(separator: ", ") + " and " + parts.last!
    }
}

/// Builds the cleanup plan.
public enum Cleanup {
    /// Both names of every set of docs/spec.md §4.
    public static let setNames: Set<String> = Set(KubeSet.allCases.flatMap { [$0.setName(for: .ipv4), $0.setName(for: .ipv6)] })

    /// The chains kube-ipvs writes in `table`.
    public static func chains(_ table: IPTablesTable) -> [String] {
        table == .nat ? KubeChain.natChains : KubeChain.filterChains
    }

    /// The plan that removes everything kube-ipvs owns in `observed` (both families as read).
    /// - Parameters:
    ///   - nodeAddresses: the node's addresses outside kube-ipvs0 (NodePort ownership, see `VirtualServerOwnership`).
    ///   - excludeCIDRs: virtual servers on these addresses are never deleted (ipvs.excludeCIDRs).
    public static func plan(observed: ObservedState, nodeAddresses: Set<IPAddress>, excludeCIDRs: [CIDR] = []) -> CleanupPlan {
        var ops: [PlannedOperation] = []
        var kept: [String] = []
        let families = observed.families.keys.sorted()

        // 1. Virtual servers.
        for f in families {
            let fam = observed.families[f]!
            for key in fam.virtualServers.keys.sorted() {
                guard let why = VirtualServerOwnership.of(key, in: fam, nodeAddresses: nodeAddresses) else { continue }
                if let cidr = excludeCIDRs.first(where: { $0.contains(key.address) }) {
                    kept.append("virtual server \(key) (\(why)): inside excludeCIDRs \(cidr)")
                    continue
                }
                ops.append(PlannedOperation(.deleteVirtualServer(key)))
            }
        }

        // 2. Jumps, then chains, per family and table.
        var keptSets: Set<String> = []
        for f in families {
            for table in [IPTablesTable.nat, .filter] {
                guard let t = observed.families[f]!.tables[table] else { continue }
                let ours = chains(table).filter { t.kubeChains[$0] != nil }
                var jumps: [JumpRule] = []
                var foreignRules: [(chain: String, rule: String)] = []
                var remaining = t.builtinChains
                for j in KubeChain.jumps where j.table == table {
                    guard var rules = remaining[j.chain] else { continue }
                    while let i = rules.firstIndex(of: j.ruleText) {
                        rules.remove(at: i)
                        jumps.append(j)
                    }
                    remaining[j.chain] = rules
                }
                for chain in remaining.keys.sorted() { for r in remaining[chain]! { foreignRules.append((chain, r)) } }
                for chain in t.kubeChains.keys.sorted() where !ours.contains(chain) {
                    for r in t.kubeChains[chain]! { foreignRules.append((chain, r)) }
                }
                // Chains a foreign rule jumps to stay, with everything they reach.
                var keep: Set<String> = []
                var queue: [String] = []
                for (chain, r) in foreignRules {
                    for target in jumpTargets(r) where ours.contains(target) && keep.insert(target).inserted {
                        kept.append("chain \(target) (\(f.rawValue) \(table.rawValue)): rule `-A \(chain) \(r)` jumps to it")
                        queue.append(target)
                    }
                    for s in matchedSets(r) where setNames.contains(s) && keptSets.insert(s).inserted {
                        kept.append("ipset \(s): rule `-A \(chain) \(r)` matches it")
                    }
                }
                while let c = queue.popLast() {
                    for r in t.kubeChains[c] ?? [] {
                        for target in jumpTargets(r) where ours.contains(target) && keep.insert(target).inserted {
                            kept.append("chain \(target) (\(f.rawValue) \(table.rawValue)): kept chain \(c) jumps to it")
                            queue.append(target)
                        }
                        for s in matchedSets(r) where setNames.contains(s) && keptSets.insert(s).inserted {
                            kept.append("ipset \(s): kept chain \(c) matches it")
                        }
                    }
                }
                for j in jumps { ops.append(PlannedOperation(.deleteJump(family: f, j))) }
                let delete = ours.filter { !keep.contains($0) }
                if !delete.isEmpty { ops.append(PlannedOperation(.deleteChains(family: f, table: table, chains: delete))) }
            }
        }

        // 3. Sets.
        for f in families {
            let sets = observed.families[f]!.ipsets
            for name in sets.keys.sorted() where setNames.contains(name) && !keptSets.contains(name) {
                ops.append(PlannedOperation(.destroySet(sets[name]!.spec)))
            }
        }

        // 4. The link.
        if observed.dummyLinkExists { ops.append(PlannedOperation(.deleteDummyLink(name: dummyLinkName))) }
        return CleanupPlan(plan: Plan(operations: ops), kept: kept)
    }

    /// Chains a rule jumps or goes to (`-j NAME`, `-g NAME`), in iptables-save form.
    static func jumpTargets(_ rule: String) -> [String] { values(after: ["-j", "-g"], in: rule) }

    /// Sets a rule matches (`--match-set NAME`, `--set NAME`).
    static func matchedSets(_ rule: String) -> [String] { values(after: ["--match-set", "--set"], in: rule) }

    private static func values(after flags: Set<String>, in rule: String) -> [String] {
        let words = rule.split(separator: " ")
        var out: [String] = []
        for (i, w) in words.enumerated() where flags.contains(String(w)) && i + 1 < words.count {
            out.append(String(words[i + 1]))
        }
        return out
    }
}
