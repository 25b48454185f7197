import KubeModel

/// The changes received and not yet applied, and the running totals (`ChangeCounters`).
struct PendingChanges: Sendable {
    private var totals = ChangeCounters()
    private var services: Set<ObjectRef> = []
    private var endpointSources: Set<ObjectRef> = []
    /// When the pending endpoint changes were made (the network-programming latency).
    private(set) var endpointTimes: ChangeTimeSample
    /// The same per address family of the changed object (the metric's ip_family label).
    private(set) var endpointTimesByFamily: [IPFamily: ChangeTimeSample] = [:]
    private let maxEndpointTimes: Int

    init(maxEndpointTimes: Int = ChangeTimeSample.defaultLimit) {
        self.maxEndpointTimes = maxEndpointTimes
        endpointTimes = ChangeTimeSample(limit: maxEndpointTimes)
    }

    /// The totals, and the pending counts from the pending sets.
    var counters: ChangeCounters {
        var c = totals
        c.servicesPending = services.count
        c.endpointsPending = endpointSources.count
        return c
    }

    mutating func service(_ ref: ObjectRef) {
        totals.serviceChangesTotal += 1
        services.insert(ref)
    }

    /// A change of the endpoint object `ref`, made at `time`, holding addresses of `families`.
    mutating func endpointSource(_ ref: ObjectRef, at time: Double, families: Set<IPFamily> = [.ipv4]) {
        totals.endpointChangesTotal += 1
        endpointSources.insert(ref)
        endpointTimes.append(time)
        for f in families { endpointTimesByFamily[f, default: ChangeTimeSample(limit: maxEndpointTimes)].append(time) }
    }

    /// Everything pending was applied.
    mutating func applied() {
        services = []
        endpointSources = []
        endpointTimes.removeAll()
        endpointTimesByFamily = [:]
    }
}

/// Change times, bounded: while syncs keep failing, changes pile up, and one time per change would
/// grow without end. Up to `limit` times are kept as they come; then every other one is dropped
/// and only every second later one is kept (then every fourth, ...), so the sample stays evenly
/// spread over the whole wait. The oldest time is always reported, as it is the worst latency.
struct ChangeTimeSample: Sendable, Equatable {
    /// Far more endpoint objects than one sync of a large cluster changes.
    static let defaultLimit = 10_000
    let limit: Int
    private var kept: [Double] = []
    private var oldest: Double?
    /// Changes appended since the last `removeAll`; a change is kept when its number is a multiple of `stride`.
    private var seen = 0
    private var stride = 1

    init(limit: Int) { self.limit = max(2, limit) }

    mutating func append(_ time: Double) {
        defer { seen += 1 }
        if oldest.map({ time < $0 }) ?? true { oldest = time }
        guard seen % stride == 0 else { return }
        kept.append(time)
        if kept.count >= limit {
            kept = kept.enumerated().compactMap { $0.offset % 2 == 0 ? $0.element : nil }
            stride *= 2
        }
    }

    /// The kept times in the order they came, preceded by the oldest when thinning dropped it.
    var times: [Double] {
        guard let oldest, stride > 1, !kept.contains(oldest) else { return kept }
        return [oldest] + kept
    }

    mutating func removeAll() {
        kept.removeAll(keepingCapacity: false)
        oldest = nil
        seen = 0
        stride = 1
    }
}
