import KubeModel

// MARK: - What the kernel should hold
//
// Built by `DesiredStateBuilder` from API objects; compared with `ObservedState` by `Planner`.
// Every Service-specific object remembers its owner (`namespace/name`) so that plans and dry-runs
// can group operations by Service.

/// The name of the dummy interface holding Service addresses.
public let dummyLinkName = "kube-ipvs0"

/// A virtual server with the real servers it should have.
public struct DesiredVirtualServer: Sendable, Hashable {
    public var server: VirtualServer
    /// The real servers, sorted by key, each key once (`init` sorts them and keeps the last of a
    /// repeated key). A sorted array rather than a dictionary: the builder makes one per virtual
    /// server and the planner walks it in key order, so a dictionary would cost a hashed insert per
    /// real server, a copy and a sort per virtual server, and a free.
    /// Use `realServer(_:)` to look one up; whoever assigns this property keeps it sorted.
    public var realServers: [RealServer]
    /// `namespace/name:port` of the Service port it serves.
    public var servicePort: String
    /// `namespace/name` of the Service.
    public var owner: String

    public init(server: VirtualServer, realServers: [RealServer], servicePort: String, owner: String) {
        self.server = server; self.realServers = Self.normalized(realServers); self.servicePort = servicePort; self.owner = owner
    }

    /// The real server with this key, if wanted (binary search).
    public func realServer(_ key: RealServerKey) -> RealServer? {
        var lo = 0, hi = realServers.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let k = realServers[mid].key
            if k == key { return realServers[mid] }
            if k < key { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }

    /// `servers` sorted by key, each key once (the last one given wins); returned as is, without a
    /// copy, when already so (the usual case: endpoints listed in address order).
    static func normalized(_ servers: [RealServer]) -> [RealServer] {
        var sorted = true
        for i in servers.indices.dropFirst() where !(servers[i - 1].key < servers[i].key) { sorted = false; break }
        if sorted { return servers }
        // Stable sort by key, then keep the last of each run of equal keys.
        let order = servers.indices.sorted { a, b in
            servers[a].key != servers[b].key ? servers[a].key < servers[b].key : a < b
        }
        var out: [RealServer] = []
        out.reserveCapacity(servers.count)
        for (n, i) in order.enumerated() {
            if n + 1 < order.count && servers[order[n + 1]].key == servers[i].key { continue }
            out.append(servers[i])
        }
        return out
    }
}

/// A KUBE-* set with its desired members, each with the Service it serves.
public struct DesiredSet: Sendable, Hashable {
    public var spec: IPSetSpec
    /// Member text -> owner (`namespace/name`).
    public var entries: [String: String]
    public init(spec: IPSetSpec, entries: [String: String] = [:]) { self.spec = spec; self.entries = entries }
}

/// The desired kernel state of one address family.
public struct DesiredFamily: Sendable, Hashable {
    public var virtualServers: [VirtualServerKey: DesiredVirtualServer] = [:]
    /// Addresses bound on kube-ipvs0 -> owner.
    public var boundAddresses: [IPAddress: String] = [:]
    /// Every KUBE-* set of this family, by name (all exist, empty or not, as upstream).
    public var sets: [String: DesiredSet] = [:]
    /// The fixed chains and jumps (docs/spec.md §3).
    public var tables: [IPTablesTable: TableRules] = [:]
    /// Node addresses whose NodePort virtual servers kube-ipvs owns.
    public var nodePortAddresses: Set<IPAddress> = []
    public init() {}
}

/// The whole desired node state.
public struct DesiredState: Sendable, Hashable {
    /// Kernel modules to load, in order.
    public var modules: [String] = []
    /// Sysctls (dotted names) and values, in order.
    public var sysctls: [SysctlSetting] = []
    public var ipvsTimeouts = IPVSTimeouts()
    /// Virtual servers on addresses inside these CIDRs are never deleted (ipvs.excludeCIDRs).
    public var excludeCIDRs: [CIDR] = []
    public var families: [IPFamily: DesiredFamily] = [:]
    public init() {}

    public func family(_ f: IPFamily) -> DesiredFamily { families[f] ?? DesiredFamily() }

    /// Total number of virtual servers and real servers, for summaries.
    public var counts: (virtualServers: Int, realServers: Int) {
        var vs = 0, rs = 0
        for f in families.values {
            vs += f.virtualServers.count
            for v in f.virtualServers.values { rs += v.realServers.count }
        }
        return (vs, rs)
    }
}

/// One sysctl kube-ipvs sets.
public struct SysctlSetting: Sendable, Hashable {
    /// Dotted name, such as `net.ipv4.vs.conntrack`.
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}
