import KernelPort
import ProxyCore

/// Laps of a full sync's phases (`SyncResult.phases`): where a slow first sync spends its time.
struct PhaseClock {
    private let clock: ContinuousClock
    private let enabled: Bool
    private let memory: (@Sendable () -> Int?)?
    private var last: ContinuousClock.Instant
    /// The phases so far, in order.
    private(set) var laps: [(name: String, elapsed: Duration)] = []
    /// The process's memory at the end of each phase (`ProxyLoopObservers.memoryKiB`).
    private(set) var memoryLaps: [(name: String, kib: Int)] = []

    init(clock: ContinuousClock, enabled: Bool, memory: (@Sendable () -> Int?)? = nil) {
        self.clock = clock; self.enabled = enabled; self.memory = memory; last = clock.now
    }

    /// Ends the phase `name` now.
    mutating func lap(_ name: String) {
        guard enabled else { return }
        let now = clock.now
        laps.append((name, now - last))
        sampleMemory(name)
        last = clock.now
    }

    private mutating func sampleMemory(_ name: String) {
        if let kib = memory?() { memoryLaps.append((name, kib)) }
    }

    /// Ends the apply: one phase per subsystem, as the kernel timed them.
    mutating func add(applied report: ApplyReport) {
        guard enabled else { return }
        for k in OperationKind.allCases { if let d = report.elapsedByKind[k] { laps.append(("apply-\(k.rawValue)", d)) } }
        sampleMemory("apply")
        last = clock.now
    }
}
