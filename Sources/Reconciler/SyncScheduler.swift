// MARK: - When to sync
//
// A value-type state machine, driven with explicit times so tests need no clock: changes are
// coalesced and applied at most once per minSyncPeriod; a full resync (re-read the kernel, plan
// everything) happens every syncPeriod, repairing changes made by others.

/// Decides when the reconciler syncs.
public struct SyncScheduler: Sendable {
    /// What to do now.
    public enum Action: Sendable, Equatable {
        /// Sync the changed Services only.
        case syncChanges
        /// Re-read the kernel and plan everything.
        case fullResync
        /// Nothing to do before this many seconds from now.
        case wait(seconds: Double)
    }

    public let minSyncPeriod: Double
    public let syncPeriod: Double
    private var lastSync: Double?
    private var lastFull: Double?
    private var pendingSince: Double?

    public init(minSyncPeriod: Double, syncPeriod: Double) {
        self.minSyncPeriod = max(0, minSyncPeriod)
        self.syncPeriod = max(1, syncPeriod)
    }

    /// Something changed at `now` (the first change since the last sync starts the clock).
    public mutating func changed(at now: Double) {
        if pendingSince == nil { pendingSince = now }
    }

    /// Whether changes wait to be applied.
    public var hasPending: Bool { pendingSince != nil }

    /// Time of the oldest unapplied change (kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds).
    public var oldestPendingChange: Double? { pendingSince }

    /// What to do at `now`.
    public func next(at now: Double) -> Action {
        guard let lastFull else { return .fullResync }  // the first sync re-reads everything
        let earliest = (lastSync ?? -Double.infinity) + minSyncPeriod
        if now >= lastFull + syncPeriod && now >= earliest { return .fullResync }
        if pendingSince != nil {
            return now >= earliest ? .syncChanges : .wait(seconds: earliest - now)
        }
        return .wait(seconds: max(lastFull + syncPeriod, earliest) - now)
    }

    /// Records a finished sync.
    public mutating func synced(at now: Double, full: Bool) {
        lastSync = now
        if full { lastFull = now }
        pendingSince = nil
    }
}
