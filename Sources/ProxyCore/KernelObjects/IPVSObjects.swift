import KubeModel

// MARK: - IPVS virtual and real servers
//
// Field meanings follow include/uapi/linux/ip_vs.h (IPVS_SVC_ATTR_*, IPVS_DEST_ATTR_*).

/// Identity of an IPVS virtual server: address, protocol and port (fwmark services are not used).
public struct VirtualServerKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var address: IPAddress
    public var proto: L4Protocol
    public var port: UInt16

    public init(address: IPAddress, proto: L4Protocol, port: UInt16) {
        self.address = address; self.proto = proto; self.port = port
    }

    public static func < (a: Self, b: Self) -> Bool {
        if a.address != b.address { return a.address < b.address }
        if a.proto != b.proto { return a.proto < b.proto }
        return a.port < b.port
    }

    /// `10.254.10.128:80/TCP`, the form used in logs and errors.
    public var description: String { "\(address.bracketed):\(port)/\(proto.rawValue)" }
}

/// IPVS service flags (IP_VS_SVC_F_* in linux/ip_vs.h).
public struct IPVSServiceFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// IP_VS_SVC_F_PERSISTENT: sessionAffinity ClientIP.
    public static let persistent = IPVSServiceFlags(rawValue: 0x0001)
    /// IP_VS_SVC_F_HASHED: set by the kernel on every listed service; never compared.
    public static let hashed = IPVSServiceFlags(rawValue: 0x0002)
    /// IP_VS_SVC_F_ONEPACKET.
    public static let onePacket = IPVSServiceFlags(rawValue: 0x0004)
    /// IP_VS_SVC_F_SCHED1: `sh-fallback` / `mh-fallback`.
    public static let sched1 = IPVSServiceFlags(rawValue: 0x0008)
    /// IP_VS_SVC_F_SCHED2: `sh-port` / `mh-port`.
    public static let sched2 = IPVSServiceFlags(rawValue: 0x0010)
    /// IP_VS_SVC_F_SCHED3.
    public static let sched3 = IPVSServiceFlags(rawValue: 0x0020)

    /// The flags that matter when comparing desired and observed services.
    public var significant: IPVSServiceFlags { subtracting(.hashed) }

    /// From ipvsadm `-b` names (checked by `checkSchedulerFlags`): `*-fallback`/`flag-1`, `*-port`/`flag-2`, `flag-3`.
    public init(schedulerFlagNames names: [String]) {
        self = []
        for n in names {
            if n == "flag-1" || n.hasSuffix("-fallback") { insert(.sched1) }
            else if n == "flag-2" || n.hasSuffix("-port") { insert(.sched2) }
            else if n == "flag-3" { insert(.sched3) }
        }
    }

    /// ipvsadm `-b` names for the scheduler flags, given the scheduler (`sh-port`, `mh-fallback`, ...).
    public func schedulerFlagNames(scheduler: String) -> [String] {
        var names: [String] = []
        let prefix = (scheduler == "sh" || scheduler == "mh") ? scheduler : "flag"
        if contains(.sched1) { names.append(prefix == "flag" ? "flag-1" : "\(prefix)-fallback") }
        if contains(.sched2) { names.append(prefix == "flag" ? "flag-2" : "\(prefix)-port") }
        if contains(.sched3) { names.append("flag-3") }
        return names
    }
}

/// A desired or observed IPVS virtual server.
public struct VirtualServer: Sendable, Hashable {
    public var key: VirtualServerKey
    /// Kernel scheduler name (`rr`, `wrr`, `lc`, `sh`, `mh`, ...).
    public var scheduler: String
    public var flags: IPVSServiceFlags
    /// Persistence timeout in seconds; meaningful only with `.persistent`.
    public var timeout: UInt32

    public init(key: VirtualServerKey, scheduler: String, flags: IPVSServiceFlags = [], timeout: UInt32 = 0) {
        self.key = key; self.scheduler = scheduler; self.flags = flags; self.timeout = timeout
    }

    /// The IPVS netmask attribute: 0xffffffff for IPv4, the prefix length 128 for IPv6 (as ipvsadm sends).
    public var netmask: UInt32 { key.address.family == .ipv4 ? 0xffff_ffff : 128 }

    /// Whether the kernel object needs an edit to match `other` (same key assumed).
    public func differs(from other: VirtualServer) -> Bool {
        scheduler != other.scheduler || flags.significant != other.flags.significant
            || (flags.contains(.persistent) && timeout != other.timeout)
    }
}

/// Identity of a real server (destination) inside one virtual server.
public struct RealServerKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) { self.address = address; self.port = port }

    public static func < (a: Self, b: Self) -> Bool {
        a.address != b.address ? a.address < b.address : a.port < b.port
    }

    public var description: String { "\(address.bracketed):\(port)" }
}

/// Packet forwarding method (IP_VS_CONN_F_FWD_MASK values in linux/ip_vs.h).
public enum ForwardingMethod: UInt32, Sendable, Hashable {
    case masquerade = 0  // IP_VS_CONN_F_MASQ
    case localNode = 1   // IP_VS_CONN_F_LOCALNODE
    case tunnel = 2      // IP_VS_CONN_F_TUNNEL
    case directRoute = 3 // IP_VS_CONN_F_DROUTE
}

/// A desired or observed IPVS real server.
public struct RealServer: Sendable, Hashable {
    public var key: RealServerKey
    public var weight: Int32
    public var forwarding: ForwardingMethod

    public init(key: RealServerKey, weight: Int32 = 1, forwarding: ForwardingMethod = .masquerade) {
        self.key = key; self.weight = weight; self.forwarding = forwarding
    }
}

/// Connection counters the kernel reports for a real server (IPVS_DEST_ATTR_ACTIVE_CONNS / INACT_CONNS /
/// PERSIST_CONNS). Kept apart from `RealServer`, so the planner never compares them.
public struct RealServerStats: Sendable, Hashable {
    public var activeConnections: UInt32
    public var inactiveConnections: UInt32
    /// Persistence templates pointing at this real server (sessionAffinity ClientIP).
    public var persistentConnections: UInt32
    public init(activeConnections: UInt32 = 0, inactiveConnections: UInt32 = 0, persistentConnections: UInt32 = 0) {
        self.activeConnections = activeConnections; self.inactiveConnections = inactiveConnections
        self.persistentConnections = persistentConnections
    }
}

/// IPVS connection timeouts in seconds (`ipvsadm --set tcp tcpfin udp`); 0 leaves a value alone.
public struct IPVSTimeouts: Sendable, Hashable {
    public var tcp: UInt32
    public var tcpFin: UInt32
    public var udp: UInt32
    public init(tcp: UInt32 = 0, tcpFin: UInt32 = 0, udp: UInt32 = 0) { self.tcp = tcp; self.tcpFin = tcpFin; self.udp = udp }
    public var isZero: Bool { tcp == 0 && tcpFin == 0 && udp == 0 }
}
