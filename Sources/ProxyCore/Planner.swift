import KubeModel

// MARK: - DesiredState x ObservedState -> Plan (pure, deterministic)
//
// Order of a plan: node-wide prerequisites (modules, sysctls, IPVS timeouts, kube-ipvs0, sets,
// chains, jumps), then each Service's additions and edits (sorted by namespace/name), then the
// removal of stale state. Only owned objects are ever removed: virtual servers on addresses bound
// to kube-ipvs0 (or on NodePort node addresses), members of KUBE-* sets, addresses on kube-ipvs0.

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
        // operations in the order they are found below. They are collected in one flat array, each
        // tagged with its owner's number (owners are interned: each is hashed once per operation,
        // never compared), then put in owner order by one stable counting sort. At 10k Services
        // this avoids 10k small per-owner arrays that grow one element at a time.
        var groupIndex: [String: Int32] = [:]
        var groupOwners: [String] = []
        var groupSizes: [Int] = []
        var pending: [PlannedOperation] = []
        var pendingGroup: [Int32] = []
        func add(_ op: Operation, _ owner: String) {
            let g: Int32
            if let known = groupIndex[owner] {
                g = known
            } else {
                g = Int32(groupOwners.count)
                groupIndex[owner] = g
                groupOwners.append(owner); groupSizes.append(0)
            }
            groupSizes[Int(g)] += 1
            pending.append(PlannedOperation(op, owner: owner))
            pendingGroup.append(g)
        }
        // Stale state, removed last: virtual servers first, then set members and addresses.
        var staleServers: [PlannedOperation] = []
        var staleMembers: [PlannedOperation] = []
        var staleAddresses: [PlannedOperation] = []

        for f in families {
            let want = desired.families[f]!, have = observed.family(f)
            /// Addresses whose virtual servers kube-ipvs owns (bound on kube-ipvs0, or NodePort node addresses).
            func owned(_ a: IPAddress) -> Bool {
                have.boundAddresses.contains(a) || want.boundAddresses[a] != nil || want.nodePortAddresses.contains(a)
            }

            // Addresses on kube-ipvs0.
            let addresses: [IPAddress] = scope.map { $0.addresses.filter { $0.family == f }.sorted() }
                ?? sortedUnion(want.boundAddresses, have.boundAddresses)
            for a in addresses {
                if let owner = want.boundAddresses[a] {
                    if !have.boundAddresses.contains(a) { add(.addAddress(a), owner) }
                } else if have.boundAddresses.contains(a) {
                    staleAddresses.append(PlannedOperation(.deleteAddress(a)))
                }
            }

            // Set members.
            for name in want.sets.keys.sorted() {
                let set = want.sets[name]!
                let existing = recreated.contains(name) ? [] : (have.ipsets[name]?.entries ?? [])
                let entries: [String]
                if let scope {
                    entries = recreated.contains(name) ? set.entries.keys.sorted() : (scope.setMembers[name] ?? []).sorted()
                } else {
                    entries = sortedUnion(set.entries, existing)
                }
                for entry in entries {
                    if let owner = set.entries[entry] {
                        if !existing.contains(entry) { add(.addSetEntry(set: name, entry: entry), owner) }
                    } else if existing.contains(entry) {
                        staleMembers.append(PlannedOperation(.deleteSetEntry(set: name, entry: entry)))
                    }
                }
            }

            // Virtual servers and their real servers.
            let keys: [VirtualServerKey] = scope.map { $0.virtualServers.filter { $0.address.family == f }.sorted() }
                ?? sortedUnion(want.virtualServers, have.virtualServers.keys)
            for key in keys {
                let current = have.virtualServers[key]
                guard let dvs = want.virtualServers[key] else {
                    if current != nil && owned(key.address) && !desired.excludeCIDRs.contains(where: { $0.contains(key.address) }) {
                        staleServers.append(PlannedOperation(.deleteVirtualServer(key)))
                    }
                    continue
                }
                let owner = dvs.owner
                if let current {
                    if dvs.server.differs(from: current.server) { add(.updateVirtualServer(dvs.server), owner) }
                } else {
                    add(.addVirtualServer(dvs.server), owner)
                }
                let haveRS = current?.realServers ?? [:]
                for (rk, rs) in dvs.realServers.sorted(by: { $0.key < $1.key }) {
                    if let h = haveRS[rk] {
                        if h.weight != rs.weight || h.forwarding != rs.forwarding { add(.updateRealServer(key, rs), owner) }
                    } else {
                        add(.addRealServer(key, rs), owner)
                    }
                }
                for rk in haveRS.keys.sorted() where dvs.realServers[rk] == nil {
                    add(.deleteRealServer(key, rk), owner)
                }
            }
        }

        // Owner order: where each owner's operations start in the output, then each pending
        // operation's position (stable: an owner's operations keep the order they were added in).
        var next = [Int](repeating: 0, count: groupOwners.count)
        var offset = 0
        for g in groupOwners.indices.sorted(by: { groupOwners[$0] < groupOwners[$1] }) {
            next[g] = offset
            offset += groupSizes[g]
        }
        var order = [Int](repeating: 0, count: pending.count)
        for (i, g) in pendingGroup.enumerated() {
            order[next[Int(g)]] = i
            next[Int(g)] += 1
        }
        ops.reserveCapacity(ops.count + pending.count + staleServers.count + staleMembers.count + staleAddresses.count)
        for i in order { ops.append(pending[i]) }
        ops += staleServers
        ops += staleMembers
        ops += staleAddresses
        return Plan(operations: ops)
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
