#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Logging
import Reconciler
import ServiceLifecycle

// MARK: - Exit when the --config file changes
//
// kube-proxy watches its --config file and exits when it is written or renamed, so that the
// DaemonSet restarts it with the new file. kube-ipvs does the same, with two differences: it
// compares the content (a write or a touch that leaves it as it was does not restart the node's
// proxy), and it follows a ConfigMap volume's update, where the kubelet swaps the `..data`
// symlink in the file's directory and deletes the old target, which a watch on the file alone
// does not see as a write.

/// The --config file's content changed: the process exits so that its restart reads the new file.
public struct ConfigFileChanged: Error, CustomStringConvertible, Sendable {
    /// The --config path as given.
    public let path: String
    /// kube-proxy's message, with the file.
    public var description: String {
        "--config \(path): content of the proxy server's configuration file was updated; exiting so that it is read again"
    }
}

/// Watches the --config file with inotify and throws `ConfigFileChanged` when its content differs
/// from the content the configuration was read from; returns on shutdown.
public struct ConfigFileWatcher: Service {
    /// The --config path as given (a symlink chain is followed on each look).
    public let path: String
    let content: Data
    let logger: Logger
    /// Called after each look that found the file unchanged (or unreadable): the first once the
    /// watch is in place, then one per batch of events; for tests.
    let onUnchanged: (@Sendable () -> Void)?

    /// `content`: the file as it was read for the configuration (see `snapshot`).
    public init(path: String, content: Data, logger: Logger, onUnchanged: (@Sendable () -> Void)? = nil) {
        self.path = path; self.content = content; self.logger = logger; self.onUnchanged = onUnchanged
    }

    /// The file's content, or nil when it is not a regular file (`/dev/stdin`, a pipe): there is
    /// nothing to watch then, and reading it again would consume it.
    public static func snapshot(_ path: String) -> Data? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return FileManager.default.contents(atPath: path)
    }

    /// Watches until the content changes (throws `ConfigFileChanged`) or the service is shut down.
    public func run() async throws {
        let watch = try InotifyWatch(path: path)
        defer { watch.close() }
        let (path, content, onUnchanged) = (self.path, self.content, self.onUnchanged)
        let changed = await cancelWhenGracefulShutdown {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
                    // poll(2) blocks: a thread of its own, not one of the cooperative pool's.
                    detachThread {
                        // A file that cannot be read (deleted for a moment) is not a change, as upstream.
                        let changed = watch.waitForChange {
                            FileManager.default.contents(atPath: path).map { $0 != content } ?? false
                        } unchanged: {
                            onUnchanged?()
                        }
                        done.resume(returning: changed)
                    }
                }
            } onCancel: {
                watch.wake()
            }
        }
        if changed {
            logger.notice("--config \(path) changed: exiting so that it is read again")
            throw ConfigFileChanged(path: path)
        }
    }
}

/// An inotify instance on a file, the directories along its symlink chain, and a wake-up pipe.
final class InotifyWatch: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let wakeRead: Int32, wakeWrite: Int32

    init(path: String) throws {
        self.path = path
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw ConfigWatchError(path: path, errno: errno) }
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            let e = errno
            Glibc.close(fd)
            throw ConfigWatchError(path: path, errno: e)
        }
        wakeRead = pipeFDs[0]; wakeWrite = pipeFDs[1]
        for p in pipeFDs { _ = fcntl(p, F_SETFD, FD_CLOEXEC) }
        addWatches()
    }

    /// Watches the file (its final target) and every directory along the chain of symlinks to it:
    /// a ConfigMap's update is a rename of `..data` in the file's own directory. Watches that
    /// exist already are kept; a missing file is watched again on the next event.
    private func addWatches() {
        let fileEvents = UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)
        let dirEvents = UInt32(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR)
        _ = inotify_add_watch(fd, path, fileEvents)
        for p in Self.symlinkChain(path) {
            _ = inotify_add_watch(fd, Self.directory(of: p), dirEvents)
        }
    }

    /// `path` and each path its symlinks lead to, at most 40 (the kernel's own limit).
    static func symlinkChain(_ path: String) -> [String] {
        var chain = [path]
        var p = path
        for _ in 0..<40 {
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(p, &buf, buf.count - 1)
            guard n > 0 else { break }
            let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            p = target.hasPrefix("/") ? target : directory(of: p) + "/" + target
            chain.append(p)
        }
        return chain
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Blocks until `changed()` holds after an event (true) or `wake` is called (false).
    func waitForChange(_ changed: () -> Bool, unchanged: () -> Void) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        // A change between the snapshot and the watch counts too: look once before waiting.
        if changed() { return true }
        unchanged()
        while true {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let n = poll(&fds, 2, -1)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            if fds[1].revents != 0 { return false }
            // Drain the queue (what matters is the content now, not which events led here), and
            // look only once the writer has been quiet for 50 ms (at most 2 s): a write in place
            // truncates first, and a look in between would see a half-written file as a change.
            for _ in 0..<40 {
                while read(fd, &buffer, buffer.count) > 0 {}
                var more = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&more, 1, 50) <= 0 { break }
            }
            addWatches()
            if changed() { return true }
            unchanged()
        }
    }

    /// Makes `waitForChange` return false.
    func wake() {
        var one: UInt8 = 1
        _ = write(wakeWrite, &one, 1)
    }

    func close() {
        Glibc.close(fd); Glibc.close(wakeRead); Glibc.close(wakeWrite)
    }
}

/// inotify could not be set up for the --config file.
struct ConfigWatchError: Error, CustomStringConvertible {
    let path: String
    let errno: Int32
    var description: String { "--config \(path): cannot watch the file for changes: \(String(cString: strerror(errno)))" }
}

/// Runs `body` on a new detached thread.
func detachThread(_ body: @escaping @Sendable () -> Void) {
    // No thread to be had: run it here rather than never (the caller waits for its result).
    guard let thread = try? startThread(body) else { body(); return }
    pthread_detach(thread)
}
