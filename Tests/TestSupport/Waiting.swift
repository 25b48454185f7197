import Foundation
import XCTest

/// A lock-protected value, for what a test's callbacks record from other threads.
public final class Locked<V: Sendable>: @unchecked Sendable {
    private var v: V
    private let lock = NSLock()
    /// A box holding `v`.
    public init(_ v: V) { self.v = v }
    /// The value now.
    public var value: V { lock.lock(); defer { lock.unlock() }; return v }
    /// Changes the value under the lock.
    @discardableResult
    public func mutate<R>(_ f: (inout V) -> R) -> R { lock.lock(); defer { lock.unlock() }; return f(&v) }
}

/// Polls `condition` until it holds; fails the test (and throws) after `timeout` seconds.
public func waitFor(_ what: String, timeout: Double = 10, every interval: Duration = .milliseconds(10),
                    file: StaticString = #filePath, line: UInt = #line, _ condition: () async -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !(await condition()) {
        if Date() > deadline { XCTFail("timed out waiting for \(what)", file: file, line: line); throw CancellationError() }
        try await Task.sleep(for: interval)
    }
}
