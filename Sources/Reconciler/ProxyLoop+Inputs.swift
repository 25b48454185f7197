import KubeModel

// MARK: - What the watches deliver: validated into the cache, counted as pending changes

extension ProxyLoop {
    private func changed(at now: Double) {
        scheduler.changed(at: now)
        observers.changeQueued(changeCounters, now)
        wakeContinuation?.yield()
    }

    private func serviceChanged(_ ref: ObjectRef?) {
        if let ref { pending.service(ref) }
    }

    /// Records a change of `r`, made when its trigger-time annotation says, else `now`.
    private func endpointSourceChanged(_ r: some EndpointSource, at now: Double) {
        guard let ref = Self.ref(r.metadata) else { return }
        pending.endpointSource(ref, at: Self.triggerTime(r.metadata) ?? now, families: Self.families(of: r, sets: cache.endpointSets[ref] ?? []))
    }

    /// The address families of an endpoint object: its addresses', else an EndpointSlice's
    /// addressType (an emptied slice still belongs to one family), else IPv4.
    static func families(of r: some EndpointSource, sets: [EndpointSetInfo]) -> Set<IPFamily> {
        let f = families(of: sets)
        if f != [.ipv4] || sets.contains(where: { !$0.endpoints.isEmpty }) { return f }
        return (r as? EndpointSliceResource)?.addressType == "IPv6" ? [.ipv6] : [.ipv4]
    }

    /// The families of the addresses in `sets`; IPv4 when there is none.
    static func families(of sets: [EndpointSetInfo]) -> Set<IPFamily> {
        let f = Set(sets.flatMap { $0.endpoints.map(\.address.family) })
        return f.isEmpty ? [.ipv4] : f
    }

    /// `endpoints.kubernetes.io/last-change-trigger-time` (RFC 3339), as seconds since the epoch.
    static func triggerTime(_ m: ObjectMeta?) -> Double? {
        guard let text = m?.annotations?["endpoints.kubernetes.io/last-change-trigger-time"] else { return nil }
        return RFC3339.seconds(text)
    }

    /// Validates `r`, reporting what is wrong with it.
    private func checked(_ r: ServiceResource) -> Checked<ServiceInfo> {
        let c = r.checked()
        switch c {
        case .ok(let s): for d in s.ignoredFieldDiagnostics { observers.warning(d) }
        case .ignored: break
        case .invalid(let d): observers.invalidObject(d)
        }
        return c
    }

    /// A complete list of Services. An invalid one keeps its last valid version.
    public func replaceServices(_ items: [ServiceResource], at now: Double) {
        let before = cache.dirty
        var list: [ServiceInfo] = []
        list.reserveCapacity(items.count)
        for r in items {
            switch checked(r) {
            case .ok(let s): list.append(s)
            case .ignored: break
            case .invalid: if let ref = Self.ref(r.metadata), let last = cache.services[ref] { list.append(last) }
            }
        }
        cache.replaceServices(list)
        for ref in cache.dirty.subtracting(before) { serviceChanged(ref) }
        changed(at: now)
    }

    /// A Service was added or modified. One kube-ipvs does not handle (ExternalName, headless) is
    /// treated as gone; an invalid one keeps its last valid version programmed.
    public func upsertService(_ r: ServiceResource, at now: Double) {
        let ref = Self.ref(r.metadata)
        switch checked(r) {
        case .ok(let s): cache.upsert(service: s)
        case .ignored: if let ref { cache.deleteService(ref) }
        case .invalid: break
        }
        serviceChanged(ref)
        changed(at: now)
    }

    /// A Service was deleted.
    public func deleteService(_ r: ServiceResource, at now: Double) {
        let ref = Self.ref(r.metadata)
        if let ref { cache.deleteService(ref) }
        serviceChanged(ref)
        changed(at: now)
    }

    /// `r`'s endpoint sets; nil when it is invalid (reported), so that its last valid sets stay.
    private func sets(_ r: some EndpointSource) -> [EndpointSetInfo]? {
        switch r.checkedSets() {
        case .ok(let s):
            for set in s { for d in set.ignoredFieldDiagnostics { observers.warning(d) } }
            return s
        case .ignored: return []
        case .invalid(let d): observers.invalidObject(d); return nil
        }
    }

    /// A complete list of EndpointSlices, or of core/v1 Endpoints (`--endpoints-source=endpoints`).
    public func replaceEndpointSources(_ items: [some EndpointSource], at now: Double) {
        var by: [ObjectRef: [EndpointSetInfo]] = [:]
        for r in items {
            guard let ref = Self.ref(r.metadata) else { continue }
            let s = sets(r) ?? cache.endpointSets[ref] ?? []
            by[ref] = s
            if cache.endpointSets[ref] ?? [] != s {
                pending.endpointSource(ref, at: Self.triggerTime(r.metadata) ?? now, families: Self.families(of: r, sets: s))
            }
        }
        for (ref, old) in cache.endpointSets where by[ref] == nil {
            pending.endpointSource(ref, at: now, families: Self.families(of: old))
        }
        cache.replaceEndpoints(by)
        changed(at: now)
    }

    /// An EndpointSlice or Endpoints object was added or modified (an invalid one keeps its last
    /// valid endpoint sets).
    public func upsertEndpointSource(_ r: some EndpointSource, at now: Double) {
        if let ref = Self.ref(r.metadata), let s = sets(r) { cache.upsert(endpointsFrom: ref, sets: s) }
        endpointSourceChanged(r, at: now)
        changed(at: now)
    }

    /// An EndpointSlice or Endpoints object was deleted.
    public func deleteEndpointSource(_ r: some EndpointSource, at now: Double) {
        if let ref = Self.ref(r.metadata) {
            let old = cache.endpointSets[ref] ?? []
            cache.upsert(endpointsFrom: ref, sets: [])
            pending.endpointSource(ref, at: now, families: Self.families(of: r, sets: old))
        }
        changed(at: now)
    }

    /// This node's Node object (nil when it does not exist).
    public func setNode(_ r: NodeResource?, at now: Double) {
        var info: NodeInfo? = nil
        if let r {
            switch r.checked() {
            case .ok(let n): info = n
            case .ignored: break
            case .invalid(let d): observers.invalidObject(d)
            }
        }
        nodeHostIPs = info == nil ? [] : r?.hostIPsInPreferenceOrder ?? []
        cache.setNode(info)
        changed(at: now)
    }

    static func ref(_ m: ObjectMeta?) -> ObjectRef? {
        guard let name = m?.name, !name.isEmpty else { return nil }
        return ObjectRef(namespace: m?.namespace.flatMap { $0.isEmpty ? nil : $0 } ?? "default", name: name)
    }
}
