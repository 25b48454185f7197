import NIOCore
import NIOPosix

// MARK: - Sleeping on SwiftNIO's timers
//
// The reflector's pauses and the client's deadlines sleep on an event-loop timer rather than with
// `Task.sleep`. In the QEMU guest (1 vCPU, software emulation, release build) the reflectors'
// `Task.sleep` pauses after a dropped watch were seen never to end, both on ContinuousClock and
// with `Task.sleep(nanoseconds:)`, while the same binary on the host (pinned to one CPU) recovered;
// NIO's timers, which the HTTP client itself depends on, kept working there. See docs/kubeclient.md.

/// Sleeps `seconds` on an event loop of the shared NIO group; throws `CancellationError` when the
/// calling task is cancelled meanwhile. Waits computed from outside values (a tiny
/// clientConnection.qps, a Retry-After) may be absurdly long or not finite: they are capped at
/// the longest time NIO's timer takes (Int64 nanoseconds) rather than trapping in the conversion.
public func eventLoopSleep(_ seconds: Double) async throws {
    try Task.checkCancellation()
    let loop = MultiThreadedEventLoopGroup.singleton.next()
    let nanoseconds = seconds.isNaN || seconds <= 0 ? 0 : min(seconds * 1e9, 9.2e18)
    let scheduled = loop.scheduleTask(in: .nanoseconds(Int64(nanoseconds))) {}
    try await withTaskCancellationHandler {
        do {
            try await scheduled.futureResult.get()
        } catch {
            throw CancellationError()
        }
    } onCancel: {
        scheduled.cancel()
    }
}
