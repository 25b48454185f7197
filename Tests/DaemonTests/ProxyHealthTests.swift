import XCTest
@testable import Daemon

/// ProxyHealth with fixed times: upstream's rules (proxy_health.go), one state for both families.
final class ProxyHealthTests: XCTestCase {
    /// 2024-01-02 03:04:05 UTC.
    let t0 = 1_704_164_645.0
    let syncPeriod = 30.0

    func body(last: String, now: String, eligible: Bool? = nil) -> String {
        let head = #"{"lastUpdated": "\#(last)","currentTime": "\#(now)""#
        return eligible.map { head + #", "nodeEligible": \#($0)}"# } ?? head + "}"
    }

    func testHealthTimeoutIsTwiceSyncPeriod() {
        XCTAssertEqual(ProxyHealth(syncPeriod: 30).healthTimeout, 60)
    }

    func testNeverStartedIsHealthyWithCurrentTime() {
        let h = ProxyHealth(syncPeriod: syncPeriod)
        let z = h.healthz(now: t0)
        XCTAssertEqual(z.statusCode, 200)
        XCTAssertEqual(z.body, body(last: "2024-01-02 03:04:05 +0000 UTC", now: "2024-01-02 03:04:05 +0000 UTC", eligible: true))
        let l = h.livez(now: t0)
        XCTAssertEqual(l.statusCode, 200)
        XCTAssertEqual(l.body, body(last: "2024-01-02 03:04:05 +0000 UTC", now: "2024-01-02 03:04:05 +0000 UTC"))
    }

    func testQueuedBeforeFirstUpdateStaysHealthyWhileStarting() {
        // Upstream only judges a proxier that has reported once (the sync loop reports at start).
        let h = ProxyHealth(syncPeriod: syncPeriod)
        h.queuedUpdate(at: t0)
        XCTAssertTrue(h.isHealthy(now: t0 + 1000))
    }

    func testSyncedThenQueuedGoesStaleAtTwiceSyncPeriod() {
        let h = ProxyHealth(syncPeriod: syncPeriod)
        h.updated(at: t0)
        XCTAssertEqual(h.healthz(now: t0 + 500).statusCode, 200, "nothing queued: healthy however old the last sync")

        h.queuedUpdate(at: t0 + 10)
        h.queuedUpdate(at: t0 + 50)  // not the oldest: the timeout runs from t0 + 10
        XCTAssertEqual(h.healthz(now: t0 + 69.5).statusCode, 200)
        XCTAssertEqual(h.livez(now: t0 + 69.5).statusCode, 200)

        let z = h.healthz(now: t0 + 70)
        XCTAssertFalse(z.healthy)
        XCTAssertEqual(z.statusCode, 503)
        XCTAssertEqual(z.body, body(last: "2024-01-02 03:04:05 +0000 UTC", now: "2024-01-02 03:05:15 +0000 UTC", eligible: true))
        let l = h.livez(now: t0 + 70)
        XCTAssertEqual(l.statusCode, 503)
        XCTAssertEqual(l.body, body(last: "2024-01-02 03:04:05 +0000 UTC", now: "2024-01-02 03:05:15 +0000 UTC"))

        h.updated(at: t0 + 80)
        XCTAssertEqual(h.healthz(now: t0 + 200).statusCode, 200)
        h.queuedUpdate(at: t0 + 200)
        XCTAssertEqual(h.healthz(now: t0 + 259).statusCode, 200, "the new queue time counts, not the old one")
        XCTAssertEqual(h.healthz(now: t0 + 260).statusCode, 503)
    }

    func testNodeNotEligibleFailsHealthzOnly() {
        let h = ProxyHealth(syncPeriod: syncPeriod)
        h.updated(at: t0)
        h.setNodeEligible(false)
        XCTAssertFalse(h.nodeEligible)
        let z = h.healthz(now: t0 + 1)
        XCTAssertEqual(z.statusCode, 503)
        XCTAssertEqual(z.body, body(last: "2024-01-02 03:04:05 +0000 UTC", now: "2024-01-02 03:04:06 +0000 UTC", eligible: false))
        let l = h.livez(now: t0 + 1)
        XCTAssertEqual(l.statusCode, 200)
        XCTAssertEqual(l.body, body(last: "2024-01-02 03:04:06 +0000 UTC", now: "2024-01-02 03:04:06 +0000 UTC"))

        h.setNodeEligible(true)
        XCTAssertEqual(h.healthz(now: t0 + 2).statusCode, 200)
    }

    func testNodeNotEligibleBeforeAnySyncReportsZeroTime() {
        let h = ProxyHealth(syncPeriod: syncPeriod)
        h.setNodeEligible(false)
        XCTAssertEqual(h.healthz(now: t0).body,
                       body(last: "0001-01-01 00:00:00 +0000 UTC", now: "2024-01-02 03:04:05 +0000 UTC", eligible: false))
    }

    func testNodeEligibilityRule() {
        XCTAssertTrue(ProxyHealth.isNodeEligible(deletionTimestamp: nil, taintKeys: []))
        XCTAssertTrue(ProxyHealth.isNodeEligible(deletionTimestamp: nil, taintKeys: ["node.kubernetes.io/unschedulable"]))
        XCTAssertFalse(ProxyHealth.isNodeEligible(deletionTimestamp: "2024-01-02T03:04:05Z", taintKeys: []))
        XCTAssertFalse(ProxyHealth.isNodeEligible(deletionTimestamp: nil, taintKeys: ["a", "ToBeDeletedByClusterAutoscaler"]))
    }

    func testGoTimeFormat() {
        XCTAssertEqual(GoTime.string(nil), "0001-01-01 00:00:00 +0000 UTC")
        XCTAssertEqual(GoTime.string(0), "1970-01-01 00:00:00 +0000 UTC")
        XCTAssertEqual(GoTime.string(1_704_164_645.25), "2024-01-02 03:04:05.25 +0000 UTC")
        XCTAssertEqual(GoTime.string(1_709_164_800), "2024-02-29 00:00:00 +0000 UTC")
        XCTAssertEqual(GoTime.string(951_782_400), "2000-02-29 00:00:00 +0000 UTC")
        XCTAssertEqual(GoTime.string(4_102_444_799.5), "2099-12-31 23:59:59.5 +0000 UTC")
        XCTAssertEqual(GoTime.string(1_704_164_645.000123), "2024-01-02 03:04:05.000123 +0000 UTC")
        XCTAssertEqual(GoTime.string(-1), "1969-12-31 23:59:59 +0000 UTC")
    }
}
