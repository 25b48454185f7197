import KernelPort
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Running a system tool
//
// The xtables tools: the nf_tables flavour (iptables-nft-restore --noflush / iptables-nft-save),
// the flavour detector, and the legacy backend's fallback for rules outside the libiptc codec's
// grammar; always one process per table and direction, never one per rule. And modprobe, once per
// missing module (Prerequisites).

/// How long a system tool may run before it is killed: a hung `iptables-restore` (the xtables
/// lock held by another process) or `modprobe` must become an error the loop retries, not a stalled loop.
public let externalCommandTimeout: Duration = .seconds(60)

/// Runs one tool with optional standard input, capturing stdout and stderr separately.
struct ExternalCommand {
    /// Directories searched for the tools (a daemon's PATH may lack the sbin directories).
    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"]

    /// How long a tool may run before it is killed (`externalCommandTimeout`).
    static let defaultTimeout = externalCommandTimeout

    /// The absolute path of `tool` (a name with `/` is taken as a path), or nil when it is not installed.
    static func locate(_ tool: String, in directories: [String] = searchPath) -> String? {
        if tool.contains("/") { return access(tool, X_OK) == 0 ? tool : nil }
        for dir in directories where access("\(dir)/\(tool)", X_OK) == 0 { return "\(dir)/\(tool)" }
        return nil
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `tool args...`; the input (if any) is given through an unlinked temporary file, stderr
    /// goes to another, and stdout is read from a pipe, so no pipe can fill up and deadlock.
    /// Errors are reported under `subsystem`. A tool still running after `timeout` is killed with
    /// its process group (a script's children too) and reported as ETIMEDOUT.
    static func run(_ tool: String, _ args: [String], input: String? = nil, subsystem: KernelSubsystem = .iptables,
                    searchPath directories: [String] = searchPath, timeout: Duration = defaultTimeout) throws -> Output {
        guard let path = locate(tool, in: directories) else {
            throw KernelError(subsystem: subsystem, operation: "exec", object: tool, errno: ENOENT, message: "\(tool) is not installed")
        }
        // An unlinked temporary file (memfd_create needs _GNU_SOURCE, which Swift's Glibc lacks).
        func memfd(_ name: String) throws -> Int32 {
            var template = Array("/tmp/\(name).XXXXXX".utf8CString)
            let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard fd >= 0 else { throw KernelError(subsystem: subsystem, operation: "mkostemp", errno: errno) }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            return fd
        }
        let inFD = try memfd("kube-ipvs-in")
        defer { close(inFD) }
        if let input {
            var bytes = Array(input.utf8)
            var off = 0
            while off < bytes.count {
                let n = bytes.withUnsafeMutableBytes { write(inFD, $0.baseAddress! + off, $0.count - off) }
                if n < 0 { if errno == EINTR { continue }; throw KernelError(subsystem: subsystem, operation: "write input", errno: errno) }
                off += n
            }
            bytes.removeAll()
            lseek(inFD, 0, SEEK_SET)
        }
        let errFD = try memfd("kube-ipvs-err")
        defer { close(errFD) }
        var p: [Int32] = [0, 0]
        guard pipe(&p) == 0 else { throw KernelError(subsystem: subsystem, operation: "pipe", errno: errno) }
        _ = fcntl(p[0], F_SETFD, FD_CLOEXEC); _ = fcntl(p[1], F_SETFD, FD_CLOEXEC)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inFD, 0)
        posix_spawn_file_actions_adddup2(&actions, p[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errFD, 2)
        let argv = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        let env: [String] = ["LC_ALL=C", "PATH=/usr/sbin:/sbin:/usr/bin:/bin"]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { (s: String) -> UnsafeMutablePointer<CChar>? in strdup(s) } + [nil]
        defer { for e in envp { free(e) } }
        // Its own process group, so that a timeout kills whatever it started as well.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attr, 0)
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        close(p[1])
        guard rc == 0 else {
            close(p[0])
            throw KernelError(subsystem: subsystem, operation: "exec", object: tool, errno: rc)
        }
        let out = readAll(p[0], until: ContinuousClock.now + timeout)
        close(p[0])
        if out == nil { kill(-pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard let out else {
            let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
            throw KernelError(subsystem: subsystem, operation: "exec", object: tool, errno: ETIMEDOUT,
                              message: "\(tool) did not finish within \(seconds)s and was killed")
        }
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)

        lseek(errFD, 0, SEEK_SET)
        let err = readAll(errFD)
        return Output(status: exit, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}

/// Everything `fd` yields until end of file (or an error); nil when `deadline` passes first.
func readAll(_ fd: Int32, until deadline: ContinuousClock.Instant) -> [UInt8]? {
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let left = deadline - ContinuousClock.now
        if left <= .zero { return nil }
        let ms = min(Int64(Int32.max), left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, Int32(ms))
        if ready < 0 { if errno == EINTR { continue }; break }
        if ready == 0 { continue }  // the deadline is checked above
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        data.append(contentsOf: buf[0..<n])
    }
    return data
}

/// Everything `fd` yields until end of file (or an error), retrying on EINTR.
func readAll(_ fd: Int32) -> [UInt8] {
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        data.append(contentsOf: buf[0..<n])
    }
    return data
}
