import XCTest
@testable import Reconciler

final class SyncSchedulerTests: XCTestCase {
    func testFirstSyncIsFullThenChangesAreCoalesced() {
        var s = SyncScheduler(minSyncPeriod: 1, syncPeriod: 30)
        XCTAssertEqual(s.next(at: 0), .fullResync)
        s.synced(at: 0, full: true)
        XCTAssertEqual(s.next(at: 0.1), .wait(seconds: 30 - 0.1))
        s.changed(at: 0.2)
        s.changed(at: 0.5)
        XCTAssertEqual(s.next(at: 0.5), .wait(seconds: 0.5), "at most once per minSyncPeriod")
        XCTAssertEqual(s.next(at: 1.0), .syncChanges)
        s.synced(at: 1.0, full: false)
        XCTAssertFalse(s.hasPending)
        s.changed(at: 1.2)
        XCTAssertEqual(s.oldestPendingChange, 1.2)
        if case .wait(let w) = s.next(at: 1.2) { XCTAssertEqual(w, 0.8, accuracy: 1e-9) } else { XCTFail() }
        XCTAssertEqual(s.next(at: 2.0), .syncChanges)
    }

    func testFullResyncEverySyncPeriod() {
        var s = SyncScheduler(minSyncPeriod: 1, syncPeriod: 30)
        s.synced(at: 0, full: true)
        XCTAssertEqual(s.next(at: 29.9), .wait(seconds: 30 - 29.9))
        XCTAssertEqual(s.next(at: 30), .fullResync)
        s.changed(at: 30)
        XCTAssertEqual(s.next(at: 30), .fullResync, "a due full resync also applies pending changes")
        s.synced(at: 30, full: true)
        XCTAssertFalse(s.hasPending)
        XCTAssertEqual(s.next(at: 31), .wait(seconds: 29))
    }

    func testZeroMinSyncPeriodSyncsAtOnce() {
        var s = SyncScheduler(minSyncPeriod: 0, syncPeriod: 30)
        s.synced(at: 0, full: true)
        s.changed(at: 0.001)
        XCTAssertEqual(s.next(at: 0.001), .syncChanges)
    }
}
