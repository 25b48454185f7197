import Kernel
import KubeModel
import ProxyCore
import Reconciler

// MARK: - A kernel held in memory: `run --dry-run`, and tests of the daemon
//
// It starts from a given state (an empty node, or what the node held when the daemon started) and
// applies every plan to that copy only, after handing the plan to `onApply` (the dry-run prints it
// as shell commands). The real kernel is never written.

public final class InMemoryKernel: KernelBackend, VirtualServerReader, @unchecked Sendable {
    // @unchecked: used only from inside the ProxyLoop actor, or by a test after the loop stopped.
    public private(set) var state: ObservedState
    private let onApply: (Plan) -> Void

    public init(state: ObservedState = .emptyNode, onApply: @escaping (Plan) -> Void = { _ in }) {
        self.state = state
        self.onApply = onApply
    }

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
