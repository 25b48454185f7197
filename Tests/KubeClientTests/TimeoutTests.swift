import Foundation
@testable import KubeClient
import XCTest

/// `withTimeout` returns at its deadline even when the body ignores cancellation (a request stuck
/// below AsyncHTTPClient, as seen in the QEMU guest when the API server vanished mid-handshake).
final class TimeoutTests: XCTestCase {
    func testDeadlineWinsOverABodyThatIgnoresCancellation() async throws {
        let start = Date()
        do {
            _ = try await withTimeout(0.2, operation: "stuck") { () async throws -> Int in
                // Not cancellable: a plain blocking wait on another thread, resumed after 3 s.
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    DispatchQueue.global().asyncAfter(deadline: .now() + 3) { c.resume() }
                }
                return 1
            }
            XCTFail("expected a timeout")
        } catch APIError.timeout(let op, let seconds) {
            XCTAssertEqual(op, "stuck")
            XCTAssertEqual(seconds, 0.2)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
    }

    func testResultAndErrorPassThrough() async throws {
        let v = try await withTimeout(5, operation: "quick") { 42 }
        XCTAssertEqual(v, 42)
        do {
            _ = try await withTimeout(5, operation: "fails") { () async throws -> Int in throw APIError.transport(path: "/x", underlying: "boom") }
            XCTFail("expected the body's error")
        } catch APIError.transport(let path, _) {
            XCTAssertEqual(path, "/x")
        }
    }

    func testCallerCancellationEndsTheWait() async throws {
        let task = Task {
            try await withTimeout(30, operation: "long") { () async throws -> Int in
                try await Task.sleep(nanoseconds: 20_000_000_000)
                return 1
            }
        }
        try await Task.sleep(nanoseconds: 50_000_000)
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("expected cancellation")
        } catch is CancellationError {}
    }
}
