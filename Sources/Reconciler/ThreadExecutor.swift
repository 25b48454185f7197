import Glibc

// MARK: - A serial executor on a thread of its own
//
// The loop's syncs call the kernel synchronously (netlink, libipset, libiptc), for seconds on a
// large cold node. On Swift's cooperative pool (one thread per CPU) that would stop every other
// task meanwhile: the watches, their inactivity timers, the HTTP handlers. ProxyLoop runs on this
// executor instead, so a slow kernel blocks only the loop.

/// A serial executor that runs its jobs, in order, on one dedicated, named thread.
///
/// The thread lives until `shutdown()`; jobs enqueued by then still run. Its owner calls
/// `shutdown()` once nothing can enqueue any more (ProxyLoop: in its deinit).
final class ThreadExecutor: SerialExecutor, @unchecked Sendable {
    // @unchecked: `jobs`, `stopping` and `thread` are guarded by `mutex`; the rest is immutable.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: [UnownedJob] = []
    private var stopping = false
    private var thread = pthread_t()
    /// The thread's name, as /proc/self/task/*/comm and debuggers show it.
    let name: String

    /// Starts the thread. - Parameter name: at most 15 bytes (the kernel's limit; longer is cut).
    init(name: String) {
        self.name = name
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        // The thread holds the executor until it ends, so the queue outlives every job on it.
        let t: pthread_t
        do { t = try startThread { self.runJobs() } } catch {
            // Without its thread the loop could never run: nothing sensible is left to do.
            preconditionFailure("kube-ipvs: cannot start the \(name) thread: \(error)")
        }
        pthread_mutex_lock(mutex)
        thread = t
        pthread_mutex_unlock(mutex)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(mutex)
        jobs.append(job)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Whether the caller runs on this executor's thread.
    var isCurrentThread: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return pthread_equal(pthread_self(), thread) != 0
    }

    /// For `assumeIsolated`: traps unless called on this executor's thread.
    func checkIsolated() {
        precondition(isCurrentThread, "not on the \(name) thread")
    }

    /// Ends the thread once its queue is empty. Joins it, except from the thread itself (the last
    /// reference to the owner may be dropped by one of its own jobs), which is detached instead.
    func shutdown() {
        pthread_mutex_lock(mutex)
        let wasStopping = stopping
        stopping = true
        pthread_cond_signal(condition)
        let t = thread
        pthread_mutex_unlock(mutex)
        guard !wasStopping else { return }
        if pthread_equal(pthread_self(), t) != 0 { pthread_detach(t) } else { pthread_join(t, nil) }
    }

    /// Names the calling thread, best effort. Through /proc/thread-self/comm (what
    /// pthread_setname_np writes on Linux) because Glibc's Swift module leaves the GNU calls out.
    static func nameCurrentThread(_ name: String) {
        // The kernel keeps 15 bytes of a thread's name.
        var short = name
        while short.utf8.count > 15 { short.removeLast() }
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = short.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    /// The thread's body: runs jobs in order until shut down and drained.
    private func runJobs() {
        Self.nameCurrentThread(name)
        var batch: [UnownedJob] = []
        while true {
            pthread_mutex_lock(mutex)
            while jobs.isEmpty && !stopping { pthread_cond_wait(condition, mutex) }
            if jobs.isEmpty { pthread_mutex_unlock(mutex); return }
            swap(&batch, &jobs)
            pthread_mutex_unlock(mutex)
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}

/// pthread_create failed; `errno` is its result.
public struct ThreadStartError: Error, CustomStringConvertible {
    public let errno: Int32
    public var description: String { String(cString: strerror(errno)) }
}

/// Starts `body` on a new joinable thread and returns it (Foundation's Thread is not in
/// FoundationEssentials); the thread holds `body` until it returns.
public func startThread(_ body: @escaping @Sendable () -> Void) throws(ThreadStartError) -> pthread_t {
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { arg in
        Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().run()
        return nil
    }, box)
    guard rc == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(box).release()
        throw ThreadStartError(errno: rc)
    }
    return thread
}

private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
