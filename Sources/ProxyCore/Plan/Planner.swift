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
        var ops: [PlannedOperation] = []

        // MARK: Node-wide prerequisites
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

        let families = desired.families.keys.sorted()
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
                let changed = rules.chains.filter { current.kubeChains[$0.name] != $0.rules }
                if !changed.isEmpty { ops.append(PlannedOperation(.writeChains(family: f, table: table, chains: changed))) }
                for j in rules.jumps where !(current.builtinChains[j.chain] ?? []).contains(j.ruleText) {
                    ops.append(PlannedOperation(.ensureJump(family: f, j)))
                }
            }
        }

        // MARK: Per-Service additions and edits
        // Operations are grouped by owner: the Services in namespace/name order, each with its own
        // operations in the order they are found below. The walk over sorted keys first records one
        // small work item per address, set entry or virtual server that needs an operation, tagged
        // with its owner's number (owners are interned: each is hashed once per item, never
        // compared); one stable counting sort puts the items in owner order, and only then are the
        // operations made, straight into the plan. At 10k Services x 10 endpoints that is 40k
        // items of a few words instead of 140k operations built, grouped and copied again.
        var groupIndex: [String: Int32] = [:]
        var groupOwners: [String] = []
        var groupSizes: [Int] = []
        var work: [WorkItem] = []
        var workGroup: [Int32] = []
        var realServerBound = 0
        func add(_ item: WorkItem, _ owner: String) {
            let g: Int32
            if let known = groupIndex[owner] {
                g = known
            } else {
                g = Int32(groupOwners.count)
                groupIndex[owner] = g
                groupOwners.append(owner); groupSizes.append(0)
            }
            groupSizes[Int(g)] += 1
            work.append(item)
            workGroup.append(g)
        }
        // Each family's desired and observed virtual servers, by the family's position in `families`.
        var wantServers: [[VirtualServerKey: DesiredVirtualServer]] = []
        var haveServers: [[VirtualServerKey: ObservedVirtualServer]] = []
        // Stale state, removed last: virtual servers first, then set members and addresses.
        var staleServers: [PlannedOperation] = []
        var staleMembers: [PlannedOperation] = []
        var staleAddresses: [PlannedOperation] = []

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
                    if !have.boundAddresses.contains(a) { add(.address(a), owner) }
                } else if have.boundAddresses.contains(a) {
                    staleAddresses.append(PlannedOperation(.deleteAddress(a)))
                }
            }

            // Set members. Compared in any order: the added ones are sorted per owner once in owner
            // order (below), the stale ones here; sorting all 20k member texts of 10k Services
            // costs more than the rest of the set comparison.
            for name in want.sets.keys.sorted() {
                let set = want.sets[name]!
                let existing = recreated.contains(name) ? [] : (have.ipsets[name]?.entries ?? [])
                var stale: [String] = []
                if let scope {
                    let entries = recreated.contains(name) ? Array(set.entries.keys) : Array(scope.setMembers[name] ?? [])
                    for entry in entries {
                        if let owner = set.entries[entry] {
                            if !existing.contains(entry) { add(.setEntry(set: name, entry: entry), owner) }
                        } else if existing.contains(entry) {
                            stale.append(entry)
                        }
                    }
                } else {
                    // Everything: the wanted members with their owners (one walk, no lookups), then
                    // the members no Service wants.
                    for (entry, owner) in set.entries where existing.isEmpty || !existing.contains(entry) {
                        add(.setEntry(set: name, entry: entry), owner)
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
                add(.virtualServer(family: slot, i), want.virtualServers.values[i].owner)
            }
        }

        // Owner order: where each owner's items start, then each item's position (stable: an
        // owner's items keep the order they were found in).
        var next = [Int](repeating: 0, count: groupOwners.count)
        var offset = 0
        for g in groupOwners.indices.sorted(by: { groupOwners[$0] < groupOwners[$1] }) {
            next[g] = offset
            offset += groupSizes[g]
        }
        var order = [Int](repeating: 0, count: work.count)
        for (i, g) in workGroup.enumerated() {
            order[next[Int(g)]] = i
            next[Int(g)] += 1
        }
        // One owner's members of one set are now adjacent (sets were walked in name order) but in
        // the order the set's dictionary gave them: sort each such run by member text. Runs are
        // nearly always one member long.
        var start = 0
        while start < order.count {
            var end = start + 1
            if case .setEntry(let set, _) = work[order[start]] {
                while end < order.count, workGroup[order[end]] == workGroup[order[start]],
                      case .setEntry(let other, _) = work[order[end]], other == set { end += 1 }
                if end - start > 1 {
                    order[start..<end].sort { a, b in
                        guard case .setEntry(_, let x) = work[a], case .setEntry(_, let y) = work[b] else { return false }
                        return x < y
                    }
                }
            }
            start = end
        }
        ops.reserveCapacity(ops.count + work.count + realServerBound + staleServers.count + staleMembers.count + staleAddresses.count)
        for i in order {
            let owner = groupOwners[Int(workGroup[i])]
            switch work[i] {
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

    /// Something one Service needs, found while walking the sorted keys; made into operations
    /// once the items are in owner order.
    private enum WorkItem {
        /// Bind this address.
        case address(IPAddress)
        /// Add this member.
        case setEntry(set: String, entry: String)
        /// Add or edit this virtual server and its real servers (compared then): the family's
        /// position in the plan's families and the server's index in that family's dictionary.
        case virtualServer(family: Int, Dictionary<VirtualServerKey, DesiredVirtualServer>.Index)
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
        for rk in haveRS.keys.sorted() where dvs.realServer(rk) == nil {
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
