import KubeModel
import ProxyCore

// MARK: - Graceful removal of real servers (docs/spec.md §2)
//
// TCP real servers are not deleted at once: their weight goes to 0 so no new connection is sent to
// them, and they are deleted once the kernel reports no active and no inactive connections. If the
// endpoint comes back meanwhile, the planner restores weight 1 (desired weight differs from 0).
// UDP and SCTP real servers are deleted at once.

/// A real server being drained.
public struct DrainingRealServer: Sendable, Hashable, Comparable {
    public var virtualServer: VirtualServerKey
    public var realServer: RealServerKey
    public init(virtualServer: VirtualServerKey, realServer: RealServerKey) {
        self.virtualServer = virtualServer; self.realServer = realServer
    }
    public static func < (a: Self, b: Self) -> Bool {
        a.virtualServer != b.virtualServer ? a.virtualServer < b.virtualServer : a.realServer < b.realServer
    }
}

public enum GracefulTermination {
    /// Rewrites deletions of TCP real servers into weight-0 edits. A real server already at weight 0
    /// is already draining: its deletion is dropped. Returns the new plan and what is draining now.
    public static func drain(_ plan: Plan, observed: ObservedState) -> (Plan, [DrainingRealServer]) {
        // The usual case, a cold sync included: nothing to drain, so no copy of a large plan.
        if !plan.operations.contains(where: { if case .deleteRealServer(let key, _) = $0.operation { return key.proto == .tcp }; return false }) {
            return (plan, [])
        }
        var ops: [PlannedOperation] = []
        ops.reserveCapacity(plan.count)
        var draining: [DrainingRealServer] = []
        for p in plan.operations {
            guard case .deleteRealServer(let key, let rk) = p.operation, key.proto == .tcp else { ops.append(p); continue }
            let current = observed.family(key.address.family).virtualServers[key]?.realServers[rk]
            draining.append(DrainingRealServer(virtualServer: key, realServer: rk))
            guard let current, current.weight != 0 else { continue }
            var zero = current
            zero.weight = 0
            ops.append(PlannedOperation(.updateRealServer(key, zero), owner: p.owner))
        }
        return (Plan(operations: ops), draining)
    }

    /// Deletions for the draining real servers the kernel reports idle, given fresh counters.
    /// A real server that is wanted again (desired) or already gone is simply no longer draining.
    public static func reap(_ draining: Set<DrainingRealServer>, desired: DesiredState,
                            current: (VirtualServerKey) -> ObservedVirtualServer?) -> (Plan, Set<DrainingRealServer>) {
        var ops: [PlannedOperation] = []
        var still: Set<DrainingRealServer> = []
        // One kernel read per virtual server, however many of its real servers are draining.
        var read: [VirtualServerKey: ObservedVirtualServer?] = [:]
        for d in draining.sorted() {
            if desired.family(d.virtualServer.address.family).virtualServers[d.virtualServer]?.realServer(d.realServer) != nil { continue }
            if read[d.virtualServer] == nil { read[d.virtualServer] = .some(current(d.virtualServer)) }
            guard let vs = read[d.virtualServer]!, vs.realServers[d.realServer] != nil else { continue }
            let stats = vs.stats[d.realServer] ?? RealServerStats()
            if stats.activeConnections == 0 && stats.inactiveConnections == 0 {
                ops.append(PlannedOperation(.deleteRealServer(d.virtualServer, d.realServer)))
            } else {
                still.insert(d)
            }
        }
        return (Plan(operations: ops), still)
    }
}
