import KubeModel

/// Who hears from a `ProxyLoop`, given when it is made; every observer is optional.
public struct ProxyLoopObservers: Sendable {
    /// After every sync and every deletion of drained real servers (metrics, logs).
    public var syncFinished: @Sendable (SyncResult) -> Void = { _ in }
    /// An object failed validation: it is not programmed as received (its last valid version stays).
    public var invalidObject: @Sendable (Diagnostic) -> Void = { _ in }
    /// A problem with an optional field of an object that is still used (a bad scheduler annotation).
    public var warning: @Sendable (Diagnostic) -> Void = { _ in }
    /// A change was queued, with the counters then and its time (health: an update is pending;
    /// metrics: the queued timestamp).
    public var changeQueued: @Sendable (ChangeCounters, Double) -> Void = { _, _ in }

    /// The process's memory now (KiB), sampled at the end of each phase of a full sync for the
    /// logs (`SyncResult.phaseMemory`): where a first sync's peak comes from. nil: not sampled.
    public var memoryKiB: (@Sendable () -> Int?)? = nil

    /// No observer: every event is dropped.
    public init() {}
}
