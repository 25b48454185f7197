import KubeModel

// MARK: - What the kernel holds now
//
// Filled by the kernel backends (Sources/Kernel) or by tests; `ObservedState.emptyNode` is what the
// plain dry-run plans against.

/// An IPVS virtual server as read from the kernel, with its real servers and their counters.
public struct ObservedVirtualServer: Sendable, Hashable {
    public var server: VirtualServer
    /// By key, sorted in one array: the cache holds one per virtual server, a dictionary would be
    /// several times the size of the real servers it holds.
    public var realServers: RealServerTable<RealServer>
    /// Counters by real-server key; filled only by kernel reads.
    public var stats: RealServerTable<RealServerStatsEntry>

    public init(server: VirtualServer, realServers: RealServerTable<RealServer> = [:], stats: RealServerTable<RealServerStatsEntry> = [:]) {
        self.server = server; self.realServers = realServers; self.stats = stats
    }
}

/// An ipset as read from the kernel.
public struct ObservedSet: Sendable, Hashable {
    public var spec: IPSetSpec
    public var entries: Set<String>
    public init(spec: IPSetSpec, entries: Set<String> = []) { self.spec = spec; self.entries = entries }
}

/// One iptables table of one family as read from the kernel: only what kube-ipvs may look at.
public struct ObservedTable: Sendable, Hashable {
    /// Bodies of the KUBE-* chains that exist (rule texts in iptables-save form).
    public var kubeChains: [String: [String]]
    /// Rules of the built-in chains, in order (rule texts in iptables-save form).
    public var builtinChains: [String: [String]]
    public init(kubeChains: [String: [String]] = [:], builtinChains: [String: [String]] = [:]) {
        self.kubeChains = kubeChains; self.builtinChains = builtinChains
    }
}

/// The kernel state of one address family.
public struct ObservedFamily: Sendable, Hashable {
    /// Every virtual server of this family on the node, owned or not.
    public var virtualServers: [VirtualServerKey: ObservedVirtualServer] = [:]
    /// Addresses on kube-ipvs0.
    public var boundAddresses: Set<IPAddress> = []
    /// KUBE-* sets of this family, by name.
    public var ipsets: [String: ObservedSet] = [:]
    public var tables: [IPTablesTable: ObservedTable] = [:]
    public init() {}
}

/// The node's kernel state relevant to kube-ipvs.
public struct ObservedState: Sendable, Hashable {
    /// Whether kube-ipvs0 exists.
    public var dummyLinkExists: Bool
    /// Modules known loaded; nil when unknown (the plan then loads every required one).
    public var loadedModules: Set<String>?
    /// Current values of the sysctls kube-ipvs sets, by dotted name; a missing key means unknown.
    public var sysctls: [String: String]
    /// Current IPVS timeouts; nil when unknown.
    public var ipvsTimeouts: IPVSTimeouts?
    public var families: [IPFamily: ObservedFamily]

    public init(dummyLinkExists: Bool = false, loadedModules: Set<String>? = nil, sysctls: [String: String] = [:],
                ipvsTimeouts: IPVSTimeouts? = nil, families: [IPFamily: ObservedFamily] = [:]) {
        self.dummyLinkExists = dummyLinkExists; self.loadedModules = loadedModules; self.sysctls = sysctls
        self.ipvsTimeouts = ipvsTimeouts; self.families = families
    }

    /// A bare node: nothing of kube-ipvs exists and nothing is known to be loaded.
    public static let emptyNode = ObservedState()

    public func family(_ f: IPFamily) -> ObservedFamily { families[f] ?? ObservedFamily() }
}
