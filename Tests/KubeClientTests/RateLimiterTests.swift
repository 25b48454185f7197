import KubeClient
import NIOCore
import XCTest

/// --kube-api-qps/--kube-api-burst: a full bucket lets `burst` requests through at once, then one
/// per 1/qps seconds, in call order; a quiet time refills it up to `burst` only.
final class RateLimiterTests: XCTestCase {
    func testBurstThenOnePerInterval() {
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let limiter = RateLimiter(qps: 5, burst: 10, now: t0)
        for _ in 0..<10 { XCTAssertEqual(limiter.reserve(now: t0), 0) }
        XCTAssertEqual(limiter.reserve(now: t0), 0.2, accuracy: 1e-9)
        XCTAssertEqual(limiter.reserve(now: t0), 0.4, accuracy: 1e-9)
        // One second later 5 tokens came back, 2 of them already promised.
        let t1 = t0 + .seconds(1)
        for _ in 0..<3 { XCTAssertEqual(limiter.reserve(now: t1), 0) }
        XCTAssertEqual(limiter.reserve(now: t1), 0.2, accuracy: 1e-9)
        // A long quiet time refills to the burst, not beyond.
        let t2 = t1 + .seconds(3600)
        for _ in 0..<10 { XCTAssertEqual(limiter.reserve(now: t2), 0) }
        XCTAssertGreaterThan(limiter.reserve(now: t2), 0)
    }

    func testZeroMeansClientGoDefaults() {
        let limiter = RateLimiter(qps: 0, burst: 0)
        XCTAssertEqual(limiter.qps, 5)
        XCTAssertEqual(limiter.burst, 10)
    }

    /// A qps so small that the wait for the next token is longer than NIO's timer can hold (the
    /// configuration takes any finite qps >= 0): the sleep is capped instead of trapping, and
    /// cancelling it ends it.
    func testAnAbsurdWaitSleepsCappedAndIsCancellable() async throws {
        let limiter = RateLimiter(qps: 1e-12, burst: 1, now: .uptimeNanoseconds(0))
        XCTAssertEqual(limiter.reserve(now: .uptimeNanoseconds(0)), 0)
        XCTAssertGreaterThan(limiter.reserve(now: .uptimeNanoseconds(0)), 1e11)
        for wait in [1e12, 1e30, .infinity, .nan] {
            let task = Task { try await eventLoopSleep(wait) }
            try await Task.sleep(nanoseconds: 20_000_000)
            task.cancel()
            do {
                try await task.value
                if !wait.isNaN { XCTFail("a sleep of \(wait) s ended by itself") }
            } catch is CancellationError {}
        }
    }
}
