import KubeModel
import ProxyCore

// MARK: - A kernel held in memory: `run --dry-run`, the benchmark and tests
//
// It starts from a given state (an empty node, or what the node held when the daemon started) and
// applies every plan to that copy only, after handing the plan to `onApply` (the dry-run prints it
// as shell commands). The real kernel is never written.
//
// The node's addresses come from `addresses` when given (`run --dry-run --against-node` reads the
// node's, read-only); without it the loop uses the Node object's status addresses.

/// The one in-memory kernel: applies plans to an `ObservedState` and counts what it was asked.
public final class InMemoryKernel: KernelBackend, VirtualServerReader, NodeAddressSource, @unchecked Sendable {
    // @unchecked: used only from inside the ProxyLoop actor, or by a test after the loop stopped.
    /// What the kernel holds now.
    public var state: ObservedState
    /// `observe` calls so far.
    public private(set) var observeCalls = 0
    /// `apply` calls so far (failed ones included).
    public private(set) var applyCalls = 0
    /// Every plan applied, in order, when `recordsPlans` (tests); empty otherwise, so that a
    /// long-running dry-run does not grow.
    public private(set) var applied: [Plan] = []
    /// Whether `applied` and `conntrackCalls` keep what they are given.
    public var recordsPlans: Bool
    /// The filters of every `clearConntrack` call, in order, when `recordsPlans`.
    public private(set) var conntrackCalls: [[ConntrackFilter]] = []
    /// Connection counters reported for real servers (graceful termination); none by default.
    public var stats: [RealServerKey: RealServerStats] = [:]
    /// Entries `clearConntrack` reports deleted per filter: conntrack is not modelled, so 0 unless
    /// a test says otherwise.
    public var conntrackEntriesPerFilter = 0
    /// Schedulers this kernel lacks (tests); `addresses`, when given, is asked as well.
    public var missingSchedulers: Set<String> = []
    /// A fault to inject: when it returns an error for a plan, `apply` throws it and applies nothing.
    public var applyFault: ((Plan) -> Error?)?
    /// A fault to inject into `clearConntrack`: when it returns an error, that is thrown.
    public var conntrackFault: (([ConntrackFilter]) -> Error?)?
    private let onApply: (Plan) -> Void
    private let addresses: NodeAddressSource?

    public init(state: ObservedState = .emptyNode, addresses: NodeAddressSource? = nil, recordsPlans: Bool = false,
                onApply: @escaping (Plan) -> Void = { _ in }) {
        self.state = state
        self.addresses = addresses
        self.recordsPlans = recordsPlans
        self.onApply = onApply
    }

    /// The operations of the last plan recorded.
    public var lastOps: [Operation] { applied.last?.operations.map(\.operation) ?? [] }

    /// The node's addresses from `addresses`; nil without it (the Node object's stand in).
    public func interfaceAddresses() throws -> [InterfaceAddress]? { try addresses?.interfaceAddresses() }
    public var ipvsInterfaceName: String { addresses?.ipvsInterfaceName ?? dummyLinkName }
    public func unavailableSchedulers(_ names: Set<String>) -> Set<String> {
        names.intersection(missingSchedulers).union(addresses?.unavailableSchedulers(names) ?? [])
    }

    public func observe(families: Set<IPFamily>) throws -> ObservedState {
        observeCalls += 1
        return state
    }

    public func apply(_ plan: Plan) throws -> ApplyReport {
        applyCalls += 1
        if let fault = applyFault?(plan) { throw fault }
        onApply(plan)
        if recordsPlans { applied.append(plan) }
        state.apply(plan)
        var report = ApplyReport()
        report.operations = plan.countsByKind
        return report
    }

    public func observeVirtualServer(_ key: VirtualServerKey) throws -> ObservedVirtualServer? {
        guard var vs = state.family(key.address.family).virtualServers[key] else { return nil }
        guard !stats.isEmpty else { return vs }
        for k in vs.realServers.keys { vs.stats[k] = stats[k] ?? RealServerStats() }
        return vs
    }

    public func clearConntrack(_ filters: [ConntrackFilter]) throws -> Int {
        if recordsPlans { conntrackCalls.append(filters) }
        if let fault = conntrackFault?(filters) { throw fault }
        return filters.count * conntrackEntriesPerFilter
    }
}
