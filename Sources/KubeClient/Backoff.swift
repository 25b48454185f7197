// MARK: - Capped exponential backoff with jitter
//
// A value type so the reflector's retry timing is testable without sleeping. Defaults follow
// client-go's reflector (0.8 s initial, doubling, 30 s cap).

/// Delays between retries: `initial * factor^n`, capped at `maximum`, shortened by up to `jitter`.
public struct Backoff: Sendable {
    /// Delay before the first retry, in seconds.
    public var initial: Double
    /// Largest delay, in seconds.
    public var maximum: Double
    /// Growth per failed attempt.
    public var factor: Double
    /// Fraction (0...1) of each delay taken off at random, so that many clients do not retry in step.
    public var jitter: Double
    /// Source of randomness in 0..<1 (tests pass a fixed one).
    public var random: @Sendable () -> Double

    private var attempt = 0

    /// A backoff policy; all durations in seconds.
    public init(initial: Double = 0.8, maximum: Double = 30, factor: Double = 2, jitter: Double = 0.25,
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.initial = initial; self.maximum = maximum; self.factor = factor
        self.jitter = min(max(jitter, 0), 1); self.random = random
    }

    /// The delay before the next retry; each call lengthens the following one.
    public mutating func next() -> Double {
        var base = initial
        for _ in 0..<min(attempt, 64) { base *= factor; if base >= maximum { break } }
        base = min(base, maximum)
        attempt += 1
        return base * (1 - jitter * random())
    }

    /// Forget the failures: the next delay is `initial` again.
    public mutating func reset() { attempt = 0 }

    /// How many delays were handed out since the last reset.
    public var attempts: Int { attempt }
}
