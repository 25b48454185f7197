#if canImport(Glibc)
import Glibc
#endif

// MARK: - Errors from the kernel, typed
//
// Every backend (IPVS genl, rtnetlink, ipset, iptables, conntrack, /proc/sys) reports failures as a
// `KernelError` so that callers can log one stable line and tests can match on the errno and the
// operation, not on text.

/// The kernel subsystem an error came from.
public enum KernelSubsystem: String, Sendable, Hashable, CaseIterable {
    case netlink
    case ipvs
    case link
    case address
    case ipset
    case iptables
    case sysctl
    case module
    case conntrack
}

/// A failed kernel request: which subsystem, which operation on which object, and the errno.
public struct KernelError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Subsystem the request went to.
    public var subsystem: KernelSubsystem
    /// Operation name, e.g. `IPVS_CMD_NEW_DEST`, `RTM_NEWADDR`, `ipset add`, `open /proc/sys`.
    public var operation: String
    /// The object acted on, e.g. `10.254.10.128:80/TCP -> 10.244.1.2:8080`; empty when node-wide.
    public var object: String
    /// The positive errno value (0 when the failure has no errno, such as a malformed reply).
    public var errno: Int32
    /// Extra text: the kernel's extended-ack message, a library message, or a decoding problem.
    public var message: String

    public init(subsystem: KernelSubsystem, operation: String, object: String = "", errno: Int32 = 0, message: String = "") {
        self.subsystem = subsystem; self.operation = operation; self.object = object
        self.errno = errno; self.message = message
    }

    /// The symbolic errno name (`EEXIST`) when known, otherwise the number.
    public var errnoName: String { KernelError.errnoName(errno) }

    /// `ipvs IPVS_CMD_NEW_DEST 10.0.0.1:80/TCP -> 10.244.1.2:8080: ENOENT (No such file or directory): text`.
    public var description: String {
        var s = "\(subsystem.rawValue) \(operation)"
        if !object.isEmpty { s += " \(object)" }
        if errno != 0 { s += ": \(errnoName) (\(KernelError.strerror(errno)))" }
        if !message.isEmpty { s += ": \(message)" }
        return s
    }

    /// Human text for an errno, from the C library.
    public static func strerror(_ code: Int32) -> String {
        #if canImport(Glibc)
        guard let p = Glibc.strerror(code) else { return "errno \(code)" }
        return String(cString: p)
        #else
        return "errno \(code)"
        #endif
    }

    /// Names of the errnos kernel requests commonly return (values from asm-generic/errno*.h).
    public static func errnoName(_ code: Int32) -> String {
        switch code {
        case 1: return "EPERM"
        case 2: return "ENOENT"
        case 3: return "ESRCH"
        case 4: return "EINTR"
        case 5: return "EIO"
        case 11: return "EAGAIN"
        case 12: return "ENOMEM"
        case 13: return "EACCES"
        case 16: return "EBUSY"
        case 17: return "EEXIST"
        case 19: return "ENODEV"
        case 22: return "EINVAL"
        case 28: return "ENOSPC"
        case 34: return "ERANGE"
        case 61: return "ENODATA"
        case 71: return "EPROTO"
        case 90: return "EMSGSIZE"
        case 92: return "ENOPROTOOPT"
        case 93: return "EPROTONOSUPPORT"
        case 95: return "EOPNOTSUPP"
        case 97: return "EAFNOSUPPORT"
        case 99: return "EADDRNOTAVAIL"
        case 105: return "ENOBUFS"
        default: return "errno \(code)"
        }
    }
}
