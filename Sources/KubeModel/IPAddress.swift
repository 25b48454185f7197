// MARK: - IP addresses and prefixes
//
// Pure parsing and formatting (no inet_pton), so that the model and the core stay free of Glibc
// and behave the same everywhere. IPv6 text follows RFC 5952 (the form `ip` and `ipvsadm` print).

/// An IP address family.
public enum IPFamily: String, Sendable, Hashable, Comparable, CaseIterable, Codable {
    case ipv4 = "IPv4"
    case ipv6 = "IPv6"

    public static func < (a: IPFamily, b: IPFamily) -> Bool { a == .ipv4 && b == .ipv6 }

    // Equality and hashing by case: a raw-value enum otherwise compares and hashes its raw string,
    // and the family is part of every address, hashed hundreds of thousands of times a sync.
    private var isV4: Bool {
        switch self { case .ipv4: return true; case .ipv6: return false }
    }
    public static func == (a: IPFamily, b: IPFamily) -> Bool { a.isV4 == b.isV4 }
    public func hash(into hasher: inout Hasher) { hasher.combine(isV4) }

    /// The family word ipset uses (`inet` / `inet6`).
    public var ipsetFamily: String { self == .ipv4 ? "inet" : "inet6" }
    /// Host prefix length: 32 or 128.
    public var hostPrefix: Int { self == .ipv4 ? 32 : 128 }
}

/// An IPv4 or IPv6 address, stored as 128 bits (IPv4 in the low 32 bits of `low`).
public struct IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    // The family is stored last so that the address takes 17 bytes, not 24, and the keys that
    // embed it (virtual and real servers, plan operations) pack tighter.
    /// Upper 64 bits (IPv6 only; 0 for IPv4).
    public let high: UInt64
    /// Lower 64 bits; for IPv4 the address in host order in the low 32 bits.
    public let low: UInt64
    public let family: IPFamily

    /// An IPv4 address from its 32-bit value in host byte order.
    public init(v4 value: UInt32) {
        family = .ipv4; high = 0; low = UInt64(value)
    }

    /// An IPv6 address from its two 64-bit halves in host byte order.
    public init(v6High: UInt64, low: UInt64) {
        family = .ipv6; high = v6High; self.low = low
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text; nil when malformed.
    public init?(_ text: some StringProtocol) {
        if let v4 = IPAddress.parseV4(Substring(text)) {
            self.init(v4: v4)
        } else if let (h, l) = IPAddress.parseV6(Substring(text)) {
            self.init(v6High: h, low: l)
        } else {
            return nil
        }
    }

    /// Parses an address as kube-proxy reads API objects (k8s.io/utils ParseIPSloppy, Go 1.16's
    /// net.ParseIP): IPv4 octets and IPv6 groups may carry leading zeros, read as decimal and hex
    /// (`010.0.0.1` is 10.0.0.1, not octal 8.0.0.1); the API server has stored such values.
    public init?(sloppy text: some StringProtocol) {
        if let v4 = IPAddress.parseV4(Substring(text), sloppy: true) {
            self.init(v4: v4)
        } else if let (h, l) = IPAddress.parseV6(Substring(text), sloppy: true) {
            self.init(v6High: h, low: l)
        } else {
            return nil
        }
    }

    /// The address as 4 or 16 bytes in network order.
    public var bytes: [UInt8] {
        switch family {
        case .ipv4:
            let v = UInt32(truncatingIfNeeded: low)
            return [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
        case .ipv6:
            var out: [UInt8] = []
            out.reserveCapacity(16)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((high >> UInt64(shift)) & 0xff)) }
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((low >> UInt64(shift)) & 0xff)) }
            return out
        }
    }

    /// Builds an address from 4 or 16 network-order bytes.
    public init?(bytes: [UInt8]) {
        if bytes.count == 4 {
            self.init(v4: bytes.reduce(UInt32(0)) { ($0 << 8) | UInt32($1) })
        } else if bytes.count == 16 {
            let h = bytes[0..<8].reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
            let l = bytes[8..<16].reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
            self.init(v6High: h, low: l)
        } else {
            return nil
        }
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        if a.family != b.family { return a.family < b.family }
        if a.high != b.high { return a.high < b.high }
        return a.low < b.low
    }

    public var isLoopback: Bool {
        family == .ipv4 ? (low >> 24) == 127 : (high == 0 && low == 1)
    }

    public var isUnspecified: Bool { high == 0 && low == 0 }

    public var description: String {
        switch family {
        case .ipv4:
            // Written digit by digit (at most 15 bytes, a small string: no allocation); set members
            // and plans format tens of thousands of these.
            let v = UInt32(truncatingIfNeeded: low)
            return String(unsafeUninitializedCapacity: 15) { buf in
                var i = 0
                for shift: UInt32 in [24, 16, 8, 0] {
                    let octet = (v >> shift) & 0xff
                    if shift != 24 { buf[i] = UInt8(ascii: "."); i += 1 }
                    if octet >= 100 { buf[i] = 48 + UInt8(octet / 100); i += 1 }
                    if octet >= 10 { buf[i] = 48 + UInt8(octet / 10 % 10); i += 1 }
                    buf[i] = 48 + UInt8(octet % 10); i += 1
                }
                return i
            }
        case .ipv6:
            return IPAddress.formatV6(high: high, low: low)
        }
    }

    /// `10.0.0.1` or `[fd00::1]`, as used in `ip:port` text.
    public var bracketed: String { family == .ipv4 ? description : "[\(description)]" }

    // MARK: - Parsing

    /// Dotted-quad IPv4. Strict: no leading zeros (Go's net.ParseIP since 1.17, no octal
    /// ambiguity). Sloppy: any number of digits per octet, decimal, as Go's dtoi reads them (it
    /// gives up once the value reaches 0xFFFFFF, which also bounds the work).
    static func parseV4(_ s: Substring, sloppy: Bool = false) -> UInt32? {
        var value: UInt32 = 0
        var octets = 0
        var current: UInt32 = 0
        var digits = 0
        for ch in s.utf8 {
            if ch >= 48 && ch <= 57 {
                if !sloppy && digits == 1 && current == 0 { return nil }
                current = current * 10 + UInt32(ch - 48)
                digits += 1
                if sloppy ? current >= 0xFF_FFFF : (digits > 3 || current > 255) { return nil }
            } else if ch == 46 {  // "."
                if digits == 0 || octets == 3 || current > 255 { return nil }
                value = (value << 8) | current
                octets += 1; current = 0; digits = 0
            } else {
                return nil
            }
        }
        if digits == 0 || octets != 3 || current > 255 { return nil }
        return (value << 8) | current
    }

    /// One IPv6 group: 1-4 hex digits; sloppy, any number with a value of at most 0xFFFF (Go's xtoi).
    private static func hexGroup(_ f: Substring, sloppy: Bool) -> UInt16? {
        guard !f.isEmpty, sloppy || f.utf8.count <= 4 else { return nil }
        var v: UInt32 = 0
        for c in f.utf8 {
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 97...102: d = UInt32(c - 87)
            case 65...70: d = UInt32(c - 55)
            default: return nil
            }
            v = v * 16 + d
            if v > 0xFFFF { return nil }
        }
        return UInt16(v)
    }

    static func parseV6(_ s: Substring, sloppy: Bool = false) -> (UInt64, UInt64)? {
        guard s.contains(":"), sloppy || s.utf8.count <= 45 else { return nil }
        // Groups before and after an optional "::"; the last group may be dotted IPv4.
        func groups(_ part: Substring, allowV4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, f) in fields.enumerated() {
                if allowV4Tail && i == fields.count - 1 && f.contains(".") {
                    guard let v4 = parseV4(f, sloppy: sloppy) else { return nil }
                    out.append(UInt16(v4 >> 16)); out.append(UInt16(v4 & 0xffff))
                } else {
                    guard out.count < 8, let g = hexGroup(f, sloppy: sloppy) else { return nil }
                    out.append(g)
                }
            }
            return out
        }
        var all: [UInt16]
        if let gap = IPAddress.doubleColon(in: s) {
            let head = s[s.startIndex..<gap], tail = s[s.index(gap, offsetBy: 2)...]
            guard IPAddress.doubleColon(in: tail) == nil, let h = groups(head, allowV4Tail: false),
                  let t = groups(tail, allowV4Tail: true), h.count + t.count < 8 else { return nil }
            all = h + Array(repeating: 0, count: 8 - h.count - t.count) + t
        } else {
            guard let g = groups(s, allowV4Tail: true), g.count == 8 else { return nil }
            all = g
        }
        let h = all[0..<4].reduce(UInt64(0)) { ($0 << 16) | UInt64($1) }
        let l = all[4..<8].reduce(UInt64(0)) { ($0 << 16) | UInt64($1) }
        return (h, l)
    }

    /// Index of the first "::" in `s`.
    static func doubleColon(in s: Substring) -> Substring.Index? {
        var prevColon = false
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == ":" {
                if prevColon { return s.index(before: i) }
                prevColon = true
            } else {
                prevColon = false
            }
            i = s.index(after: i)
        }
        return nil
    }

    static func formatV6(high: UInt64, low: UInt64) -> String {
        var groups = [UInt16](repeating: 0, count: 8)
        for i in 0..<4 { groups[i] = UInt16((high >> UInt64(48 - 16 * i)) & 0xffff) }
        for i in 0..<4 { groups[4 + i] = UInt16((low >> UInt64(48 - 16 * i)) & 0xffff) }
        // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on ties.
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            range.map { String(groups[$0], radix: 16) }.joined(separator: ":")
        }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLen)..<8)
    }
}

/// An IP prefix such as `10.244.0.0/16`.
public struct CIDR: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The network address (host bits cleared).
    public let address: IPAddress
    public let prefixLength: Int

    /// Parses `addr/len`; a bare address is a host prefix. Host bits are cleared, as Go's ParseCIDR does.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let addr = IPAddress(parts[0]) else { return nil }
        var len = addr.family.hostPrefix
        if parts.count == 2 {
            guard let l = Int(parts[1]), l >= 0, l <= addr.family.hostPrefix, !parts[1].hasPrefix("+") else { return nil }
            len = l
        }
        self.init(network: addr, prefixLength: len)
    }

    /// Parses `addr/len` as kube-proxy reads API objects (k8s.io/utils ParseCIDRSloppy): the
    /// address as `IPAddress(sloppy:)`, the length in decimal digits only (leading zeros allowed).
    /// A bare address is a host prefix, as for `init?(_:)`.
    public init?(sloppy text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let addr = IPAddress(sloppy: parts[0]) else { return nil }
        var len = addr.family.hostPrefix
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            var l = 0
            for c in parts[1].utf8 {
                l = l * 10 + Int(c - 48)
                if l > addr.family.hostPrefix { return nil }
            }
            len = l
        }
        self.init(network: addr, prefixLength: len)
    }

    /// A prefix from any address in it; host bits are cleared.
    public init(network: IPAddress, prefixLength: Int) {
        let (mh, ml) = CIDR.mask(family: network.family, length: prefixLength)
        if network.family == .ipv4 {
            address = IPAddress(v4: UInt32(truncatingIfNeeded: network.low & ml))
        } else {
            address = IPAddress(v6High: network.high & mh, low: network.low & ml)
        }
        self.prefixLength = prefixLength
    }

    public var family: IPFamily { address.family }

    /// Whether `ip` lies inside this prefix.
    public func contains(_ ip: IPAddress) -> Bool {
        guard ip.family == family else { return false }
        let (mh, ml) = CIDR.mask(family: family, length: prefixLength)
        return (ip.high & mh) == address.high && (ip.low & ml) == address.low
    }

    static func mask(family: IPFamily, length: Int) -> (UInt64, UInt64) {
        if family == .ipv4 {
            let m: UInt64 = length == 0 ? 0 : (UInt64(0xffff_ffff) << UInt64(32 - length)) & 0xffff_ffff
            return (0, m)
        }
        func part(_ bits: Int) -> UInt64 {
            if bits <= 0 { return 0 }
            if bits >= 64 { return ~0 }
            return ~UInt64(0) << UInt64(64 - bits)
        }
        return (part(length), part(length - 64))
    }

    public static func < (a: CIDR, b: CIDR) -> Bool {
        a.address != b.address ? a.address < b.address : a.prefixLength < b.prefixLength
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// A transport protocol a Service port can use.
public enum L4Protocol: String, Sendable, Hashable, Comparable, CaseIterable, Codable {
    case tcp = "TCP"
    case udp = "UDP"
    case sctp = "SCTP"

    public static func < (a: L4Protocol, b: L4Protocol) -> Bool { a.order < b.order }
    private var order: UInt8 {
        switch self { case .tcp: return 0; case .udp: return 1; case .sctp: return 2 }
    }
    // By case, not by raw value (what a raw-value enum gets by default: hashing the string), as
    // for IPFamily: part of every virtual server key.
    public static func == (a: L4Protocol, b: L4Protocol) -> Bool { a.order == b.order }
    public func hash(into hasher: inout Hasher) { hasher.combine(order) }

    /// Lower-case name as ipset and iptables write it.
    public var lowercased: String { self == .tcp ? "tcp" : self == .udp ? "udp" : "sctp" }
    /// The IP protocol number (IPPROTO_TCP/UDP/SCTP).
    public var number: UInt16 { self == .tcp ? 6 : self == .udp ? 17 : 132 }
    /// The ipvsadm service flag (`-t`, `-u`, `--sctp-service`).
    public var ipvsadmFlag: String { self == .tcp ? "-t" : self == .udp ? "-u" : "--sctp-service" }
}
