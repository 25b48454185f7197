import KubeModel
import ProxyCore

/// The schedulers the Services name and the Services served with a fallback scheduler, kept up to
/// date from the changed Services, so that a sync asks the kernel only about schedulers in use.
struct SchedulerTracking {
    /// The `kube-ipvs.io/scheduler` of each Service that has one, and how many Services name each.
    private var named: [ObjectRef: String] = [:]
    private var counts: [String: Int] = [:]
    /// Services served with another scheduler than theirs (`SyncResult.schedulerFallbacks`).
    private(set) var fallbacks: [ObjectRef: SchedulerFallback] = [:]

    /// Forgets which Services name which scheduler (every Service is about to be seen again).
    mutating func forgetNames() { named = [:]; counts = [:] }

    /// Records the scheduler `ref` names now (nil: none, or the Service is gone).
    mutating func update(_ ref: ObjectRef, scheduler: String?) {
        if let old = named[ref] {
            counts[old, default: 0] -= 1
            if counts[old, default: 0] <= 0 { counts[old] = nil }
        }
        named[ref] = scheduler
        if let scheduler { counts[scheduler, default: 0] += 1 }
    }

    /// Whether `ref` names its own scheduler (else the configured one is in question).
    func namesScheduler(_ ref: ObjectRef) -> Bool { named[ref] != nil }

    /// The schedulers in use: upstream's baseline, the configured one and every annotated one.
    func wanted(config: ProxyConfig) -> Set<String> {
        DesiredStateIndex.schedulersInUse(config: config, annotated: counts.keys)
    }

    /// Records `ref`'s fallback (nil: none); returns it when it is new, to be reported once.
    mutating func record(_ ref: ObjectRef, fallback: SchedulerFallback?) -> SchedulerFallback? {
        defer { fallbacks[ref] = fallback }
        guard let fallback, fallbacks[ref] != fallback else { return nil }
        return fallback
    }

    /// Drops the fallbacks of Services that no longer exist.
    mutating func dropFallbacks(where gone: (ObjectRef) -> Bool) {
        for ref in fallbacks.keys where gone(ref) { fallbacks[ref] = nil }
    }
}
