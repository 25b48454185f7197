import KubeModel
import NIOCore

// MARK: - List, then watch, forever
//
// client-go's Reflector, reduced to what a proxy needs: list a collection (paginated), hand the
// complete list over as `.replaced`, then watch from the list's resourceVersion and hand over each
// change. The resourceVersion advances with every event and every BOOKMARK, so a watch that ends
// (server timeout, dropped connection, idle timeout) resumes from where it was without a new list.
// Only a 410 Gone (the resourceVersion was compacted away) costs a relist, and with it a new
// `.replaced`. Failures are retried with capped exponential backoff and jitter, or after the
// server's Retry-After when that is longer; the loop ends only when its task is cancelled.

/// What the reflector hands to its consumer.
public enum ReflectorEvent<T: Sendable>: Sendable {
    /// The complete collection: forget what you had (first list, and every relist after a 410).
    case replaced([T])
    case added(T)
    case modified(T)
    case deleted(T)
}

extension ReflectorEvent: Equatable where T: Equatable {}

/// Something the consumer may want to log; the reflector itself never logs.
public struct ReflectorDiagnostic: Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// A full list arrived, in this encoding (the server's choice among those asked for).
        case listed(count: Int, resourceVersion: String, pages: Int, encoding: APIEncoding, milliseconds: Double)
        /// Listing failed; retried after `retryIn`.
        case listFailed(any Error)
        /// A watch failed or ended before it was of use; resumed after `retryIn`.
        case watchFailed(any Error)
        /// A watch ended at once without an event; resumed after `retryIn`.
        case watchClosedEarly
        /// The resourceVersion is too old (410 Gone): listing again.
        case expired(APIStatus?)
        /// A watch received nothing for `seconds` (not even a bookmark) and was replaced by a new
        /// one from the same resourceVersion: the connection may have died without a word.
        case watchRenewed(seconds: Double)
    }
    /// The collection concerned.
    public var resource: ResourceKind
    public var kind: Kind
    /// Seconds until the next attempt, when one is scheduled after a pause.
    public var retryIn: Double?

    public var description: String {
        let retry = retryIn.map { "; retrying in \(FixedDecimal.format($0, digits: 2))s" } ?? ""
        switch kind {
        case .listed(let count, let rv, let pages, let encoding, let ms):
            return "\(resource.path): listed \(count) objects in \(pages) page(s) in \(Int(ms.rounded())) ms at resourceVersion \(rv) (\(encoding.rawValue))"
        case .listFailed(let e): return "\(resource.path): list failed: \(e)\(retry)"
        case .watchFailed(let e): return "\(resource.path): watch failed: \(e)\(retry)"
        case .watchClosedEarly: return "\(resource.path): watch closed without events\(retry)"
        case .expired(let s):
            return "\(resource.path): resourceVersion expired\(s.map { " (\($0))" } ?? ""); listing again"
        case .watchRenewed(let seconds):
            return "\(resource.path): watch silent for \(seconds)s; watching again from the same resourceVersion"
        }
    }
}

/// Tuning of a `Reflector`; the defaults suit a real cluster, tests shorten them.
public struct ReflectorOptions: Sendable {
    /// Objects per list request.
    public var pageSize: Int = 500
    /// Delays between failed attempts (default 0.8 s doubling up to 30 s, with jitter).
    public var backoff = Backoff()
    /// Each watch asks the server to end it after a random time in [min, 2*min] seconds, as
    /// client-go does, so that watches of many clients do not all restart together.
    public var minWatchTimeoutSeconds: Int = 300
    /// Seconds without any byte on a watch before it is replaced by a new one from the same
    /// resourceVersion; nil: the watch timeout + 30 s. The daemon uses 60 s, so that a connection
    /// whose peer vanished without closing it is noticed within a minute.
    public var watchIdleTimeout: Double? = nil
    /// A watch that lasted this long (seconds) or delivered anything resets the backoff; one that
    /// ended sooner without an event counts as a failure (client-go's "very short watch", 1 s).
    public var healthyWatchDuration: Double = 1
    /// Longest pause taken for a server's `Retry-After` (seconds); a longer one is cut to this.
    public var maximumRetryAfter: Double = 300
    /// Receives what happened, for logging.
    public var onDiagnostic: (@Sendable (ReflectorDiagnostic) -> Void)? = nil
    /// Default options.
    public init() {}
}

/// Keeps a consumer up to date with one collection: `.replaced` lists, then changes.
public struct Reflector<T: KubeObject>: Sendable {
    public let client: APIClient
    public let kind: ResourceKind
    public let options: ReflectorOptions

    /// A reflector for `kind`, decoding objects as `T` (e.g. `Reflector<ServiceResource>`).
    public init(client: APIClient, kind: ResourceKind, options: ReflectorOptions = ReflectorOptions()) {
        self.client = client; self.kind = kind; self.options = options
    }

    /// The events as a stream; the loop runs while the stream is iterated (ending it cancels it).
    public func events() -> AsyncStream<ReflectorEvent<T>> {
        let (stream, continuation) = AsyncStream<ReflectorEvent<T>>.makeStream()
        let task = Task {
            await self.run { continuation.yield($0) }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Runs the list/watch loop in the calling task, awaiting `handler` for each event (so a slow
    /// consumer slows the reading down). Returns only when the task is cancelled.
    public func run(_ handler: @Sendable (ReflectorEvent<T>) async -> Void) async {
        var backoff = options.backoff
        // nil: no usable resourceVersion, list first.
        var resourceVersion: String? = nil
        // Set while relisting because a watch expired before it was of use: the list that follows
        // must not reset the backoff, or a server that expires every watch at once (a 410 storm)
        // would get a full list every `backoff.initial` seconds forever.
        var expiryStreak = false
        while !Task.isCancelled {
            if resourceVersion == nil {
                do {
                    let listStart = ContinuousClock.now
                    let list = try await client.list(T.self, kind, pageSize: options.pageSize)
                    if Task.isCancelled { return }
                    report(.listed(count: list.items.count, resourceVersion: list.resourceVersion, pages: list.pages, encoding: list.encoding,
                                   milliseconds: (ContinuousClock.now - listStart).milliseconds))
                    await handler(.replaced(list.items))
                    resourceVersion = list.resourceVersion
                    if !expiryStreak { backoff.reset() }
                } catch {
                    if Task.isCancelled || error is CancellationError { return }
                    let delay = retryDelay(after: error, &backoff)
                    report(.listFailed(error), retryIn: delay)
                    guard await pause(delay) else { return }
                    continue
                }
            }

            // Watch from resourceVersion until the stream ends.
            let started = NIODeadline.now()
            var delivered = 0
            var failure: (any Error)? = nil
            var expired = false
            let timeout = options.minWatchTimeoutSeconds + Int.random(in: 0...max(options.minWatchTimeoutSeconds, 0))
            do {
                let stream = client.watch(T.self, kind, resourceVersion: resourceVersion, timeoutSeconds: timeout,
                                          allowBookmarks: true, idleTimeout: options.watchIdleTimeout)
                watching: for try await event in stream {
                    delivered += 1
                    switch event {
                    case .added(let o):
                        resourceVersion = o.metadata?.resourceVersion ?? resourceVersion
                        await handler(.added(o))
                    case .modified(let o):
                        resourceVersion = o.metadata?.resourceVersion ?? resourceVersion
                        await handler(.modified(o))
                    case .deleted(let o):
                        resourceVersion = o.metadata?.resourceVersion ?? resourceVersion
                        await handler(.deleted(o))
                    case .bookmark(let rv):
                        resourceVersion = rv
                    case .error(let status):
                        delivered -= 1
                        if status.code == 410 {
                            expired = true
                            report(.expired(status))
                        } else {
                            failure = APIError.http(code: status.code ?? 500, status: status, method: "WATCH", path: kind.path)
                        }
                        break watching
                    }
                }
            } catch let e as APIError where e.isGone {
                // 410 as the answer to the watch request itself.
                expired = true
                if case .http(_, let s, _, _, _) = e { report(.expired(s)) } else { report(.expired(nil)) }
            } catch APIError.watchIdle(_, let seconds) {
                // Silence is not a failure: a quiet collection, or a peer that vanished without
                // closing the connection. Watch again at once from where we were.
                if Task.isCancelled { return }
                report(.watchRenewed(seconds: seconds))
                backoff.reset()
                continue
            } catch {
                if Task.isCancelled || error is CancellationError { return }
                failure = error
            }
            if Task.isCancelled { return }

            let healthy = delivered > 0 || (NIODeadline.now() - started) >= .nanoseconds(Int64(options.healthyWatchDuration * 1e9))
            if healthy { backoff.reset() }
            expiryStreak = expired && !healthy
            if expired {
                resourceVersion = nil
                // A server that expires every fresh resourceVersion at once must not be hammered.
                if !healthy { guard await pause(backoff.next()) else { return } }
                continue
            }
            if let failure {
                let delay = retryDelay(after: failure, &backoff)
                report(.watchFailed(failure), retryIn: delay)
                guard await pause(delay) else {
                    client.options.trace?("\(kind.path): pause of \(delay)s cancelled; reflector ends")
                    return
                }
                client.options.trace?("\(kind.path): pause of \(delay)s over")
            } else if !healthy {
                let delay = backoff.next()
                report(.watchClosedEarly, retryIn: delay)
                guard await pause(delay) else { return }
            }
        }
    }

    /// The next backoff delay, or the server's Retry-After (capped) when that is longer: a 429 or
    /// 503 says when the server will take requests again, and asking sooner only adds to its load.
    private func retryDelay(after error: any Error, _ backoff: inout Backoff) -> Double {
        let delay = backoff.next()
        guard let asked = (error as? APIError)?.retryAfter else { return delay }
        return max(delay, min(asked, options.maximumRetryAfter))
    }

    private func report(_ kind: ReflectorDiagnostic.Kind, retryIn: Double? = nil) {
        options.onDiagnostic?(ReflectorDiagnostic(resource: self.kind, kind: kind, retryIn: retryIn))
    }

    /// Sleeps on a NIO timer (Sleep.swift); false when cancelled meanwhile.
    private func pause(_ seconds: Double) async -> Bool {
        do {
            try await eventLoopSleep(seconds)
            return true
        } catch {
            return false
        }
    }
}
