import Kernel
import KubeModel
import ProxyCore
import Reconciler

// MARK: - A kernel held in memory: `run --dry-run`, and tests of the daemon
//
// It starts from a given state (an empty node, or what the node held when the daemon started) and
// applies every plan to that copy only, after handing the plan to `onApply` (the dry-run prints it
// as shell commands). The real kernel is never written.
//
// The node's addresses (NodePort and local addresses) come from `addresses` when given (`run
// --dry-run --against-node` reads the node's, read-only); without it the loop uses the Node
// object's status addresses.

public final class InMemoryKernel: KernelBackend, VirtualServerReader, NodeAddressSource, @unchecked Sendable {
    // @unchecked: used only from inside the ProxyLoop actor, or by a test after the loop stopped.
    public private(set) var state: ObservedState
    private let onApply: (Plan) -> Void
    private let addresses: NodeAddressSource?

    public init(state: ObservedState = .emptyNode, addresses: NodeAddressSource? = nil, onApply: @escaping (Plan) -> Void = { _ in }) {
        self.state = state
        self.addresses = addresses
        self.onApply = onApply
    }

    /// The node's addresses from `addresses`; nil without it (the Node object's stand in).
    public func interfaceAddresses() throws -> [InterfaceAddress]? { try addresses?.interfaceAddresses() }
    public var ipvsInterfaceName: String { addresses?.ipvsInterfaceName ?? "kube-ipvs0" }

    public func observe(families: Set<IPFamily>) throws -> ObservedState { state }

    public func apply(_ plan: Plan) throws -> ApplyReport {
        onApply(plan)
        state.apply(plan)
        var report = ApplyReport()
        report.operations = plan.countsByKind
        return report
    }

    public func observeVirtualServer(_ key: VirtualServerKey) throws -> ObservedVirtualServer? {
        state.family(key.address.family).virtualServers[key]
    }

    /// Conntrack is not modelled: nothing is deleted (the node's table is never touched).
    public func clearConntrack(_ filters: [ConntrackFilter]) throws -> Int { 0 }
}
