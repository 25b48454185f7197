import NIOConcurrencyHelpers
import NIOCore

/// client-go's client-side limit on API requests (clientConnection.qps and .burst, kube-proxy's
/// --kube-api-qps/--kube-api-burst): a token bucket holding `burst` tokens, refilled at `qps`
/// per second; a request takes one, waiting for it when the bucket is empty.
public final class RateLimiter: Sendable {
    /// Tokens added per second.
    public let qps: Double
    /// Most tokens held (requests allowed at once after a quiet time).
    public let burst: Double
    private let state: NIOLockedValueBox<(tokens: Double, last: NIODeadline, taken: Int)>

    /// A full bucket. `qps` 0 and `burst` 0 mean client-go's defaults (5 and 10).
    public init(qps: Double, burst: Int, now: NIODeadline = .now()) {
        self.qps = qps > 0 && qps.isFinite ? qps : 5
        self.burst = burst > 0 ? Double(burst) : 10
        state = NIOLockedValueBox((self.burst, now, 0))
    }

    /// Takes a token at `now` and returns the seconds to wait before using it (0: at once).
    /// Tokens are reserved in call order, so waiting callers go in turn.
    public func reserve(now: NIODeadline) -> Double {
        state.withLockedValue { s in
            let elapsed = Double(max(now.uptimeNanoseconds, s.last.uptimeNanoseconds) - s.last.uptimeNanoseconds) / 1e9
            s.tokens = min(burst, s.tokens + elapsed * qps)
            s.last = max(now, s.last)
            s.tokens -= 1
            s.taken += 1
            return s.tokens >= 0 ? 0 : -s.tokens / qps
        }
    }

    /// Tokens taken so far (requests let through or waiting).
    public var tokensTaken: Int { state.withLockedValue { $0.taken } }

    /// Waits for a token.
    public func acquire() async throws {
        let wait = reserve(now: .now())
        if wait > 0 { try await eventLoopSleep(wait) }
    }
}
