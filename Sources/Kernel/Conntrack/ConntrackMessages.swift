import KubeModel
import ProxyCore

// MARK: - ctnetlink messages, pure
//
// Conntrack over NETLINK_NETFILTER, subsystem NFNL_SUBSYS_CTNETLINK (linux/netfilter/nfnetlink.h,
// nfnetlink_conntrack.h). Every message starts with struct nfgenmsg { family, version, res_id };
// the message type is (subsystem << 8) | IPCTNL_MSG_CT_*. Attributes are nested
// (CTA_TUPLE_ORIG > CTA_TUPLE_IP / CTA_TUPLE_PROTO); addresses are raw network-order bytes, ports,
// CTA_ID and CTA_ZONE are big-endian, CTA_PROTO_NUM is one byte.
//
// Built here, not with libnetfilter_conntrack (not linked), so that deletions go out pipelined like
// the IPVS and address batches and so that the wire format is tested on literal bytes.

/// ctnetlink constants; each mirrors the C name in linux/netfilter/nfnetlink*.h.
public enum CTNL {
    /// NETLINK_NETFILTER (linux/netlink.h).
    public static let NETLINK_NETFILTER: Int32 = 12
    public static let NFNL_SUBSYS_CTNETLINK: UInt16 = 1
    public static let NFNETLINK_V0: UInt8 = 0

    public static let IPCTNL_MSG_CT_NEW: UInt16 = 0
    public static let IPCTNL_MSG_CT_GET: UInt16 = 1
    public static let IPCTNL_MSG_CT_DELETE: UInt16 = 2

    public static let CTA_TUPLE_ORIG: UInt16 = 1
    public static let CTA_TUPLE_REPLY: UInt16 = 2
    public static let CTA_ID: UInt16 = 12
    public static let CTA_ZONE: UInt16 = 18

    public static let CTA_TUPLE_IP: UInt16 = 1
    public static let CTA_TUPLE_PROTO: UInt16 = 2

    public static let CTA_IP_V4_SRC: UInt16 = 1
    public static let CTA_IP_V4_DST: UInt16 = 2
    public static let CTA_IP_V6_SRC: UInt16 = 3
    public static let CTA_IP_V6_DST: UInt16 = 4

    public static let CTA_PROTO_NUM: UInt16 = 1
    public static let CTA_PROTO_SRC_PORT: UInt16 = 2
    public static let CTA_PROTO_DST_PORT: UInt16 = 3

    /// IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP.
    public static let IPPROTO_TCP: UInt8 = 6
    public static let IPPROTO_UDP: UInt8 = 17
    public static let IPPROTO_SCTP: UInt8 = 132

    /// sizeof(struct nfgenmsg).
    public static let nfgenmsgLength = 4

    /// The nlmsg_type of a ctnetlink message.
    public static func messageType(_ msg: UInt16) -> UInt16 { NFNL_SUBSYS_CTNETLINK << 8 | msg }

    /// AF_INET / AF_INET6 for a family.
    public static func af(_ f: IPFamily) -> UInt8 { f == .ipv4 ? 2 : 10 }
}

/// One direction of a conntrack entry: addresses, layer-4 protocol number and ports (0 when the
/// protocol has none, e.g. ICMP).
public struct ConntrackTuple: Sendable, Hashable, CustomStringConvertible {
    public var source: IPAddress
    public var destination: IPAddress
    /// IPPROTO_* number.
    public var protocolNumber: UInt8
    public var sourcePort: UInt16
    public var destinationPort: UInt16

    public init(source: IPAddress, destination: IPAddress, protocolNumber: UInt8, sourcePort: UInt16 = 0, destinationPort: UInt16 = 0) {
        self.source = source; self.destination = destination; self.protocolNumber = protocolNumber
        self.sourcePort = sourcePort; self.destinationPort = destinationPort
    }

    /// The protocol when kube-ipvs knows it (TCP, UDP, SCTP).
    public var l4Protocol: L4Protocol? {
        switch protocolNumber {
        case CTNL.IPPROTO_TCP: return .tcp
        case CTNL.IPPROTO_UDP: return .udp
        case CTNL.IPPROTO_SCTP: return .sctp
        default: return nil
        }
    }

    /// `src=10.0.0.1 dst=10.96.0.10 sport=1234 dport=53`, as `conntrack -L` prints a tuple.
    public var description: String { "src=\(source) dst=\(destination) sport=\(sourcePort) dport=\(destinationPort)" }
}

/// A conntrack entry as dumped by the kernel: enough to match it and to delete exactly it.
public struct ConntrackEntry: Sendable, Hashable, CustomStringConvertible {
    public var family: IPFamily
    /// The tuple of the first packet (client -> Service address).
    public var original: ConntrackTuple
    /// The tuple replies are expected on (backend -> client, once translated).
    public var reply: ConntrackTuple
    /// The kernel's id of the entry (CTA_ID), sent back with a delete as an extra check.
    public var id: UInt32?
    /// The conntrack zone (CTA_ZONE); nil for the default zone 0.
    public var zone: UInt16?

    public init(family: IPFamily, original: ConntrackTuple, reply: ConntrackTuple, id: UInt32? = nil, zone: UInt16? = nil) {
        self.family = family; self.original = original; self.reply = reply; self.id = id; self.zone = zone
    }

    /// Whether `filter` selects this entry.
    public func matches(_ filter: ConntrackFilter) -> Bool {
        filter.family == family && filter.matches(proto: original.l4Protocol, originalDestination: original.destination,
                                                  originalDestinationPort: original.destinationPort,
                                                  replySource: reply.source, replySourcePort: reply.sourcePort)
    }

    public var description: String { "proto \(original.protocolNumber) \(original) reply \(reply)" + (zone.map { " zone \($0)" } ?? "") }
}

/// Builds and decodes ctnetlink messages.
public enum ConntrackMessages {
    /// Appends struct nfgenmsg.
    static func nfgenmsg(_ enc: inout NetlinkEncoder, family: UInt8) {
        enc.raw([family, CTNL.NFNETLINK_V0, 0, 0])
    }

    /// Appends an IPCTNL_MSG_CT_GET dump request for the entries of one family (`conntrack -L -f`).
    public static func dumpRequest(_ enc: inout NetlinkEncoder, family: IPFamily, sequence: UInt32) {
        enc.begin(type: CTNL.messageType(CTNL.IPCTNL_MSG_CT_GET), flags: NL.NLM_F_REQUEST | NL.NLM_F_DUMP, sequence: sequence)
        nfgenmsg(&enc, family: CTNL.af(family))
        enc.end()
    }

    /// Appends an IPCTNL_MSG_CT_DELETE (with ack) of exactly `entry`: its reply tuple, zone and id.
    ///
    /// The kernel looks the entry up by the one tuple given (ctnetlink_del_conntrack). The reply tuple
    /// is the one that names the backend, so if the dumped entry expired and a new flow with the same
    /// original tuple was sent to another backend meanwhile, the lookup misses (ENOENT) and the new
    /// entry stays. CTA_ID alone cannot tell them apart: since Linux 5.3 nf_ct_get_id hashes the
    /// object's address and the original tuple only, and a replacement often reuses the address.
    /// A delete without any tuple flushes the whole table (ctnetlink_flush_conntrack); this encoder
    /// always writes one.
    public static func deleteRequest(_ enc: inout NetlinkEncoder, entry: ConntrackEntry, sequence: UInt32) {
        enc.begin(type: CTNL.messageType(CTNL.IPCTNL_MSG_CT_DELETE), flags: NL.NLM_F_REQUEST | NL.NLM_F_ACK, sequence: sequence)
        nfgenmsg(&enc, family: CTNL.af(entry.family))
        tuple(&enc, CTNL.CTA_TUPLE_REPLY, entry.reply)
        if let zone = entry.zone { enc.be16(CTNL.CTA_ZONE, zone) }
        if let id = entry.id { enc.attribute(CTNL.CTA_ID, [UInt8(id >> 24), UInt8((id >> 16) & 0xff), UInt8((id >> 8) & 0xff), UInt8(id & 0xff)]) }
        enc.end()
    }

    /// Appends a CTA_TUPLE_* nest: CTA_TUPLE_IP { src, dst }, CTA_TUPLE_PROTO { num, sport, dport }.
    static func tuple(_ enc: inout NetlinkEncoder, _ type: UInt16, _ t: ConntrackTuple) {
        let v4 = t.source.family == .ipv4
        let outer = enc.beginNested(type, flagNested: true)
        let ip = enc.beginNested(CTNL.CTA_TUPLE_IP, flagNested: true)
        enc.address(v4 ? CTNL.CTA_IP_V4_SRC : CTNL.CTA_IP_V6_SRC, t.source, padTo16: false)
        enc.address(v4 ? CTNL.CTA_IP_V4_DST : CTNL.CTA_IP_V6_DST, t.destination, padTo16: false)
        enc.endNested(ip)
        let proto = enc.beginNested(CTNL.CTA_TUPLE_PROTO, flagNested: true)
        enc.attribute(CTNL.CTA_PROTO_NUM, [t.protocolNumber])
        if t.l4Protocol != nil {
            enc.be16(CTNL.CTA_PROTO_SRC_PORT, t.sourcePort)
            enc.be16(CTNL.CTA_PROTO_DST_PORT, t.destinationPort)
        }
        enc.endNested(proto)
        enc.endNested(outer)
    }

    /// Decodes one IPCTNL_MSG_CT_NEW message of a dump; nil for other message types and for
    /// families other than IPv4 and IPv6.
    public static func decode(_ msg: NetlinkMessage) throws -> ConntrackEntry? {
        guard msg.header.type == CTNL.messageType(CTNL.IPCTNL_MSG_CT_NEW) else { return nil }
        let p = msg.payload
        guard p.count >= CTNL.nfgenmsgLength else { throw NetlinkDecodeError("nfgenmsg of \(p.count) bytes") }
        let family: IPFamily
        switch p[p.startIndex] {
        case CTNL.af(.ipv4): family = .ipv4
        case CTNL.af(.ipv6): family = .ipv6
        default: return nil
        }
        let attrs = try msg.attributes(afterHeader: CTNL.nfgenmsgLength)
        guard let orig = try attrs.nested(CTNL.CTA_TUPLE_ORIG), let reply = try attrs.nested(CTNL.CTA_TUPLE_REPLY) else {
            throw NetlinkDecodeError("conntrack entry without its original and reply tuples")
        }
        var entry = ConntrackEntry(family: family, original: try tuple(orig, family), reply: try tuple(reply, family))
        if let v = attrs[CTNL.CTA_ID], v.count >= 4 { entry.id = v.readNetwork(UInt32.self, at: v.startIndex) }
        if let z = attrs.be16(CTNL.CTA_ZONE), z != 0 { entry.zone = z }
        return entry
    }

    static func tuple(_ attrs: NetlinkAttributes, _ family: IPFamily) throws -> ConntrackTuple {
        guard let ip = try attrs.nested(CTNL.CTA_TUPLE_IP), let proto = try attrs.nested(CTNL.CTA_TUPLE_PROTO) else {
            throw NetlinkDecodeError("conntrack tuple without CTA_TUPLE_IP and CTA_TUPLE_PROTO")
        }
        let (srcType, dstType) = family == .ipv4 ? (CTNL.CTA_IP_V4_SRC, CTNL.CTA_IP_V4_DST) : (CTNL.CTA_IP_V6_SRC, CTNL.CTA_IP_V6_DST)
        let want = family == .ipv4 ? 4 : 16
        guard let s = ip[srcType], s.count == want, let src = IPAddress(bytes: Array(s)),
              let d = ip[dstType], d.count == want, let dst = IPAddress(bytes: Array(d)) else {
            throw NetlinkDecodeError("conntrack tuple without \(family.rawValue) source and destination addresses")
        }
        guard let num = proto.u8(CTNL.CTA_PROTO_NUM) else { throw NetlinkDecodeError("conntrack tuple without CTA_PROTO_NUM") }
        return ConntrackTuple(source: src, destination: dst, protocolNumber: num,
                              sourcePort: proto.be16(CTNL.CTA_PROTO_SRC_PORT) ?? 0, destinationPort: proto.be16(CTNL.CTA_PROTO_DST_PORT) ?? 0)
    }
}
