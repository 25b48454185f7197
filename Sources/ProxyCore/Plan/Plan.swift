import KubeModel

// MARK: - The Plan: what must change, in the order it is applied
//
// A Plan is the single product of the core. The dry-run renderer prints it, the kernel backends
// apply it, and tests compare it. Operations are granular (one entry, one real server) so that
// counting them is meaningful; backends batch consecutive operations of one kind.

/// One change to the kernel.
public enum Operation: Sendable, Hashable {
    /// `modprobe NAME`.
    case loadModule(String)
    /// `sysctl -w NAME=VALUE` (dotted name).
    case setSysctl(name: String, value: String)
    /// `echo VALUE > /sys/module/MODULE/parameters/PARAMETER` (nf_conntrack's hashsize).
    case setModuleParameter(module: String, parameter: String, value: String)
    /// Create the kube-ipvs0 dummy link.
    case createDummyLink(name: String)
    /// Bind a /32 or /128 address on kube-ipvs0.
    case addAddress(IPAddress)
    case deleteAddress(IPAddress)
    /// Create a KUBE-* set.
    case createSet(IPSetSpec)
    /// Destroy a KUBE-* set and create it again (its type or family changed).
    case recreateSet(IPSetSpec)
    case addSetEntry(set: String, entry: String)
    case deleteSetEntry(set: String, entry: String)
    /// Ensure the chains exist and replace their bodies (one iptables-restore --noflush per table).
    case writeChains(family: IPFamily, table: IPTablesTable, chains: [ChainBody])
    /// Put a jump rule first in its built-in chain (deleting stale copies elsewhere in it).
    case ensureJump(family: IPFamily, JumpRule)
    case addVirtualServer(VirtualServer)
    case updateVirtualServer(VirtualServer)
    case deleteVirtualServer(VirtualServerKey)
    case addRealServer(VirtualServerKey, RealServer)
    case updateRealServer(VirtualServerKey, RealServer)
    case deleteRealServer(VirtualServerKey, RealServerKey)
    /// `ipvsadm --set tcp tcpfin udp`.
    case setIPVSTimeouts(IPVSTimeouts)

    // Cleanup (`kube-ipvs cleanup`): removal of what kube-ipvs owns. The planner never makes these.

    /// Delete one copy of a jump rule from its built-in chain (`iptables -t T -D CHAIN RULE`).
    case deleteJump(family: IPFamily, JumpRule)
    /// Flush and delete KUBE-* chains of one table (`-F` each, then `-X` each), after their jumps are gone.
    case deleteChains(family: IPFamily, table: IPTablesTable, chains: [String])
    /// `ipset destroy NAME`, once no rule matches the set.
    case destroySet(IPSetSpec)
    /// `ip link del kube-ipvs0` (its addresses go with it).
    case deleteDummyLink(name: String)

    /// The subsystem an operation touches, for summaries and metrics.
    public var kind: OperationKind {
        switch self {
        case .loadModule, .setSysctl, .setModuleParameter: return .prerequisite
        case .createDummyLink, .addAddress, .deleteAddress, .deleteDummyLink: return .link
        case .createSet, .recreateSet, .addSetEntry, .deleteSetEntry, .destroySet: return .ipset
        case .writeChains, .ensureJump, .deleteJump, .deleteChains: return .iptables
        case .addVirtualServer, .updateVirtualServer, .deleteVirtualServer,
             .addRealServer, .updateRealServer, .deleteRealServer, .setIPVSTimeouts: return .ipvs
        }
    }
}

/// Subsystems, in the order a summary lists them.
public enum OperationKind: String, Sendable, Hashable, CaseIterable, Comparable {
    case prerequisite, link, ipset, iptables, ipvs
    public static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// An operation and the Service it is done for (nil for node-wide and stale-state operations).
public struct PlannedOperation: Sendable, Hashable {
    public var operation: Operation
    /// `namespace/name` of the Service this operation serves.
    public var owner: String?
    public init(_ operation: Operation, owner: String? = nil) { self.operation = operation; self.owner = owner }
}

/// The ordered list of operations that turns the observed state into the desired one.
public struct Plan: Sendable, Hashable {
    public var operations: [PlannedOperation]
    public init(operations: [PlannedOperation] = []) { self.operations = operations }

    public var isEmpty: Bool { operations.isEmpty }
    public var count: Int { operations.count }

    /// Number of operations per subsystem.
    public var countsByKind: [OperationKind: Int] {
        var c: [OperationKind: Int] = [:]
        for op in operations { c[op.operation.kind, default: 0] += 1 }
        return c
    }
}
