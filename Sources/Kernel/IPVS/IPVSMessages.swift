import KubeModel
import ProxyCore

// MARK: - IPVS generic netlink messages, pure
//
// Encoding of requests and decoding of replies for the "IPVS" generic netlink family. Attribute
// numbers and required attributes follow include/uapi/linux/ip_vs.h and the kernel's
// ip_vs_genl_parse_service / ip_vs_genl_parse_dest (net/netfilter/ipvs/ip_vs_ctl.c):
// NEW/SET_SERVICE need AF, PROTOCOL, ADDR, PORT plus SCHED_NAME, FLAGS, TIMEOUT, NETMASK;
// NEW/SET_DEST need ADDR, PORT, FWD_METHOD, WEIGHT, U_THRESH, L_THRESH. Addresses travel as a
// 16-byte union nf_inet_addr (IPv4 in the first 4 bytes), ports in network order, as ipvsadm sends.

/// IPVS generic netlink constants; each mirrors the C name in linux/ip_vs.h.
public enum IPVSGenl {
    public static let familyName = "IPVS"  // IPVS_GENL_NAME
    public static let version: UInt8 = 1    // IPVS_GENL_VERSION

    /// enum IPVS_CMD_*.
    public enum Command: UInt8, Sendable, CaseIterable {
        case newService = 1, setService, delService, getService
        case newDest, setDest, delDest, getDest
        case newDaemon, delDaemon, getDaemon
        case setConfig, getConfig, setInfo, getInfo, zero, flush

        /// The C name, used as the operation in errors.
        public var name: String {
            switch self {
            case .newService: return "IPVS_CMD_NEW_SERVICE"
            case .setService: return "IPVS_CMD_SET_SERVICE"
            case .delService: return "IPVS_CMD_DEL_SERVICE"
            case .getService: return "IPVS_CMD_GET_SERVICE"
            case .newDest: return "IPVS_CMD_NEW_DEST"
            case .setDest: return "IPVS_CMD_SET_DEST"
            case .delDest: return "IPVS_CMD_DEL_DEST"
            case .getDest: return "IPVS_CMD_GET_DEST"
            case .newDaemon: return "IPVS_CMD_NEW_DAEMON"
            case .delDaemon: return "IPVS_CMD_DEL_DAEMON"
            case .getDaemon: return "IPVS_CMD_GET_DAEMON"
            case .setConfig: return "IPVS_CMD_SET_CONFIG"
            case .getConfig: return "IPVS_CMD_GET_CONFIG"
            case .setInfo: return "IPVS_CMD_SET_INFO"
            case .getInfo: return "IPVS_CMD_GET_INFO"
            case .zero: return "IPVS_CMD_ZERO"
            case .flush: return "IPVS_CMD_FLUSH"
            }
        }
    }

    // IPVS_CMD_ATTR_*
    public static let CMD_ATTR_SERVICE: UInt16 = 1
    public static let CMD_ATTR_DEST: UInt16 = 2
    public static let CMD_ATTR_TIMEOUT_TCP: UInt16 = 4
    public static let CMD_ATTR_TIMEOUT_TCP_FIN: UInt16 = 5
    public static let CMD_ATTR_TIMEOUT_UDP: UInt16 = 6

    // IPVS_SVC_ATTR_*
    public static let SVC_ATTR_AF: UInt16 = 1
    public static let SVC_ATTR_PROTOCOL: UInt16 = 2
    public static let SVC_ATTR_ADDR: UInt16 = 3
    public static let SVC_ATTR_PORT: UInt16 = 4
    public static let SVC_ATTR_FWMARK: UInt16 = 5
    public static let SVC_ATTR_SCHED_NAME: UInt16 = 6
    public static let SVC_ATTR_FLAGS: UInt16 = 7
    public static let SVC_ATTR_TIMEOUT: UInt16 = 8
    public static let SVC_ATTR_NETMASK: UInt16 = 9
    public static let SVC_ATTR_STATS: UInt16 = 10
    public static let SVC_ATTR_PE_NAME: UInt16 = 11

    // IPVS_DEST_ATTR_*
    public static let DEST_ATTR_ADDR: UInt16 = 1
    public static let DEST_ATTR_PORT: UInt16 = 2
    public static let DEST_ATTR_FWD_METHOD: UInt16 = 3
    public static let DEST_ATTR_WEIGHT: UInt16 = 4
    public static let DEST_ATTR_U_THRESH: UInt16 = 5
    public static let DEST_ATTR_L_THRESH: UInt16 = 6
    public static let DEST_ATTR_ACTIVE_CONNS: UInt16 = 7
    public static let DEST_ATTR_INACT_CONNS: UInt16 = 8
    public static let DEST_ATTR_PERSIST_CONNS: UInt16 = 9
    public static let DEST_ATTR_ADDR_FAMILY: UInt16 = 11

    /// AF_INET / AF_INET6 (linux/socket.h).
    public static let AF_INET: UInt16 = 2
    public static let AF_INET6: UInt16 = 10

    /// IP_VS_CONN_F_FWD_MASK.
    public static let FWD_MASK: UInt32 = 0x7

    static func af(_ f: IPFamily) -> UInt16 { f == .ipv4 ? AF_INET : AF_INET6 }
    static func family(af: UInt16) -> IPFamily? { af == AF_INET ? .ipv4 : af == AF_INET6 ? .ipv6 : nil }
    static func proto(number: UInt16) -> L4Protocol? { L4Protocol.allCases.first { $0.number == number } }

    /// The 16-byte union nf_inet_addr for `ip`.
    static func inetAddr(_ ip: IPAddress) -> [UInt8] {
        var b = ip.bytes
        if b.count == 4 { b += [UInt8](repeating: 0, count: 12) }
        return b
    }

    static func address(_ bytes: ArraySlice<UInt8>?, family: IPFamily) -> IPAddress? {
        guard let bytes else { return nil }
        let n = family == .ipv4 ? 4 : 16
        guard bytes.count >= n else { return nil }
        return IPAddress(bytes: Array(bytes.prefix(n)))
    }
}

/// Builds IPVS requests into a `NetlinkEncoder`.
public enum IPVSRequest {
    /// Appends a request: nlmsghdr (type = family id), genlmsghdr, then `body`'s attributes.
    public static func message(_ enc: inout NetlinkEncoder, family: UInt16, command: IPVSGenl.Command, flags: UInt16,
                               sequence: UInt32, body: (inout NetlinkEncoder) -> Void) {
        enc.begin(type: family, flags: flags, sequence: sequence)
        enc.genlHeader(command: command.rawValue, version: IPVSGenl.version)
        body(&enc)
        enc.end()
    }

    /// IPVS_CMD_ATTR_SERVICE with the identity attributes, and the full entry when `server` is given.
    public static func service(_ enc: inout NetlinkEncoder, key: VirtualServerKey, full server: VirtualServer? = nil) {
        let nest = enc.beginNested(IPVSGenl.CMD_ATTR_SERVICE)
        enc.u16(IPVSGenl.SVC_ATTR_AF, IPVSGenl.af(key.address.family))
        enc.u16(IPVSGenl.SVC_ATTR_PROTOCOL, key.proto.number)
        enc.address(IPVSGenl.SVC_ATTR_ADDR, key.address, padTo16: true)
        enc.be16(IPVSGenl.SVC_ATTR_PORT, key.port)
        if let s = server {
            enc.string(IPVSGenl.SVC_ATTR_SCHED_NAME, s.scheduler)
            // struct ip_vs_flags { flags; mask }: the mask says which bits to set; all of them, as ipvsadm.
            enc.u32Pair(IPVSGenl.SVC_ATTR_FLAGS, s.flags.significant.rawValue, UInt32.max)
            enc.u32(IPVSGenl.SVC_ATTR_TIMEOUT, s.flags.contains(.persistent) ? s.timeout : 0)
            enc.u32(IPVSGenl.SVC_ATTR_NETMASK, s.netmask)
        }
        enc.endNested(nest)
    }

    /// IPVS_CMD_ATTR_DEST with the identity attributes, and the full entry when `server` is given.
    public static func dest(_ enc: inout NetlinkEncoder, key: RealServerKey, full server: RealServer? = nil) {
        let nest = enc.beginNested(IPVSGenl.CMD_ATTR_DEST)
        enc.address(IPVSGenl.DEST_ATTR_ADDR, key.address, padTo16: true)
        enc.be16(IPVSGenl.DEST_ATTR_PORT, key.port)
        if let r = server {
            enc.u32(IPVSGenl.DEST_ATTR_FWD_METHOD, r.forwarding.rawValue)
            enc.u32(IPVSGenl.DEST_ATTR_WEIGHT, UInt32(bitPattern: r.weight))
            enc.u32(IPVSGenl.DEST_ATTR_U_THRESH, 0)
            enc.u32(IPVSGenl.DEST_ATTR_L_THRESH, 0)
        }
        enc.u16(IPVSGenl.DEST_ATTR_ADDR_FAMILY, IPVSGenl.af(key.address.family))
        enc.endNested(nest)
    }

    /// The request for one IPVS operation, or nil when `op` is not an IPVS operation.
    /// `add` chooses NEW (true) or SET (false) for add/update operations, so a retry can switch.
    public static func encode(_ op: Operation, add: Bool? = nil, into enc: inout NetlinkEncoder, family: UInt16, sequence: UInt32) -> IPVSGenl.Command? {
        let flags = NL.NLM_F_REQUEST | NL.NLM_F_ACK
        switch op {
        case .addVirtualServer(let s), .updateVirtualServer(let s):
            let isAdd: Bool
            if let add { isAdd = add } else if case .addVirtualServer = op { isAdd = true } else { isAdd = false }
            let cmd: IPVSGenl.Command = isAdd ? .newService : .setService
            message(&enc, family: family, command: cmd, flags: flags, sequence: sequence) { service(&$0, key: s.key, full: s) }
            return cmd
        case .deleteVirtualServer(let k):
            message(&enc, family: family, command: .delService, flags: flags, sequence: sequence) { service(&$0, key: k) }
            return .delService
        case .addRealServer(let vs, let r), .updateRealServer(let vs, let r):
            let isAdd: Bool
            if let add { isAdd = add } else if case .addRealServer = op { isAdd = true } else { isAdd = false }
            let cmd: IPVSGenl.Command = isAdd ? .newDest : .setDest
            message(&enc, family: family, command: cmd, flags: flags, sequence: sequence) {
                service(&$0, key: vs); dest(&$0, key: r.key, full: r)
            }
            return cmd
        case .deleteRealServer(let vs, let rk):
            message(&enc, family: family, command: .delDest, flags: flags, sequence: sequence) {
                service(&$0, key: vs); dest(&$0, key: rk)
            }
            return .delDest
        case .setIPVSTimeouts(let t):
            message(&enc, family: family, command: .setConfig, flags: flags, sequence: sequence) {
                $0.u32(IPVSGenl.CMD_ATTR_TIMEOUT_TCP, t.tcp)
                $0.u32(IPVSGenl.CMD_ATTR_TIMEOUT_TCP_FIN, t.tcpFin)
                $0.u32(IPVSGenl.CMD_ATTR_TIMEOUT_UDP, t.udp)
            }
            return .setConfig
        default:
            return nil
        }
    }

    /// The object an IPVS operation acts on, for errors.
    public static func objectDescription(_ op: Operation) -> String {
        switch op {
        case .addVirtualServer(let s), .updateVirtualServer(let s): return "\(s.key) scheduler \(s.scheduler)"
        case .deleteVirtualServer(let k): return k.description
        case .addRealServer(let vs, let r), .updateRealServer(let vs, let r): return "\(vs) -> \(r.key) weight \(r.weight)"
        case .deleteRealServer(let vs, let rk): return "\(vs) -> \(rk)"
        case .setIPVSTimeouts(let t): return "tcp \(t.tcp) tcpfin \(t.tcpFin) udp \(t.udp)"
        default: return ""
        }
    }
}

// MARK: - Decoding replies

/// Decodes IPVS replies into the ProxyCore value types.
public enum IPVSReply {
    /// What a GET_SERVICE reply describes: a service kube-ipvs can represent, or one it cannot
    /// (fwmark services, other protocols), which is skipped and never touched.
    public enum Service: Sendable, Hashable {
        case server(VirtualServer)
        case unrepresentable(String)
    }

    /// Decodes one IPVS_CMD_NEW_SERVICE message (the kernel's dump reply command).
    public static func service(_ msg: NetlinkMessage) throws -> Service {
        let top = try msg.attributes(afterHeader: NL.genlHeaderLength)
        guard let svc = try top.nested(IPVSGenl.CMD_ATTR_SERVICE) else { throw NetlinkDecodeError("service reply without IPVS_CMD_ATTR_SERVICE") }
        return try service(attributes: svc)
    }

    /// Decodes the attributes nested in IPVS_CMD_ATTR_SERVICE.
    public static func service(attributes svc: NetlinkAttributes) throws -> Service {
        guard let af = svc.u16(IPVSGenl.SVC_ATTR_AF) else { throw NetlinkDecodeError("service without IPVS_SVC_ATTR_AF") }
        guard let family = IPVSGenl.family(af: af) else { return .unrepresentable("address family \(af)") }
        if let mark = svc.u32(IPVSGenl.SVC_ATTR_FWMARK), mark != 0 { return .unrepresentable("fwmark \(mark)") }
        guard let protoNumber = svc.u16(IPVSGenl.SVC_ATTR_PROTOCOL), let addr = IPVSGenl.address(svc[IPVSGenl.SVC_ATTR_ADDR], family: family),
              let port = svc.be16(IPVSGenl.SVC_ATTR_PORT) else {
            throw NetlinkDecodeError("service without protocol, address or port")
        }
        guard let proto = IPVSGenl.proto(number: protoNumber) else { return .unrepresentable("\(addr.bracketed):\(port) protocol \(protoNumber)") }
        guard let sched = svc.string(IPVSGenl.SVC_ATTR_SCHED_NAME) else { throw NetlinkDecodeError("service \(addr):\(port) without scheduler") }
        var flags: UInt32 = 0
        if let f = svc[IPVSGenl.SVC_ATTR_FLAGS], f.count >= 4 { flags = f.readHost(UInt32.self, at: f.startIndex) }
        let timeout = svc.u32(IPVSGenl.SVC_ATTR_TIMEOUT) ?? 0
        let key = VirtualServerKey(address: addr, proto: proto, port: port)
        return .server(VirtualServer(key: key, scheduler: sched, flags: IPVSServiceFlags(rawValue: flags), timeout: timeout))
    }

    /// Decodes one IPVS_CMD_NEW_DEST message (the GET_DEST dump reply) of a service of `serviceFamily`.
    public static func dest(_ msg: NetlinkMessage, serviceFamily: IPFamily) throws -> (RealServer, RealServerStats) {
        let top = try msg.attributes(afterHeader: NL.genlHeaderLength)
        guard let d = try top.nested(IPVSGenl.CMD_ATTR_DEST) else { throw NetlinkDecodeError("dest reply without IPVS_CMD_ATTR_DEST") }
        // Kernels since 4.x report the destination's own family (mixed-family services); older ones do not.
        var family = serviceFamily
        if let af = d.u16(IPVSGenl.DEST_ATTR_ADDR_FAMILY) {
            guard let f = IPVSGenl.family(af: af) else { throw NetlinkDecodeError("dest address family \(af)") }
            family = f
        }
        guard let addr = IPVSGenl.address(d[IPVSGenl.DEST_ATTR_ADDR], family: family), let port = d.be16(IPVSGenl.DEST_ATTR_PORT) else {
            throw NetlinkDecodeError("dest without address or port")
        }
        let fwdRaw = (d.u32(IPVSGenl.DEST_ATTR_FWD_METHOD) ?? 0) & IPVSGenl.FWD_MASK
        guard let fwd = ForwardingMethod(rawValue: fwdRaw) else { throw NetlinkDecodeError("dest forwarding method \(fwdRaw)") }
        let weight = Int32(bitPattern: d.u32(IPVSGenl.DEST_ATTR_WEIGHT) ?? 0)
        let stats = RealServerStats(activeConnections: d.u32(IPVSGenl.DEST_ATTR_ACTIVE_CONNS) ?? 0,
                                    inactiveConnections: d.u32(IPVSGenl.DEST_ATTR_INACT_CONNS) ?? 0,
                                    persistentConnections: d.u32(IPVSGenl.DEST_ATTR_PERSIST_CONNS) ?? 0)
        return (RealServer(key: RealServerKey(address: addr, port: port), weight: weight, forwarding: fwd), stats)
    }

    /// Decodes an IPVS_CMD_SET_CONFIG reply (to GET_CONFIG): the three timeouts.
    public static func timeouts(_ msg: NetlinkMessage) throws -> IPVSTimeouts {
        let a = try msg.attributes(afterHeader: NL.genlHeaderLength)
        guard let tcp = a.u32(IPVSGenl.CMD_ATTR_TIMEOUT_TCP), let fin = a.u32(IPVSGenl.CMD_ATTR_TIMEOUT_TCP_FIN),
              let udp = a.u32(IPVSGenl.CMD_ATTR_TIMEOUT_UDP) else {
            throw NetlinkDecodeError("config reply without the three timeouts")
        }
        return IPVSTimeouts(tcp: tcp, tcpFin: fin, udp: udp)
    }

    /// Decodes an IPVS_CMD_SET_INFO reply (to GET_INFO): version and connection table size.
    public static func info(_ msg: NetlinkMessage) throws -> (version: UInt32, connectionTableSize: UInt32) {
        let a = try msg.attributes(afterHeader: NL.genlHeaderLength)
        guard let v = a.u32(1), let size = a.u32(2) else { throw NetlinkDecodeError("info reply without version or table size") }
        return (v, size)
    }
}
