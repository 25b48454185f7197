import KubeModel

// MARK: - Node tuning: conntrack sizing and timeouts, conn_reuse_mode (pure)
//
// What kube-proxy does to the node once at start (its platformSetup and the IPVS proxier's
// constructor), decided from the configuration and the values read back from the node. Every
// value is compared first and only written when it differs; nf_conntrack_max and the hashsize are
// only ever raised, as upstream: a node whose administrator set a larger table keeps it.

/// The running kernel's version as upstream compares it: major.minor.patch of the release string.
public struct KernelVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var patch: Int
    /// A version from its numbers.
    public init(_ major: Int, _ minor: Int, _ patch: Int = 0) { self.major = major; self.minor = minor; self.patch = patch }

    /// `6.1.0-18-amd64` or `4.19.0` (the osrelease text); nil unless it starts with NUMBER.NUMBER.
    public init?(release: String) {
        var parts: [Int] = []
        var digits = Substring(release.drop { $0 == " " || $0 == "\n" })
        while parts.count < 3 {
            let number = digits.prefix { $0.isASCII && $0.isNumber }
            // At most 6 digits: no component reaches that, and Int(...) of it cannot overflow.
            guard !number.isEmpty, number.count <= 6, let n = Int(number) else { break }
            parts.append(n)
            digits = digits.dropFirst(number.count)
            guard digits.first == "." else { break }
            digits = digits.dropFirst()
        }
        guard parts.count >= 2 else { return nil }
        self.init(parts[0], parts[1], parts.count > 2 ? parts[2] : 0)
    }

    public static func < (a: Self, b: Self) -> Bool { (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch) }
    public var description: String { "\(major).\(minor).\(patch)" }
}

/// What node tuning reads from the node before it decides.
public struct NodeTuningState: Sendable, Hashable {
    /// The node's online CPUs (not this process's cpuset).
    public var cpus: Int
    /// nil when the release string could not be read or parsed.
    public var kernel: KernelVersion?
    /// Current values of `NodeTuning.sysctlNames`, by dotted name; a missing key means unknown.
    public var sysctls: [String: String]
    /// /sys/module/nf_conntrack/parameters/hashsize; nil when unknown.
    public var hashsize: String?
    public init(cpus: Int, kernel: KernelVersion?, sysctls: [String: String] = [:], hashsize: String? = nil) {
        self.cpus = cpus; self.kernel = kernel; self.sysctls = sysctls; self.hashsize = hashsize
    }
}

/// The writes node tuning decided on, and what it has to say about the ones it did not make.
public struct NodeTuningPlan: Sendable, Hashable {
    /// setSysctl and setModuleParameter operations, in upstream's order.
    public var operations: [PlannedOperation] = []
    /// Lines for the log at error level (upstream logs them and carries on).
    public var errors: [String] = []
    /// Lines for the log at info level.
    public var notes: [String] = []
    public init() {}
}

/// kube-proxy's node tuning, decided (docs/kernel.md, "Node tuning").
public enum NodeTuning {
    public static let conntrackMax = "net.netfilter.nf_conntrack_max"
    public static let tcpEstablished = "net.netfilter.nf_conntrack_tcp_timeout_established"
    public static let tcpCloseWait = "net.netfilter.nf_conntrack_tcp_timeout_close_wait"
    public static let tcpBeLiberal = "net.netfilter.nf_conntrack_tcp_be_liberal"
    public static let udpTimeout = "net.netfilter.nf_conntrack_udp_timeout"
    public static let udpStreamTimeout = "net.netfilter.nf_conntrack_udp_timeout_stream"
    public static let connReuseMode = "net.ipv4.vs.conn_reuse_mode"
    /// The sysctls node tuning reads (dotted names).
    public static let sysctlNames = [conntrackMax, tcpEstablished, tcpCloseWait, tcpBeLiberal, udpTimeout, udpStreamTimeout, connReuseMode]
    /// The conntrack module parameter sized with nf_conntrack_max.
    public static let hashsizeModule = "nf_conntrack", hashsizeParameter = "hashsize"
    /// Upstream's ceiling on the scaled value (maxPerCore x CPUs), against the memory a table sized
    /// for hundreds of cores would take; `min` is not capped.
    public static let scaledConntrackMaxCap: Int64 = 1_048_576
    /// conn_reuse_mode exists from 4.1; from 5.9 its default no longer drops the first packet of a
    /// reused connection, so upstream leaves it alone there.
    public static let connReuseMinimumKernel = KernelVersion(4, 1), connReuseFixedKernel = KernelVersion(5, 9)

    /// nf_conntrack_max for `c` on a node with `cpus` CPUs: max(maxPerCore x CPUs capped at
    /// 1,048,576, min); nil (leave it alone) when maxPerCore is not positive. Never traps: the
    /// product is taken in Int64 and an overflow is above the cap anyway.
    public static func conntrackMax(_ c: ConntrackConfig, cpus: Int) -> Int64? {
        guard c.maxPerCore > 0 else { return nil }
        let (scaled, overflow) = Int64(c.maxPerCore).multipliedReportingOverflow(by: Int64(Swift.max(cpus, 1)))
        if overflow || scaled > scaledConntrackMaxCap { return scaledConntrackMaxCap }
        return Swift.max(scaled, Int64(c.min))
    }

    /// Whole seconds of a timeout, as upstream truncates it; nil (leave alone) when not positive.
    /// Throws, naming `field`, above what the kernel accepts for a seconds sysctl (INT_MAX / HZ).
    public static func seconds(_ value: Double, field: String) throws -> Int64? {
        guard value > 0 else { return nil }
        guard value.isFinite, value < Double(ProxyConfig.maxIPVSTimeout) + 1 else {
            throw ConfigError(field, "\(value)s is more than the kernel accepts (at most \(ProxyConfig.maxIPVSTimeout)s)")
        }
        return Int64(value.rounded(.towardZero))
    }

    /// The writes `config` needs on a node in `state`, in upstream's order: nf_conntrack_max,
    /// hashsize, the TCP timeouts, be_liberal, the UDP timeouts, then conn_reuse_mode.
    public static func plan(config: ProxyConfig, state: NodeTuningState) throws -> NodeTuningPlan {
        var out = NodeTuningPlan()
        func current(_ name: String) -> Int64? { state.sysctls[name].flatMap { Int64($0.trimmingSpaces) } }
        func ensure(_ name: String, _ value: Int64) {
            if current(name) != value { out.operations.append(PlannedOperation(.setSysctl(name: name, value: String(value)))) }
        }
        let c = config.conntrack
        if let max = conntrackMax(c, cpus: state.cpus) {
            // Only raised: a larger table set by the administrator (or unwritable here) is kept.
            if let now = current(conntrackMax), now >= max {
                if now > max { out.notes.append("\(conntrackMax) is \(now), above the \(max) conntrack.maxPerCore/min ask for; left as is") }
            } else {
                out.operations.append(PlannedOperation(.setSysctl(name: conntrackMax, value: String(max))))
            }
            let buckets = max / 4
            if (state.hashsize.flatMap { Int64($0.trimmingSpaces) } ?? -1) < buckets {
                out.operations.append(PlannedOperation(.setModuleParameter(module: hashsizeModule, parameter: hashsizeParameter, value: String(buckets))))
            }
        }
        if let s = try seconds(c.tcpEstablishedTimeout, field: "conntrack.tcpEstablishedTimeout") { ensure(tcpEstablished, s) }
        if let s = try seconds(c.tcpCloseWaitTimeout, field: "conntrack.tcpCloseWaitTimeout") { ensure(tcpCloseWait, s) }
        if c.tcpBeLiberal { ensure(tcpBeLiberal, 1) }
        if let s = try seconds(c.udpTimeout, field: "conntrack.udpTimeout") { ensure(udpTimeout, s) }
        if let s = try seconds(c.udpStreamTimeout, field: "conntrack.udpStreamTimeout") { ensure(udpStreamTimeout, s) }

        guard let kernel = state.kernel else {
            out.errors.append("cannot tell the kernel version (/proc/sys/kernel/osrelease): \(connReuseMode) left as is")
            return out
        }
        if kernel < connReuseMinimumKernel {
            out.errors.append("can't set \(connReuseMode): kernel \(kernel) is older than \(connReuseMinimumKernel), which introduced it")
        } else if kernel >= connReuseFixedKernel {
            out.notes.append("\(connReuseMode) left as is on kernel \(kernel) (\(connReuseFixedKernel) and later)")
        } else {
            ensure(connReuseMode, 0)
        }
        return out
    }
}

private extension String {
    var trimmingSpaces: Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" { s = s.dropLast() }
        return s
    }
}
