import KubeModel

// MARK: - Applying a Plan to an ObservedState in memory
//
// The state a kernel would be in after a successful apply. Two uses: the in-memory kernel of the
// unit tests, and the daemon's cache of the node, updated after each apply instead of re-reading
// every IPVS service from the kernel.

extension ObservedState {
    /// Applies every operation of `plan`, as the kernel would.
    public mutating func apply(_ plan: Plan) {
        for op in plan.operations { apply(op.operation) }
    }

    /// Applies one operation, as the kernel would.
    public mutating func apply(_ op: Operation) {
        switch op {
        case .loadModule(let m):
            loadedModules = (loadedModules ?? []).union([m])
        case .setSysctl(let name, let value):
            sysctls[name] = value
        case .setModuleParameter:
            break  // node tuning's; the observed state does not track module parameters
        case .setIPVSTimeouts(let t):
            let old = ipvsTimeouts ?? IPVSTimeouts()
            ipvsTimeouts = IPVSTimeouts(tcp: t.tcp == 0 ? old.tcp : t.tcp, tcpFin: t.tcpFin == 0 ? old.tcpFin : t.tcpFin,
                                        udp: t.udp == 0 ? old.udp : t.udp)
        case .createDummyLink:
            dummyLinkExists = true
        case .addAddress(let a):
            families[a.family, default: ObservedFamily()].boundAddresses.insert(a)
        case .deleteAddress(let a):
            families[a.family]?.boundAddresses.remove(a)
        case .createSet(let spec), .recreateSet(let spec):
            families[spec.family, default: ObservedFamily()].ipsets[spec.name] = ObservedSet(spec: spec)
        case .addSetEntry(let set, let entry):
            updateSet(set) { $0.entries.insert(entry) }
        case .deleteSetEntry(let set, let entry):
            updateSet(set) { $0.entries.remove(entry) }
        case .writeChains(let family, let table, let chains):
            var t = families[family, default: ObservedFamily()].tables[table] ?? ObservedTable()
            for c in chains { t.kubeChains[c.name] = c.rules }
            families[family, default: ObservedFamily()].tables[table] = t
        case .ensureJump(let family, let jump):
            var t = families[family, default: ObservedFamily()].tables[jump.table] ?? ObservedTable()
            var rules = t.builtinChains[jump.chain] ?? []
            if !rules.contains(jump.ruleText) { rules.insert(jump.ruleText, at: 0) }
            t.builtinChains[jump.chain] = rules
            families[family, default: ObservedFamily()].tables[jump.table] = t
        case .addVirtualServer(let vs):
            families[vs.key.address.family, default: ObservedFamily()].virtualServers[vs.key] = ObservedVirtualServer(server: vs)
        case .updateVirtualServer(let vs):
            families[vs.key.address.family]?.virtualServers[vs.key]?.server = vs
        case .deleteVirtualServer(let key):
            families[key.address.family]?.virtualServers[key] = nil
        case .addRealServer(let key, let rs), .updateRealServer(let key, let rs):
            families[key.address.family]?.virtualServers[key]?.realServers[rs.key] = rs
        case .deleteJump(let family, let jump):
            guard var t = families[family]?.tables[jump.table], var rules = t.builtinChains[jump.chain],
                  let i = rules.firstIndex(of: jump.ruleText) else { return }
            rules.remove(at: i)
            t.builtinChains[jump.chain] = rules
            families[family]!.tables[jump.table] = t
        case .deleteChains(let family, let table, let chains):
            for c in chains { families[family]?.tables[table]?.kubeChains[c] = nil }
        case .destroySet(let spec):
            for f in IPFamily.allCases { families[f]?.ipsets[spec.name] = nil }
        case .deleteDummyLink:
            dummyLinkExists = false
            for f in IPFamily.allCases { families[f]?.boundAddresses = [] }
        case .deleteRealServer(let key, let rk):
            families[key.address.family]?.virtualServers[key]?.realServers[rk] = nil
            families[key.address.family]?.virtualServers[key]?.stats[rk] = nil
        }
    }

    private mutating func updateSet(_ name: String, _ body: (inout ObservedSet) -> Void) {
        for f in IPFamily.allCases where families[f]?.ipsets[name] != nil {
            body(&families[f]!.ipsets[name]!)
            return
        }
    }
}
