import KubeModel

// MARK: - Netlink wire format, pure Swift
//
// Messages are built and parsed here, without libnl, so that many requests can be packed into one
// datagram (the kernel processes every message of a datagram in order, see netlink_rcv_skb) and so
// that the encoding and decoding are unit-tested on literal bytes and captured kernel replies.
// Layouts follow include/uapi/linux/netlink.h and genetlink.h. Netlink uses host byte order except
// where an attribute says otherwise (IPVS ports are network order); kube-ipvs runs on
// little-endian Linux only (x86_64, aarch64), which the tests' literal bytes assume.

/// Netlink constants, each mirroring the C macro of the same name in linux/netlink.h.
public enum NL {
    public static let NLMSG_NOOP: UInt16 = 0x1
    public static let NLMSG_ERROR: UInt16 = 0x2
    public static let NLMSG_DONE: UInt16 = 0x3
    public static let NLMSG_OVERRUN: UInt16 = 0x4

    public static let NLM_F_REQUEST: UInt16 = 0x01
    public static let NLM_F_MULTI: UInt16 = 0x02
    public static let NLM_F_ACK: UInt16 = 0x04
    public static let NLM_F_ECHO: UInt16 = 0x08
    public static let NLM_F_DUMP_INTR: UInt16 = 0x10
    public static let NLM_F_DUMP: UInt16 = 0x300
    public static let NLM_F_REPLACE: UInt16 = 0x100
    public static let NLM_F_EXCL: UInt16 = 0x200
    public static let NLM_F_CREATE: UInt16 = 0x400
    /// Set on an error reply whose copy of the request was capped (NETLINK_CAP_ACK).
    public static let NLM_F_CAPPED: UInt16 = 0x100
    /// Set on an error reply followed by extended-ack attributes (NETLINK_EXT_ACK).
    public static let NLM_F_ACK_TLVS: UInt16 = 0x200

    public static let NLMSGERR_ATTR_MSG: UInt16 = 1
    public static let NLMSGERR_ATTR_OFFS: UInt16 = 2

    public static let NLA_F_NESTED: UInt16 = 0x8000
    public static let NLA_TYPE_MASK: UInt16 = 0x3fff

    /// sizeof(struct nlmsghdr).
    public static let headerLength = 16
    /// sizeof(struct genlmsghdr).
    public static let genlHeaderLength = 4

    /// NLMSG_ALIGN / NLA_ALIGN: round up to 4.
    @inline(__always) public static func align(_ n: Int) -> Int { (n + 3) & ~3 }
}

/// struct nlmsghdr.
public struct NetlinkHeader: Sendable, Hashable {
    public var length: UInt32
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var portID: UInt32

    public init(length: UInt32, type: UInt16, flags: UInt16, sequence: UInt32, portID: UInt32) {
        self.length = length; self.type = type; self.flags = flags; self.sequence = sequence; self.portID = portID
    }
}

/// A malformed netlink message or attribute.
public struct NetlinkDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "malformed netlink data: \(reason)" }
}

// MARK: - Reading integers

extension Collection where Element == UInt8, Index == Int {
    /// Little-endian (host order) integer at `offset`; the caller checks bounds.
    @inline(__always) func readHost<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v |= T(self[offset + i]) << (8 * i) }
        return v
    }

    /// Big-endian (network order) integer at `offset`; the caller checks bounds.
    @inline(__always) func readNetwork<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var v: T = 0
        for i in 0..<MemoryLayout<T>.size { v = (v << 8) | T(self[offset + i]) }
        return v
    }
}

// MARK: - Messages

/// One netlink message: its header and payload (everything after the 16-byte header).
public struct NetlinkMessage: Sendable, Hashable {
    public var header: NetlinkHeader
    public var payload: ArraySlice<UInt8>

    public init(header: NetlinkHeader, payload: ArraySlice<UInt8>) { self.header = header; self.payload = payload }

    /// Splits a datagram into its messages, strictly: every length must be sane and inside the buffer.
    public static func parseAll(_ bytes: ArraySlice<UInt8>) throws -> [NetlinkMessage] {
        var out: [NetlinkMessage] = []
        var off = bytes.startIndex
        while off < bytes.endIndex {
            guard bytes.endIndex - off >= NL.headerLength else {
                throw NetlinkDecodeError("\(bytes.endIndex - off) trailing bytes, shorter than a header")
            }
            let len = Int(bytes.readHost(UInt32.self, at: off))
            guard len >= NL.headerLength, off + len <= bytes.endIndex else {
                throw NetlinkDecodeError("message length \(len) at offset \(off - bytes.startIndex) exceeds the \(bytes.count)-byte buffer")
            }
            let h = NetlinkHeader(length: UInt32(len), type: bytes.readHost(UInt16.self, at: off + 4),
                                  flags: bytes.readHost(UInt16.self, at: off + 6),
                                  sequence: bytes.readHost(UInt32.self, at: off + 8),
                                  portID: bytes.readHost(UInt32.self, at: off + 12))
            out.append(NetlinkMessage(header: h, payload: bytes[(off + NL.headerLength)..<(off + len)]))
            off = Swift.min(bytes.endIndex, off + NL.align(len))
        }
        return out
    }

    /// For an NLMSG_ERROR message: the (positive) errno, 0 for an ack, and the extended-ack text.
    public func errorReply() throws -> (errno: Int32, message: String) {
        guard header.type == NL.NLMSG_ERROR else { throw NetlinkDecodeError("not an NLMSG_ERROR message") }
        guard payload.count >= 4 + NL.headerLength else {
            throw NetlinkDecodeError("NLMSG_ERROR payload of \(payload.count) bytes")
        }
        let code = payload.readHost(Int32.self, at: payload.startIndex)
        var text = ""
        if header.flags & NL.NLM_F_ACK_TLVS != 0 {
            // struct nlmsgerr { int error; struct nlmsghdr msg; } then the request copy unless capped.
            var tlvStart = payload.startIndex + 4 + NL.headerLength
            if header.flags & NL.NLM_F_CAPPED == 0 {
                let reqLen = Int(payload.readHost(UInt32.self, at: payload.startIndex + 4))
                tlvStart = payload.startIndex + 4 + NL.align(reqLen)
            }
            if tlvStart < payload.endIndex, let attrs = try? NetlinkAttributes(payload[tlvStart...]),
               let msg = attrs.string(NL.NLMSGERR_ATTR_MSG) {
                text = msg
            }
        }
        return (-code, text)
    }

    /// The generic netlink command of a genl message.
    public var genlCommand: UInt8? { payload.count >= NL.genlHeaderLength ? payload[payload.startIndex] : nil }

    /// Attributes after a fixed-size family header (4 for genlmsghdr, 8 for ifaddrmsg, ...).
    public func attributes(afterHeader fixed: Int) throws -> NetlinkAttributes {
        guard payload.count >= fixed else { throw NetlinkDecodeError("payload of \(payload.count) bytes, header needs \(fixed)") }
        return try NetlinkAttributes(payload[(payload.startIndex + NL.align(fixed))...])
    }
}

// MARK: - Attributes

/// The attributes of one level, by type (NLA_F_NESTED and byte-order bits masked off); a repeated type keeps the last.
///
/// Kept as a short list scanned linearly: a level holds a dozen attributes at most, and dump replies
/// are decoded by the hundred thousand, where a dictionary per level costs more than the scan.
public struct NetlinkAttributes: Sendable, Hashable {
    private let base: ArraySlice<UInt8>
    private var entries: [(type: UInt16, start: Int, end: Int)] = []

    /// Parses a run of `struct nlattr` records; rejects lengths below 4 or past the end.
    public init(_ bytes: ArraySlice<UInt8>) throws {
        base = bytes
        entries.reserveCapacity(16)
        var off = bytes.startIndex
        while off < bytes.endIndex {
            guard bytes.endIndex - off >= 4 else { throw NetlinkDecodeError("\(bytes.endIndex - off) trailing attribute bytes") }
            let len = Int(bytes.readHost(UInt16.self, at: off))
            let type = bytes.readHost(UInt16.self, at: off + 2) & NL.NLA_TYPE_MASK
            guard len >= 4, off + len <= bytes.endIndex else {
                throw NetlinkDecodeError("attribute type \(type) length \(len) overruns its \(bytes.count)-byte container")
            }
            entries.append((type, off + 4, off + len))
            off = Swift.min(bytes.endIndex, off + NL.align(len))
        }
    }

    /// Every attribute by type.
    public var values: [UInt16: ArraySlice<UInt8>] {
        var d: [UInt16: ArraySlice<UInt8>] = [:]
        for e in entries { d[e.type] = base[e.start..<e.end] }
        return d
    }

    public subscript(type: UInt16) -> ArraySlice<UInt8>? {
        var i = entries.count - 1
        while i >= 0 {
            if entries[i].type == type { return base[entries[i].start..<entries[i].end] }
            i -= 1
        }
        return nil
    }

    public static func == (a: Self, b: Self) -> Bool { a.values == b.values }
    public func hash(into h: inout Hasher) { h.combine(values) }

    public func u8(_ t: UInt16) -> UInt8? { guard let v = self[t], v.count >= 1 else { return nil }; return v[v.startIndex] }
    public func u16(_ t: UInt16) -> UInt16? { guard let v = self[t], v.count >= 2 else { return nil }; return v.readHost(UInt16.self, at: v.startIndex) }
    public func u32(_ t: UInt16) -> UInt32? { guard let v = self[t], v.count >= 4 else { return nil }; return v.readHost(UInt32.self, at: v.startIndex) }
    public func u64(_ t: UInt16) -> UInt64? { guard let v = self[t], v.count >= 8 else { return nil }; return v.readHost(UInt64.self, at: v.startIndex) }
    /// A 16-bit value in network byte order (IPVS ports).
    public func be16(_ t: UInt16) -> UInt16? { guard let v = self[t], v.count >= 2 else { return nil }; return v.readNetwork(UInt16.self, at: v.startIndex) }
    /// A NUL-terminated (or unterminated) string.
    public func string(_ t: UInt16) -> String? {
        guard let v = self[t] else { return nil }
        let end = v.firstIndex(of: 0) ?? v.endIndex
        return String(decoding: v[v.startIndex..<end], as: UTF8.self)
    }
    /// A nested attribute set.
    public func nested(_ t: UInt16) throws -> NetlinkAttributes? {
        guard let v = self[t] else { return nil }
        return try NetlinkAttributes(v)
    }
}

// MARK: - Building

/// Appends netlink messages to one buffer, so that a batch is sent with few syscalls.
///
/// Usage: `begin(...)`, then attributes (nests with `beginNested`/`endNested`), then `end()`.
public struct NetlinkEncoder: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Start offset of each finished message, in order.
    public private(set) var messageStarts: [Int] = []
    private var current: Int = -1

    public init(reservingCapacity n: Int = 0) { bytes.reserveCapacity(n) }

    public var messageCount: Int { messageStarts.count }

    /// Starts a message: writes an nlmsghdr whose length `end()` fills in (port 0: the kernel).
    public mutating func begin(type: UInt16, flags: UInt16, sequence: UInt32) {
        precondition(current < 0, "begin() while a message is open")
        current = bytes.count
        appendHost(UInt32(0)); appendHost(type); appendHost(flags); appendHost(sequence); appendHost(UInt32(0))
    }

    /// Writes a struct genlmsghdr { cmd, version, reserved }.
    public mutating func genlHeader(command: UInt8, version: UInt8) {
        bytes.append(command); bytes.append(version); bytes.append(0); bytes.append(0)
    }

    /// Appends raw fixed-header bytes (ifaddrmsg and the like), padded to 4.
    public mutating func raw(_ b: [UInt8]) {
        bytes.append(contentsOf: b); pad()
    }

    /// Finishes the open message by writing its length.
    public mutating func end() {
        precondition(current >= 0, "end() without begin()")
        let len = UInt32(bytes.count - current)
        write(len, at: current)
        messageStarts.append(current)
        current = -1
    }

    /// The bytes of message `i`.
    public func message(_ i: Int) -> ArraySlice<UInt8> {
        let start = messageStarts[i]
        let end = i + 1 < messageStarts.count ? messageStarts[i + 1] : bytes.count
        return bytes[start..<end]
    }

    public mutating func attribute(_ type: UInt16, _ value: [UInt8]) {
        appendHost(UInt16(4 + value.count)); appendHost(type)
        bytes.append(contentsOf: value); pad()
    }
    public mutating func u16(_ type: UInt16, _ v: UInt16) {
        appendHost(UInt16(6)); appendHost(type); appendHost(v); appendHost(UInt16(0))
    }
    public mutating func u32(_ type: UInt16, _ v: UInt32) {
        appendHost(UInt16(8)); appendHost(type); appendHost(v)
    }
    /// Two u32 values in one attribute (struct ip_vs_flags and the like).
    public mutating func u32Pair(_ type: UInt16, _ a: UInt32, _ b: UInt32) {
        appendHost(UInt16(12)); appendHost(type); appendHost(a); appendHost(b)
    }
    /// A 16-bit value in network byte order.
    public mutating func be16(_ type: UInt16, _ v: UInt16) {
        appendHost(UInt16(6)); appendHost(type); bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xff)); appendHost(UInt16(0))
    }
    /// An address as `union nf_inet_addr` (16 bytes, IPv4 in the first 4) when `padTo16`, else its 4 or 16 bytes.
    public mutating func address(_ type: UInt16, _ ip: IPAddress, padTo16: Bool) {
        let n = ip.family == .ipv4 ? 4 : 16
        appendHost(UInt16(4 + (padTo16 ? 16 : n))); appendHost(type)
        if ip.family == .ipv4 {
            let v = UInt32(truncatingIfNeeded: ip.low)
            bytes.append(UInt8(v >> 24)); bytes.append(UInt8((v >> 16) & 0xff)); bytes.append(UInt8((v >> 8) & 0xff)); bytes.append(UInt8(v & 0xff))
            if padTo16 { appendHost(UInt64(0)); appendHost(UInt32(0)) }
        } else {
            appendNetwork(ip.high); appendNetwork(ip.low)
        }
    }
    /// A NUL-terminated string (NLA_NUL_STRING / NLA_STRING both accept it).
    public mutating func string(_ type: UInt16, _ s: String) { attribute(type, Array(s.utf8) + [0]) }

    /// Opens a nested attribute; pass the result to `endNested`. IPVS is a legacy (non-strict) family and
    /// ipvsadm sends nests without NLA_F_NESTED, so the flag is off unless asked for.
    public mutating func beginNested(_ type: UInt16, flagNested: Bool = false) -> Int {
        let at = bytes.count
        appendHost(UInt16(0)); appendHost(flagNested ? type | NL.NLA_F_NESTED : type)
        return at
    }
    public mutating func endNested(_ at: Int) {
        let len = UInt16(bytes.count - at)
        bytes[at] = UInt8(len & 0xff); bytes[at + 1] = UInt8(len >> 8)
    }

    @inline(__always) private mutating func pad() {
        while bytes.count & 3 != 0 { bytes.append(0) }
    }
    @inline(__always) private mutating func appendNetwork(_ v: UInt64) {
        for i in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(i))) }
    }
    @inline(__always) private mutating func appendHost<T: FixedWidthInteger>(_ v: T) {
        for i in 0..<MemoryLayout<T>.size { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }
    private mutating func write(_ v: UInt32, at: Int) {
        for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
    }
    static func hostBytes<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
    }
}
