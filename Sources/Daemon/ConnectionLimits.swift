// MARK: - What one client may hold open on the daemon's HTTP servers
//
// /healthz (on every address by default), /metrics and the health-check node ports are reachable
// by anyone on the network. Without limits, a few hundred idle TCP connections used up the
// process's file descriptors: API watches then failed with EMFILE and /livez timed out, and the
// kubelet restarted a proxy that was fine. So each server closes a connection that stays idle
// (nothing read or written) for `idleTimeout`, and holds at most `maxConnections` at once: a new
// connection beyond that closes the oldest one, so that a probe (which connects, asks and leaves)
// is still answered while idle connections pile up. The daemon also raises its soft
// RLIMIT_NOFILE to the hard limit at start (`OpenFileLimit`), as Go programs do.
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import Synchronization

/// Per-server connection limits.
public struct ConnectionLimits: Sendable, Equatable {
    /// A connection with nothing read or written for this long is closed.
    public var idleTimeout: TimeAmount
    /// Connections held at once; a new one beyond this closes the oldest.
    public var maxConnections: Int

    /// 60 s idle, 128 connections: far more than probes and scrapes need, and three servers plus a
    /// few health-check ports stay a small share of even a 1024-descriptor limit.
    public init(idleTimeout: TimeAmount = .seconds(60), maxConnections: Int = 128) {
        self.idleTimeout = idleTimeout
        self.maxConnections = max(1, maxConnections)
    }
}

/// The open connections of one server, oldest first; closes the oldest beyond the cap.
final class ConnectionTracker: Sendable {
    private struct State {
        var open: [ObjectIdentifier: (order: UInt64, channel: any Channel)] = [:]
        var next: UInt64 = 0
        var evicted = 0
    }
    private let state = Mutex(State())
    let maxConnections: Int

    init(maxConnections: Int) { self.maxConnections = maxConnections }

    /// Connections open now.
    var count: Int { state.withLock { $0.open.count } }
    /// Connections closed so far to make room for newer ones.
    var evicted: Int { state.withLock { $0.evicted } }

    /// Tracks `channel` until it closes; closes the oldest connection when over the cap.
    func opened(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let victim = state.withLock { s -> (any Channel)? in
            s.next += 1
            s.open[id] = (s.next, channel)
            guard s.open.count > maxConnections,
                  let oldest = s.open.min(by: { $0.value.order < $1.value.order }) else { return nil }
            s.open[oldest.key] = nil
            s.evicted += 1
            return oldest.value.channel
        }
        channel.closeFuture.whenComplete { _ in _ = self.state.withLock { $0.open.removeValue(forKey: id) } }
        victim?.close(promise: nil)
    }
}

/// Closes the connection when IdleStateHandler reports it idle.
final class IdleConnectionCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

// MARK: - RLIMIT_NOFILE

/// The process's open-file limit.
public enum OpenFileLimit {
    /// Raises the soft RLIMIT_NOFILE to the hard limit (Go's runtime does this at start; the
    /// default soft limit of 1024 is easily reached by connections); returns the soft limit
    /// before and after, or nil when it could not be read or set.
    @discardableResult
    public static func raiseToHard() -> (before: UInt64, after: UInt64)? {
        #if canImport(Glibc)
        var l = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &l) == 0 else { return nil }
        let before = UInt64(l.rlim_cur)
        guard l.rlim_cur < l.rlim_max else { return (before, before) }
        l.rlim_cur = l.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &l) == 0 else { return nil }
        return (before, UInt64(l.rlim_max))
        #else
        return nil
        #endif
    }
}
