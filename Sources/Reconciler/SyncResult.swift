import KernelPort
import KubeModel
import ProxyCore

/// What one sync did.
public struct SyncResult: Sendable {
    public var full: Bool
    /// Operations applied, per subsystem.
    public var operations: [OperationKind: Int]
    /// Time spent computing and applying, from the start of the sync.
    public var elapsed: Duration
    /// Services recomputed.
    public var servicesRecomputed: Int
    /// The failure, when the apply did not fully succeed (a full resync follows).
    public var error: String?
    /// The kernel errors behind `error`, when the apply or the kernel read failed.
    public var kernelErrors: [KernelError] = []
    /// Time of the oldest change this sync applied (for the network-programming latency metric).
    public var oldestChange: Double?
    /// When each endpoint change this sync applied was made: the object's
    /// `endpoints.kubernetes.io/last-change-trigger-time` annotation, else the time it was received
    /// (kubeproxy_network_programming_duration_seconds). After many changes queued behind failed
    /// syncs, an evenly spaced sample of them that always holds the oldest (`ChangeTimeSample`).
    public var endpointChangeTimes: [Double] = []
    /// `endpointChangeTimes` per address family of the changed object (an object with addresses
    /// of both families counts in both).
    public var endpointChangeTimesByFamily: [IPFamily: [Double]] = [:]
    /// The change counters after this sync (the pending ones are zero unless the sync failed).
    public var counters = ChangeCounters()
    /// Not a sync but the deletion of drained real servers found idle (no change was applied).
    public var reap = false
    /// The loop's first successful sync since it started.
    public var first = false
    /// Stale UDP conntrack entries deleted after the apply.
    public var conntrackDeleted: Int = 0
    /// Why the conntrack cleanup failed, if it did; the sync itself still counts as applied.
    public var conntrackError: String? = nil
    /// The address families programmed (`ProxyFamilies.families`).
    public var families: Set<IPFamily> = []
    /// The node's NodePort and local addresses this sync used.
    public var nodeAddresses = NodeAddressSelection()
    /// The node's addresses differ from the previous sync's (every Service was recomputed).
    public var nodeAddressesChanged = false
    /// Why the node's addresses could not be read (the previous ones were kept).
    public var addressError: String? = nil
    /// Health-check node ports and Services without local endpoints (nil for a reap).
    public var localEndpoints: LocalEndpointSummary? = nil
    /// Services served with another scheduler than theirs, because the kernel lacks it.
    public var schedulerFallbacks: [ObjectRef: SchedulerFallback] = [:]
    /// Modules or sysctls that could not be set, all else applied (not a failed sync; a full resync retries them).
    public var prerequisiteError: String? = nil
    /// Wall time of each phase of a full sync, in order: "addresses", "schedulers", "index",
    /// "observe", "plan", "apply-<subsystem>" (one per subsystem applied), "conntrack",
    /// "cache"; empty for incremental syncs and reaps (their log line stays short).
    public var phases: [(name: String, elapsed: Duration)] = []
    /// The process's memory (KiB) at the end of each phase of a full sync (and after the apply), when
    /// `ProxyLoopObservers.memoryKiB` is given; empty otherwise.
    public var phaseMemory: [(name: String, kib: Int)] = []
    /// Operations applied, all subsystems together.
    public var total: Int { operations.values.reduce(0, +) }
}

/// Changes received from the API server (kubeproxy_sync_proxy_rules_*_changes_{total,pending}).
public struct ChangeCounters: Sendable, Equatable {
    /// Service objects added, modified or deleted since start.
    public var serviceChangesTotal = 0
    /// Endpoint objects (EndpointSlices or Endpoints) added, modified or deleted since start.
    public var endpointChangesTotal = 0
    /// Services with a change not yet applied.
    public var servicesPending = 0
    /// Endpoint objects with a change not yet applied.
    public var endpointsPending = 0
    /// Counters with these values (all zero by default).
    public init(serviceChangesTotal: Int = 0, endpointChangesTotal: Int = 0, servicesPending: Int = 0, endpointsPending: Int = 0) {
        self.serviceChangesTotal = serviceChangesTotal; self.endpointChangesTotal = endpointChangesTotal
        self.servicesPending = servicesPending; self.endpointsPending = endpointsPending
    }
}
