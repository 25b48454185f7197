#if canImport(Glibc)
import Glibc
#endif

// MARK: - Running iptables-save / iptables-restore
//
// Used for the nf_tables flavour (iptables-nft-restore --noflush / iptables-nft-save), for the
// flavour detector, and as the legacy backend's fallback for rules outside the libiptc codec's
// grammar. Always one process per table and direction, never one per rule.

/// Runs one xtables tool with optional standard input, capturing stdout and stderr separately.
struct XtablesCommand {
    /// Directories searched for the tools (a daemon's PATH may lack the sbin directories).
    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"]

    /// The absolute path of `tool`, or nil when it is not installed.
    static func locate(_ tool: String) -> String? {
        for dir in searchPath where access("\(dir)/\(tool)", X_OK) == 0 { return "\(dir)/\(tool)" }
        return nil
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `tool args...`; the input (if any) is given through an unlinked temporary file, stderr
    /// goes to another, and stdout is read from a pipe, so no pipe can fill up and deadlock.
    static func run(_ tool: String, _ args: [String], input: String? = nil) throws -> Output {
        guard let path = locate(tool) else {
            throw KernelError(subsystem: .iptables, operation: "exec", object: tool, errno: ENOENT, message: "\(tool) is not installed")
        }
        // An unlinked temporary file (memfd_create needs _GNU_SOURCE, which Swift's Glibc lacks).
        func memfd(_ name: String) throws -> Int32 {
            var template = Array("/tmp/\(name).XXXXXX".utf8CString)
            let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard fd >= 0 else { throw KernelError(subsystem: .iptables, operation: "mkostemp", errno: errno) }
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
                if n < 0 { if errno == EINTR { continue }; throw KernelError(subsystem: .iptables, operation: "write input", errno: errno) }
                off += n
            }
            bytes.removeAll()
            lseek(inFD, 0, SEEK_SET)
        }
        let errFD = try memfd("kube-ipvs-err")
        defer { close(errFD) }
        var p: [Int32] = [0, 0]
        guard pipe(&p) == 0 else { throw KernelError(subsystem: .iptables, operation: "pipe", errno: errno) }
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
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, envp)
        close(p[1])
        guard rc == 0 else {
            close(p[0])
            throw KernelError(subsystem: .iptables, operation: "exec", object: tool, errno: rc)
        }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(p[0], $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        close(p[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)

        var err: [UInt8] = []
        lseek(errFD, 0, SEEK_SET)
        while true {
            let n = buf.withUnsafeMutableBytes { read(errFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            err.append(contentsOf: buf[0..<n])
        }
        return Output(status: exit, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}

// MARK: - The xtables lock

/// The lock iptables (legacy) takes around table changes (`/run/xtables.lock`, or
/// `$XTABLES_LOCKFILE`), held while kube-ipvs reads, changes and commits a table through libiptc,
/// so that an `iptables -w` run by someone else cannot interleave and be lost.
struct XtablesLock {
    private var fd: Int32 = -1

    /// Takes the lock, waiting up to `timeout` seconds.
    init(timeout: Double = 5) throws {
        let path = getenv("XTABLES_LOCKFILE").map { String(cString: $0) } ?? "/run/xtables.lock"
        fd = open(path, O_CREAT | O_CLOEXEC | O_RDWR, 0o600)
        guard fd >= 0 else { throw KernelError(subsystem: .iptables, operation: "open", object: path, errno: errno) }
        var waited = 0.0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, waited < timeout else {
                let e = errno
                close(fd)
                throw KernelError(subsystem: .iptables, operation: "flock", object: path, errno: e,
                                  message: "another iptables user holds the xtables lock")
            }
            usleep(50_000); waited += 0.05
        }
    }

    /// Releases the lock.
    func release() { if fd >= 0 { close(fd) } }
}
