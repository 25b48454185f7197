#if canImport(Glibc)
import Glibc
#endif

// MARK: - One writer per node
//
// `run`, `sync` and `cleanup` change the node's IPVS, ipsets, chains and kube-ipvs0; two of them at
// once undo each other's work. Each takes an exclusive flock(2) on one file (on the host's /run,
// mounted into the DaemonSet's pod) and writes its pid there, so the one that finds the lock taken
// can name the holder. The kernel drops the lock when the holder exits, however it exits; the file
// is never unlinked (unlinking a lock file lets a third process lock a new inode).

/// An exclusive lock on the node, held until `release()` or the process exits.
public final class NodeLock: @unchecked Sendable {
    /// The default lock file.
    public static let defaultPath = "/run/kube-ipvs.lock"
    /// The environment variable that overrides `defaultPath` (tests, unusual hosts).
    public static let pathVariable = "KUBE_IPVS_LOCK_FILE"

    /// The lock file.
    public let path: String
    private var fd: Int32

    private init(path: String, fd: Int32) { self.path = path; self.fd = fd }

    /// The lock file to use: `$KUBE_IPVS_LOCK_FILE`, else `defaultPath`.
    public static func configuredPath(environment: [String: String]) -> String {
        if let p = environment[pathVariable], !p.isEmpty { return p }
        return defaultPath
    }

    /// Takes the lock, trying again every `interval` seconds for up to `timeout` seconds;
    /// `waiting` is called once, with the holder, when the first try finds the lock taken.
    /// - Parameter holder: what this process writes after its pid, e.g. `kube-ipvs run`.
    /// - Throws: `NodeLockError.held` naming the holder when it is still taken after `timeout`;
    ///   `NodeLockError.unusable` when the file cannot be opened or locked.
    public static func acquire(path: String, holder: String, timeout: Double, interval: Double = 0.1,
                               waiting: (NodeLockHolder) -> Void = { _ in }) throws -> NodeLock {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw NodeLockError.unusable(path: path, operation: "open", errno: errno) }
        var told = false
        if let (e, waited) = flockExclusive(fd, timeout: timeout, interval: interval, busy: {
            if !told { waiting(readHolder(fd)); told = true }
        }) {
            let current = readHolder(fd)
            close(fd)
            guard e == EWOULDBLOCK else { throw NodeLockError.unusable(path: path, operation: "flock", errno: e) }
            throw NodeLockError.held(path: path, holder: current, waited: waited)
        }
        // Ours now: replace the previous holder's line with this process's.
        let line = Array("\(getpid()) \(holder)\n".utf8)
        _ = ftruncate(fd, 0)
        _ = line.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return NodeLock(path: path, fd: fd)
    }

    /// Who holds the lock of `path` now, as written in the file (nil pid: nothing written yet).
    static func readHolder(_ fd: Int32) -> NodeLockHolder {
        var buf = [UInt8](repeating: 0, count: 256)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return NodeLockHolder(text: n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : "")
    }

    /// `seconds` for messages, to a tenth: `60`, `0.3`.
    public static func seconds(_ seconds: Double) -> String {
        let tenths = Int((min(max(seconds, 0), 1e6) * 10).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
    }

    /// Releases the lock (the file stays, emptied).
    public func release() {
        guard fd >= 0 else { return }
        _ = ftruncate(fd, 0)
        close(fd)
        fd = -1
    }

    deinit { release() }
}

/// The process holding the node lock, as it wrote itself into the file.
public struct NodeLockHolder: Sendable, Hashable, CustomStringConvertible {
    /// Its pid (in its own PID namespace: in a pod, the container's), when written.
    public var pid: Int32?
    /// What it is, e.g. `kube-ipvs run`.
    public var command: String

    /// Parses the file's first line: `PID COMMAND`.
    public init(text: String) {
        let line = text.split(separator: "\n").first.map(String.init) ?? ""
        let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
        pid = parts.first.flatMap { Int32($0) }.flatMap { $0 > 0 ? $0 : nil }
        command = pid != nil && parts.count > 1 ? parts[1] : ""
    }

    public var description: String {
        guard let pid else { return "another process (it has not written its pid yet)" }
        return command.isEmpty ? "pid \(pid)" : "pid \(pid) (\(command))"
    }
}

/// Why the node lock could not be taken.
public enum NodeLockError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Someone else held it for the whole wait.
    case held(path: String, holder: NodeLockHolder, waited: Double)
    /// The lock file could not be opened or locked (a missing directory, a read-only /run).
    case unusable(path: String, operation: String, errno: Int32)

    public var description: String {
        switch self {
        case .held(let path, let holder, let waited):
            let wait = waited > 0 ? " after waiting \(NodeLock.seconds(waited)) s" : ""
            return "the node lock \(path) is held by \(holder)\(wait): only one kube-ipvs may change a node at a time "
                + "(stop the other one; `status` and the --dry-run forms take no lock)"
        case .unusable(let path, let operation, let e):
            return "the node lock \(path): \(operation) failed: \(String(cString: strerror(e))) (errno \(e)); "
                + "set \(NodeLock.pathVariable) to a writable path"
        }
    }
}
