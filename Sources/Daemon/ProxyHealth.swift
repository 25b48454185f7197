// MARK: - Health state behind /healthz and /livez
//
// The same rules as kube-proxy's ProxyHealthServer (pkg/proxy/healthcheck/proxy_health.go):
// the proxy is healthy unless a change has been queued for longer than healthTimeout (2 x
// syncPeriod) without a successful sync since. /healthz also answers 503 while the node is being
// removed (deleted, or tainted ToBeDeletedByClusterAutoscaler), so that cloud load balancers stop
// sending it new connections; /livez ignores that, so that the kubelet does not restart a proxy
// that is fine on a node that is going away. kube-ipvs programs both families in one sync, so
// there is one state where upstream keeps one per IP family. Time is seconds since the epoch,
// passed in by the caller.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel
import Logging
import Synchronization

/// What /healthz or /livez answers.
public struct HealthReport: Sendable, Equatable {
    /// Whether the probe passes (status 200, else 503).
    public var healthy: Bool
    public var statusCode: Int { healthy ? 200 : 503 }
    /// kube-proxy's JSON body: `{"lastUpdated": "...","currentTime": "..."}`, plus
    /// `, "nodeEligible": true|false` for /healthz.
    public var body: String
}

/// The proxy's health, updated by the sync loop and read by the health server; thread-safe.
public final class ProxyHealth: Sendable {
    /// The taint the cluster autoscaler puts on a node it is about to delete.
    public static let toBeDeletedTaint = "ToBeDeletedByClusterAutoscaler"

    /// Seconds a queued change may wait for a successful sync before the proxy is unhealthy.
    public let healthTimeout: Double

    private struct State {
        /// The last successful sync (or the start of the sync loop).
        var lastUpdated: Double?
        /// The first change queued since the last successful sync.
        var oldestPendingQueued: Double?
        /// Eligible until a Node object says otherwise, as upstream.
        var nodeEligible = true
    }
    private let state = Mutex(State())

    public init(healthTimeout: Double) { self.healthTimeout = healthTimeout }

    /// kube-proxy's choice: healthTimeout = 2 x syncPeriod.
    public convenience init(syncPeriod: Double) { self.init(healthTimeout: 2 * syncPeriod) }

    // MARK: - Inputs

    /// The rules now reflect every change queued so far: call when the sync loop starts (as
    /// upstream's SyncLoop, in case no sync ever succeeds) and after every successful sync.
    public func updated(at now: Double) {
        state.withLock { $0.lastUpdated = now; $0.oldestPendingQueued = nil }
    }

    /// A Service, endpoint or Node change was received and awaits a sync. Only the first one
    /// after a successful sync counts: the timeout runs from it.
    public func queuedUpdate(at now: Double) {
        state.withLock { if $0.oldestPendingQueued == nil { $0.oldestPendingQueued = now } }
    }

    /// Whether this node should receive load-balancer traffic (see `isNodeEligible`).
    public func setNodeEligible(_ eligible: Bool) {
        state.withLock { $0.nodeEligible = eligible }
    }

    /// Upstream's rule: a node is eligible unless it has a deletionTimestamp or the
    /// ToBeDeletedByClusterAutoscaler taint.
    public static func isNodeEligible(deletionTimestamp: String?, taintKeys: [String]) -> Bool {
        deletionTimestamp == nil && !taintKeys.contains(toBeDeletedTaint)
    }

    public var nodeEligible: Bool { state.withLock { $0.nodeEligible } }

    // MARK: - Reports

    /// The proxy's own health, ignoring the node: false once a change has waited healthTimeout.
    /// Healthy before the first `updated` (starting up), as upstream.
    public func isHealthy(now: Double) -> Bool { check(now: now).healthy }

    private func check(now: Double) -> (healthy: Bool, lastUpdated: Double?, nodeEligible: Bool) {
        state.withLock { s in
            guard s.lastUpdated != nil, let queued = s.oldestPendingQueued, now - queued >= healthTimeout else {
                return (true, s.lastUpdated, s.nodeEligible)
            }
            return (false, s.lastUpdated, s.nodeEligible)
        }
    }

    /// /healthz: healthy and the node eligible. When healthy, lastUpdated is the current time
    /// (upstream keeps that meaning from older releases); otherwise the last successful sync.
    public func healthz(now: Double) -> HealthReport {
        let (healthy, last, eligible) = check(now: now)
        let ok = healthy && eligible
        let lastUpdated = ok ? now : last
        return HealthReport(
            healthy: ok,
            body: #"{"lastUpdated": "\#(GoTime.string(lastUpdated))","currentTime": "\#(GoTime.string(now))", "nodeEligible": \#(eligible)}"#)
    }

    /// /livez: the proxy's own health only (node eligibility does not matter).
    public func livez(now: Double) -> HealthReport {
        let (healthy, last, _) = check(now: now)
        let lastUpdated = healthy ? now : last
        return HealthReport(
            healthy: healthy,
            body: #"{"lastUpdated": "\#(GoTime.string(lastUpdated))","currentTime": "\#(GoTime.string(now))"}"#)
    }
}

// MARK: - Go's time.Time.String(), in UTC

/// Formats times as Go's `time.Time.String()` does for UTC (`2006-01-02 15:04:05.999999999 +0000
/// UTC`), the format of kube-proxy's health bodies; nil is Go's zero time. Fractions are rounded to
/// microseconds (a Double holds no more at today's epoch values) and trailing zeros dropped.
enum GoTime {
    static func string(_ seconds: Double?) -> String {
        guard let seconds else { return "0001-01-01 00:00:00 +0000 UTC" }
        let micros = Int64((seconds * 1_000_000).rounded())
        var whole = micros / 1_000_000
        var frac = micros % 1_000_000
        if frac < 0 { frac += 1_000_000; whole -= 1 }
        var days = whole / 86_400
        var rest = whole % 86_400
        if rest < 0 { rest += 86_400; days -= 1 }
        let (y, m, d) = CivilDate.from(daysSince1970: days)
        var s = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2)) \(pad(rest / 3600, 2)):\(pad(rest / 60 % 60, 2)):\(pad(rest % 60, 2))"
        if frac != 0 {
            var digits = pad(frac, 6)
            while digits.hasSuffix("0") { digits.removeLast() }
            s += "." + digits
        }
        return s + " +0000 UTC"
    }

    private static func pad(_ v: Int64, _ width: Int) -> String {
        let t = String(v)
        return t.count >= width ? t : String(repeating: "0", count: width - t.count) + t
    }
}

// MARK: - The health server

extension HTTPServer {
    /// kube-proxy's default healthzBindAddress port.
    public static let defaultHealthzPort = 10256

    /// The health server: /healthz and /livez from `health` (JSON, 200 or 503), counted in
    /// `metrics` when given. `now` is the wall clock in seconds since the epoch.
    public static func healthServer(address: BindAddress, setting: String = "healthzBindAddress",
                                    health: ProxyHealth, metrics: ProxyMetrics? = nil, logger: Logger,
                                    now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) -> HTTPServer {
        HTTPServer(address: address, setting: setting, logger: logger) { path in
            let report: HealthReport
            switch path {
            case "/healthz":
                report = health.healthz(now: now())
                metrics?.healthProbe(.healthz, code: report.statusCode)
            case "/livez":
                report = health.livez(now: now())
                metrics?.healthProbe(.livez, code: report.statusCode)
            default:
                return nil
            }
            return HTTPResponse(status: report.statusCode, contentType: "application/json", text: report.body)
        }
    }

    /// `healthServer(address:...)` for the text of healthzBindAddress (a bare IP gets port 10256).
    public static func healthServer(bind: String, setting: String = "healthzBindAddress",
                                    health: ProxyHealth, metrics: ProxyMetrics? = nil, logger: Logger,
                                    now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) throws -> HTTPServer {
        let address = try BindAddress.parse(bind, setting: setting, defaultPort: defaultHealthzPort)
        return healthServer(address: address, setting: setting, health: health, metrics: metrics, logger: logger, now: now)
    }
}
