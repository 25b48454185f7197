import KubeModel

// MARK: - DesiredState x ObservedState -> Plan (pure, deterministic)
//
// Order of a plan: node-wide prerequisites (modules, sysctls, IPVS timeouts, kube-ipvs0, sets,
// chains, jumps), then each Service's additions and edits (sorted by namespace/name), then the
// removal of stale state. Only owned objects are ever removed: virtual servers on addresses bound
// to kube-ipvs0 (or NodePort virtual servers on node addresses, as the KUBE-* sets record them),
// members of KUBE-* sets, addresses on kube-ipvs0.

public enum Planner {
    /// The operations that turn `observed` into `desired`. With a `scope`, only those virtual
    /// servers, addresses and set members are compared (the node-wide parts always are): the daemon
    /// passes the keys its last changes touched, so one endpoint change costs one comparison.
    public static func plan(desired: DesiredState, observed: ObservedState, scope: PlanScope? = nil) -> Plan {
        let families = desired.families.keys.sorted()
        let (prerequisites, recreated) = nodeWideOperations(desired: desired, observed: observed, families: families)
        var ops = prerequisites

        // Per-Service additions and edits, grouped by owner (`PlanWork`); stale state, removed
        // last: virtual servers first, then set members and addresses.
        var work = PlanWork()
        var realServerBound = 0
        var staleServers: [PlannedOperation] = []
        var staleMembers: [PlannedOperation] = []
        var staleAddresses: [PlannedOperation] = []
        // Each family's desired and observed virtual servers, by the family's position in `families`.
        var wantServers: [[VirtualServerKey: DesiredVirtualServer]] = []
        var haveServers: [[VirtualServerKey: ObservedVirtualServer]] = []

        for (slot, f) in families.enumerated() {
            let want = desired.families[f]!, have = observed.family(f)
            wantServers.append(want.virtualServers)
            haveServers.append(have.virtualServers)
            /// Virtual servers kube-ipvs owns: on an address bound on kube-ipvs0 (or to be), or, on a
            /// NodePort node address, one the KUBE-* sets record (a NodePort's port, an externalIP or
            /// SCTP NodePort member; `VirtualServerOwnership`), so that a hand-made virtual server on
            /// a node address with a port no NodePort uses is left alone.
            func owned(_ key: VirtualServerKey) -> Bool {
                have.boundAddresses.contains(key.address) || want.boundAddresses[key.address] != nil
                    || VirtualServerOwnership.of(key, in: have, nodeAddresses: want.nodePortAddresses) != nil
            }

            // Addresses on kube-ipvs0.
            let addresses: [IPAddress] = scope.map { $0.addresses.filter { $0.family == f }.sorted() }
                ?? sortedUnion(want.boundAddresses, have.boundAddresses)
            for a in addresses {
                if let owner = want.boundAddresses[a] {
                    if !have.boundAddresses.contains(a) { work.add(.address(a), owner: owner) }
                } else if have.boundAddresses.contains(a) {
                    staleAddresses.append(PlannedOperation(.deleteAddress(a)))
                }
            }

            // Set members. Compared in any order: the added ones are sorted per owner once in owner
            // order (`PlanWork`), the stale ones here; sorting every member text of a large cluster
            // costs more than the rest of the set comparison.
            for name in want.sets.keys.sorted() {
                let set = want.sets[name]!
                let existing = recreated.contains(name) ? [] : (have.ipsets[name]?.entries ?? [])
                var stale: [String] = []
                if let scope {
                    let entries = recreated.contains(name) ? Array(set.entries.keys) : Array(scope.setMembers[name] ?? [])
                    for entry in entries {
                        if let owner = set.entries[entry] {
                            if !existing.contains(entry) { work.add(.setEntry(set: name, entry: entry), owner: owner) }
                        } else if existing.contains(entry) {
                            stale.append(entry)
                        }
                    }
                } else {
                    // Everything: the wanted members with their owners (one walk, no lookups), then
                    // the members no Service wants.
                    for (entry, owner) in set.entries where existing.isEmpty || !existing.contains(entry) {
                        work.add(.setEntry(set: name, entry: entry), owner: owner)
                    }
                    for entry in existing where set.entries[entry] == nil { stale.append(entry) }
                }
                for entry in stale.sorted() { staleMembers.append(PlannedOperation(.deleteSetEntry(set: name, entry: entry))) }
            }

            // Virtual servers (compared with their real servers when the operations are made).
            let keys: [VirtualServerKey] = scope.map { $0.virtualServers.filter { $0.address.family == f }.sorted() }
                ?? sortedUnion(want.virtualServers, have.virtualServers.keys)
            for key in keys {
                // The item keeps the dictionary's index: making the operations then needs no
                // second lookup (and no copy of the virtual server here).
                guard let i = want.virtualServers.index(forKey: key) else {
                    if have.virtualServers[key] != nil && owned(key) && !desired.excludeCIDRs.contains(where: { $0.contains(key.address) }) {
                        staleServers.append(PlannedOperation(.deleteVirtualServer(key)))
                    }
                    continue
                }
                realServerBound += want.virtualServers.values[i].realServers.count
                if !have.virtualServers.isEmpty { realServerBound += have.virtualServers[key]?.realServers.count ?? 0 }
                work.add(.virtualServer(family: slot, i), owner: want.virtualServers.values[i].owner)
            }
        }

        ops.reserveCapacity(ops.count + work.count + realServerBound + staleServers.count + staleMembers.count + staleAddresses.count)
        work.forEachInOwnerOrder { item, owner in
            switch item {
            case .address(let a):
                ops.append(PlannedOperation(.addAddress(a), owner: owner))
            case .setEntry(let set, let entry):
                ops.append(PlannedOperation(.addSetEntry(set: set, entry: entry), owner: owner))
            case .virtualServer(let slot, let i):
                let (key, dvs) = wantServers[slot][i]
                let current = haveServers[slot].isEmpty ? nil : haveServers[slot][key]
                serverOperations(key: key, dvs, current: current, owner: owner, into: &ops)
            }
        }
        ops += staleServers
        ops += staleMembers
        ops += staleAddresses
        return Plan(operations: ops)
    }

    /// The node-wide prerequisites (modules, sysctls, IPVS timeouts, kube-ipvs0, sets, chains,
    /// jumps), and the sets that are recreated (their members are all added again).
    private static func nodeWideOperations(desired: DesiredState, observed: ObservedState,
                                           families: [IPFamily]) -> ([PlannedOperation], recreated: Set<String>) {
        var ops: [PlannedOperation] = []
        for m in desired.modules where observed.loadedModules?.contains(m) != true {
            ops.append(PlannedOperation(.loadModule(m)))
        }
        for s in desired.sysctls where observed.sysctls[s.name] != s.value {
            ops.append(PlannedOperation(.setSysctl(name: s.name, value: s.value)))
        }
        if !desired.ipvsTimeouts.isZero {
            let want = desired.ipvsTimeouts
            if let have = observed.ipvsTimeouts {
                let merged = IPVSTimeouts(tcp: want.tcp == 0 ? have.tcp : want.tcp, tcpFin: want.tcpFin == 0 ? have.tcpFin : want.tcpFin,
                                          udp: want.udp == 0 ? have.udp : want.udp)
                if merged != have { ops.append(PlannedOperation(.setIPVSTimeouts(want))) }
            } else {
                ops.append(PlannedOperation(.setIPVSTimeouts(want)))
            }
        }
        if !observed.dummyLinkExists { ops.append(PlannedOperation(.createDummyLink(name: dummyLinkName))) }

        var recreated: Set<String> = []
        for f in families {
            let want = desired.families[f]!, have = observed.family(f)
            for name in want.sets.keys.sorted() {
                let spec = want.sets[name]!.spec
                if let existing = have.ipsets[name] {
                    if !spec.isCompatible(with: existing.spec) {
                        ops.append(PlannedOperation(.recreateSet(spec)))
                        recreated.insert(name)
                    }
                } else {
                    ops.append(PlannedOperation(.createSet(spec)))
                }
            }
        }
        for f in families {
            let want = desired.families[f]!, have = observed.family(f)
            for table in [IPTablesTable.nat, .filter] {
                guard let rules = want.tables[table] else { continue }
                let current = have.tables[table] ?? ObservedTable()
                // A chain whose rules match a recreated set is rewritten too: the kernel backend empties
                // it first, as the set cannot be destroyed while a rule matches it.
                let matchesRecreated = { (chain: String) in
                    (current.kubeChains[chain] ?? []).contains { rule in recreated.contains { rule.contains("--match-set \($0) ") } }
                }
                let changed = rules.chains.filter { current.kubeChains[$0.name] != $0.rules || matchesRecreated($0.name) }
                if !changed.isEmpty { ops.append(PlannedOperation(.writeChains(family: f, table: table, chains: changed))) }
                for j in rules.jumps where !(current.builtinChains[j.chain] ?? []).contains(j.ruleText) {
                    ops.append(PlannedOperation(.ensureJump(family: f, j)))
                }
            }
        }
        return (ops, recreated)
    }

    /// The operations for one wanted virtual server: add or edit it, then add, edit and delete
    /// its real servers in key order.
    private static func serverOperations(key: VirtualServerKey, _ dvs: DesiredVirtualServer, current: ObservedVirtualServer?,
                                         owner: String, into ops: inout [PlannedOperation]) {
        guard let current else {
            // A new virtual server (a cold sync: all of them): it and every real server are added.
            ops.append(PlannedOperation(.addVirtualServer(dvs.server), owner: owner))
            for rs in dvs.realServers { ops.append(PlannedOperation(.addRealServer(key, rs), owner: owner)) }
            return
        }
        if dvs.server.differs(from: current.server) { ops.append(PlannedOperation(.updateVirtualServer(dvs.server), owner: owner)) }
        // The desired real servers are sorted by key already (`DesiredVirtualServer`).
        let haveRS = current.realServers
        for rs in dvs.realServers {
            if let h = haveRS.isEmpty ? nil : haveRS[rs.key] {
                if h.weight != rs.weight || h.forwarding != rs.forwarding {
                    ops.append(PlannedOperation(.updateRealServer(key, rs), owner: owner))
                }
            } else {
                ops.append(PlannedOperation(.addRealServer(key, rs), owner: owner))
            }
        }
        for rk in haveRS.keys where dvs.realServer(rk) == nil {  // in key order already (`RealServerTable`)
            ops.append(PlannedOperation(.deleteRealServer(key, rk), owner: owner))
        }
    }

    /// The keys of `want` and the elements of `have`, each once, sorted (no intermediate Set: on a
    /// cold sync `have` is empty, on a resync it mostly repeats `want`).
    private static func sortedUnion<K: Comparable, V>(_ want: [K: V], _ have: some Collection<K>) -> [K] {
        var keys = Array(want.keys)
        keys.reserveCapacity(want.count + have.count)
        for k in have where want[k] == nil { keys.append(k) }
        keys.sort()
        return keys
    }
}
