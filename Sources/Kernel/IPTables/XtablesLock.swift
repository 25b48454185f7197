import KernelPort
#if canImport(Glibc)
import Glibc
#endif

// MARK: - The xtables lock

/// The lock iptables (legacy) takes around table changes (`/run/xtables.lock`, or
/// `$XTABLES_LOCKFILE`), held while kube-ipvs reads, changes and commits a table through libiptc,
/// so that an `iptables -w` run by someone else cannot interleave and be lost.
struct XtablesLock {
    private var fd: Int32 = -1

    /// Takes the lock, waiting up to `timeout` seconds.
    init(timeout: Double) throws {
        let path = getenv("XTABLES_LOCKFILE").map { String(cString: $0) } ?? "/run/xtables.lock"
        fd = open(path, O_CREAT | O_CLOEXEC | O_RDWR, 0o600)
        guard fd >= 0 else { throw KernelError(subsystem: .iptables, operation: "open", object: path, errno: errno) }
        if let (e, _) = flockExclusive(fd, timeout: timeout, interval: 0.05) {
            close(fd)
            throw KernelError(subsystem: .iptables, operation: "flock", object: path, errno: e,
                              message: "another iptables user holds the xtables lock")
        }
    }

    /// Releases the lock.
    func release() { if fd >= 0 { close(fd) } }
}
