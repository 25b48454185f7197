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
    public var realServers: [RealServerKey: RealServer]
    /// `namespace/name:port` of the Service port it serves.
    public var servicePort: String
    /// `namespace/name` of the Service.
    public var owner: String

    public init(server: VirtualServer, realServers: [RealServerKey: RealServer], servicePort: String, owner: String) {
        self.server = server; self.realServers = realServers; self.servicePort = servicePort; self.owner = owner
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
    /// The fixed chains and jumps (behavior-spec §3).
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
