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
        // Operations are grouped by owner; owners are interned so each is hashed once, not per operation.
        var groupIndex: [String: Int] = [:]
        var groups: [[PlannedOperation]] = []
        var groupOwners: [String] = []
        func group(_ owner: String) -> Int {
            if let g = groupIndex[owner] { return g }
            groupIndex[owner] = groups.count
            groups.append([]); groupOwners.append(owner)
            return groups.count - 1
        }
        func add(_ op: Operation, _ owner: String) { groups[group(owner)].append(PlannedOperation(op, owner: owner)) }
        // Stale state, removed last: virtual servers first, then set members and addresses.
        var staleServers: [PlannedOperation] = []
        var staleMembers: [PlannedOperation] = []
        var staleAddresses: [PlannedOperation] = []

        for f in families {
            let want = desired.families[f]!, have = observed.family(f)
            let owned = have.boundAddresses.union(want.boundAddresses.keys).union(want.nodePortAddresses)

            // Addresses on kube-ipvs0.
            let addresses: [IPAddress] = scope.map { $0.addresses.filter { $0.family == f }.sorted() }
                ?? Set(want.boundAddresses.keys).union(have.boundAddresses).sorted()
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
                    entries = Set(set.entries.keys).union(existing).sorted()
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
                ?? Set(want.virtualServers.keys).union(have.virtualServers.keys).sorted()
            for key in keys {
                let current = have.virtualServers[key]
                guard let dvs = want.virtualServers[key] else {
                    if current != nil && owned.contains(key.address) && !desired.excludeCIDRs.contains(where: { $0.contains(key.address) }) {
                        staleServers.append(PlannedOperation(.deleteVirtualServer(key)))
                    }
                    continue
                }
                let owner = dvs.owner
                let g = group(owner)
                if let current {
                    if dvs.server.differs(from: current.server) { groups[g].append(PlannedOperation(.updateVirtualServer(dvs.server), owner: owner)) }
                } else {
                    groups[g].append(PlannedOperation(.addVirtualServer(dvs.server), owner: owner))
                }
                let haveRS = current?.realServers ?? [:]
                for rk in dvs.realServers.keys.sorted() {
                    let rs = dvs.realServers[rk]!
                    if let h = haveRS[rk] {
                        if h.weight != rs.weight || h.forwarding != rs.forwarding {
                            groups[g].append(PlannedOperation(.updateRealServer(key, rs), owner: owner))
                        }
                    } else {
                        groups[g].append(PlannedOperation(.addRealServer(key, rs), owner: owner))
                    }
                }
                for rk in haveRS.keys.sorted() where dvs.realServers[rk] == nil {
                    groups[g].append(PlannedOperation(.deleteRealServer(key, rk), owner: owner))
                }
            }
        }

        for g in groupOwners.indices.sorted(by: { groupOwners[$0] < groupOwners[$1] }) { ops += groups[g] }
        ops += staleServers + staleMembers + staleAddresses
        return Plan(operations: ops)
    }
}
