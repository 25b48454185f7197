import KubeModel
import ProxyCore

// MARK: - IPTablesRule <-> struct ipt_entry / ip6t_entry bytes
//
// The exact layouts libiptc exchanges with the kernel (linux/netfilter_ipv4/ip_tables.h,
// linux/netfilter_ipv6/ip6_tables.h, linux/netfilter/x_tables.h and the xt_* headers), with the
// match and target revisions iptables 1.8.9 itself chooses on a current kernel, so that
// iptables-save prints our rules exactly as if iptables-restore had written them:
//   comment r0, set r4 (xt_set_info_match_v4), addrtype r1, mark r1, conntrack r3, physdev r0,
//   ipvs r0; targets: standard, MARK r2, MASQUERADE r0, REJECT r0.
// Tests/KernelTests/Fixtures/iptables-legacy-entries.txt holds entries written by
// iptables-legacy-restore and read back through libiptc; the codec must reproduce them byte for byte.

/// Encodes and decodes rule entries for libiptc.
public enum IPTablesEntryCodec {
    /// sizeof(struct ipt_entry) / sizeof(struct ip6t_entry).
    public static func entrySize(_ f: IPFamily) -> Int { f == .ipv4 ? 112 : 168 }
    static func targetOffsetField(_ f: IPFamily) -> Int { f == .ipv4 ? 88 : 140 }
    static func protoField(_ f: IPFamily) -> Int { f == .ipv4 ? 80 : 128 }
    static func flagsField(_ f: IPFamily) -> Int { f == .ipv4 ? 82 : 131 }
    static func invFlagsField(_ f: IPFamily) -> Int { f == .ipv4 ? 83 : 132 }
    static func addrLen(_ f: IPFamily) -> Int { f == .ipv4 ? 4 : 16 }

    static let invSrc: UInt8 = 0x08, invDst: UInt8 = 0x10, invProto: UInt8 = 0x40  // IPT_INV_*
    static let ip6FlagProto: UInt8 = 0x01                                          // IP6T_F_PROTO
    static let headerSize = 32                                                     // xt_entry_match/target
    static let standardLabels: Set<String> = ["ACCEPT", "DROP", "RETURN", "QUEUE"]

    static func align8(_ n: Int) -> Int { (n + 7) & ~7 }

    // MARK: - Encoding

    /// Builds the entry for `rule`; `setIndex` resolves ipset names to kernel indexes (xt_set
    /// refers to sets by index). A jump names its chain in the target's name field: libiptc maps
    /// ACCEPT/DROP/RETURN and chain names to verdicts when the entry is appended.
    public static func encode(_ rule: IPTablesRule, setIndex: (String) throws -> UInt16) rethrows -> [UInt8] {
        let f = rule.family
        var e = [UInt8](repeating: 0, count: entrySize(f))
        let n = addrLen(f)
        var inv: UInt8 = 0
        if let s = rule.source {
            put(&e, 0, s.cidr.address.bytes); put(&e, 2 * n, mask(f, s.cidr.prefixLength))
            if s.inverted { inv |= invSrc }
        }
        if let d = rule.destination {
            put(&e, n, d.cidr.address.bytes); put(&e, 3 * n, mask(f, d.cidr.prefixLength))
            if d.inverted { inv |= invDst }
        }
        if let p = rule.proto {
            putLE16(&e, protoField(f), UInt16(p))
            if f == .ipv6 { e[flagsField(f)] |= ip6FlagProto }
            if rule.protoInverted { inv |= invProto }
        }
        e[invFlagsField(f)] = inv

        for m in rule.matches { e += try encodeMatch(m, family: f, setIndex: setIndex) }
        let targetOffset = e.count
        e += encodeTarget(rule.target, family: f)
        putLE16(&e, targetOffsetField(f), UInt16(targetOffset))
        putLE16(&e, targetOffsetField(f) + 2, UInt16(e.count))
        return e
    }

    static func header(_ name: String, revision: UInt8, dataSize: Int) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: headerSize + align8(dataSize))
        putLE16(&h, 0, UInt16(h.count))
        put(&h, 2, Array(name.utf8.prefix(28)))
        h[31] = revision
        return h
    }

    static func encodeMatch(_ m: IPTablesRule.Match, family f: IPFamily, setIndex: (String) throws -> UInt16) rethrows -> [UInt8] {
        let d = headerSize
        switch m {
        case let .comment(c):
            var h = header("comment", revision: 0, dataSize: 256)
            put(&h, d, Array(c.utf8.prefix(255)))
            return h
        case let .set(name, flags, inv):
            var h = header("set", revision: 4, dataSize: 48)
            putLE16(&h, d, try setIndex(name))
            h[d + 2] = UInt8(flags.count)
            var bits: UInt8 = inv ? 1 : 0
            for (i, src) in flags.enumerated() where src { bits |= 1 << UInt8(i + 1) }
            h[d + 3] = bits
            return h
        case let .addrtype(s, si, dst, di):
            var h = header("addrtype", revision: 1, dataSize: 8)
            putLE16(&h, d, s); putLE16(&h, d + 2, dst)
            putLE32(&h, d + 4, (si ? 1 : 0) | (di ? 2 : 0))
            return h
        case let .mark(v, mask, inv):
            var h = header("mark", revision: 1, dataSize: 12)
            putLE32(&h, d, v); putLE32(&h, d + 4, mask); h[d + 8] = inv ? 1 : 0
            return h
        case let .ctstate(states, inv):
            var h = header("conntrack", revision: 3, dataSize: 162)
            putLE16(&h, d + 146, 1)                   // match_flags = XT_CONNTRACK_STATE
            putLE16(&h, d + 148, inv ? 1 : 0)         // invert_flags
            putLE16(&h, d + 150, states)              // state_mask
            return h
        case let .physdevIs(bits, inv):
            var h = header("physdev", revision: 0, dataSize: 66)
            h[d + 64] = inv; h[d + 65] = bits
            return h
        case let .ipvs(p, vaddr, vport):
            var h = header("ipvs", revision: 0, dataSize: 40)
            var bitmask: UInt8 = 0
            if let vaddr {
                put(&h, d, vaddr.address.bytes); put(&h, d + 16, mask(f, vaddr.prefixLength)); bitmask |= 0x04
            }
            if let vport { h[d + 32] = UInt8(vport >> 8); h[d + 33] = UInt8(vport & 0xff); bitmask |= 0x08 }
            if let p { h[d + 34] = p; bitmask |= 0x02 }
            h[d + 39] = bitmask
            return h
        }
    }

    static func encodeTarget(_ t: IPTablesRule.Target?, family f: IPFamily) -> [UInt8] {
        let d = headerSize
        switch t {
        case nil:
            return header("", revision: 0, dataSize: 4)   // standard target, no verdict: fall through
        case let .standard(label)?:
            return header(label, revision: 0, dataSize: 4)
        case let .mark(v, m)?:
            var h = header("MARK", revision: 2, dataSize: 8)
            putLE32(&h, d, v); putLE32(&h, d + 4, m)
            return h
        case let .masquerade(rf)?:
            if f == .ipv4 {  // nf_nat_ipv4_multi_range_compat: rangesize, range[0].flags, ...
                var h = header("MASQUERADE", revision: 0, dataSize: 20)
                putLE32(&h, d, 1); putLE32(&h, d + 4, rf ? 0x10 : 0)
                return h
            }
            var h = header("MASQUERADE", revision: 0, dataSize: 40)  // nf_nat_range
            putLE32(&h, d, rf ? 0x10 : 0)
            return h
        case let .reject(code)?:
            var h = header("REJECT", revision: 0, dataSize: 4)
            putLE32(&h, d, code)
            return h
        }
    }

    // MARK: - Decoding

    /// Decodes an entry read through libiptc; `targetLabel` is what iptc_get_target returned.
    /// Nil when the entry uses anything outside the kube-ipvs grammar (interfaces, goto, other
    /// matches or options): the caller then reads that table with iptables-save instead.
    public static func decode(_ e: [UInt8], targetLabel: String, family f: IPFamily,
                              setName: (UInt16) -> String?) -> IPTablesRule? {
        let size = entrySize(f)
        guard e.count >= size else { return nil }
        let n = addrLen(f)
        // Interfaces and their masks must be empty.
        let ifStart = 4 * n
        guard e[ifStart..<(ifStart + 64)].allSatisfy({ $0 == 0 }) else { return nil }
        let flags = e[flagsField(f)], inv = e[invFlagsField(f)]
        let proto = le16(e, protoField(f))
        guard inv & ~(invSrc | invDst | invProto) == 0 else { return nil }
        if f == .ipv4 { guard flags == 0 else { return nil } } else {
            guard flags & ~ip6FlagProto == 0, e[130] == 0 else { return nil }
        }
        var r = IPTablesRule(family: f)
        func address(_ at: Int, _ maskAt: Int, _ inverted: Bool) -> IPTablesRule.AddressMatch?? {
            let a = Array(e[at..<(at + n)]), m = Array(e[maskAt..<(maskAt + n)])
            if a.allSatisfy({ $0 == 0 }) && m.allSatisfy({ $0 == 0 }) { return .some(nil) }
            guard let len = prefixLength(m), let ip = IPAddress(bytes: a) else { return nil }
            return .some(IPTablesRule.AddressMatch(cidr: CIDR(network: ip, prefixLength: len), inverted: inverted))
        }
        guard let s = address(0, 2 * n, inv & invSrc != 0), let d = address(n, 3 * n, inv & invDst != 0) else { return nil }
        r.source = s; r.destination = d
        if proto != 0 {
            guard proto <= 255 else { return nil }
            r.proto = UInt8(proto); r.protoInverted = inv & invProto != 0
        } else if inv & invProto != 0 { return nil }

        let targetOffset = Int(le16(e, targetOffsetField(f))), nextOffset = Int(le16(e, targetOffsetField(f) + 2))
        guard targetOffset >= size, nextOffset <= e.count, targetOffset + headerSize <= nextOffset else { return nil }
        var off = size
        while off < targetOffset {
            let msize = Int(le16(e, off))
            guard msize >= headerSize, off + msize <= targetOffset else { return nil }
            let name = cName(e, off + 2, 29), rev = e[off + 31]
            guard let m = decodeMatch(name, rev, Array(e[(off + headerSize)..<(off + msize)]), f, setName) else { return nil }
            r.matches.append(m)
            off += msize
        }
        let tsize = Int(le16(e, targetOffset))
        guard tsize >= headerSize, targetOffset + tsize <= nextOffset else { return nil }
        let tname = cName(e, targetOffset + 2, 29), trev = e[targetOffset + 31]
        let tdata = Array(e[(targetOffset + headerSize)..<(targetOffset + tsize)])
        if tname.isEmpty {
            r.target = targetLabel.isEmpty ? nil : .standard(targetLabel)
        } else {
            guard let t = decodeTarget(tname, trev, tdata, f) else { return nil }
            r.target = t
        }
        return r
    }

    static func decodeMatch(_ name: String, _ rev: UInt8, _ d: [UInt8], _ f: IPFamily,
                            _ setName: (UInt16) -> String?) -> IPTablesRule.Match? {
        switch (name, rev) {
        case ("comment", 0):
            guard d.count >= 256 else { return nil }
            return .comment(cName(d, 0, 256))
        case ("set", 4):
            guard d.count >= 48, let set = setName(le16(d, 0)) else { return nil }
            let dim = Int(d[2]), bits = d[3]
            // Counter comparisons and the extra flags (--return-nomatch, ! --update-counters, ...) are not ours.
            guard (1...6).contains(dim), d[8..<48].allSatisfy({ $0 == 0 }), bits >> UInt8(dim + 1) == 0 else { return nil }
            return .set(name: set, sourceFlags: (1...dim).map { bits & (1 << UInt8($0)) != 0 }, inverted: bits & 1 != 0)
        case ("addrtype", 1):
            guard d.count >= 8 else { return nil }
            let fl = le32(d, 4)
            guard fl & ~3 == 0 else { return nil }
            return .addrtype(source: le16(d, 0), sourceInverted: fl & 1 != 0, destination: le16(d, 2), destinationInverted: fl & 2 != 0)
        case ("mark", 1):
            guard d.count >= 12 else { return nil }
            return .mark(value: le32(d, 0), mask: le32(d, 4), inverted: d[8] != 0)
        case ("conntrack", 3):
            guard d.count >= 162, le16(d, 146) == 1, le16(d, 148) & ~1 == 0 else { return nil }
            guard d[0..<146].allSatisfy({ $0 == 0 }), d[152..<162].allSatisfy({ $0 == 0 }) else { return nil }
            return .ctstate(states: le16(d, 150), inverted: le16(d, 148) != 0)
        case ("physdev", 0):
            guard d.count >= 66, d[0..<64].allSatisfy({ $0 == 0 }) else { return nil }
            let bits = d[65], inv = d[64]
            guard bits != 0, bits & ~0x1c == 0, inv & ~bits == 0 else { return nil }
            return .physdevIs(bits: bits, inverted: inv)
        case ("ipvs", 0):
            guard d.count >= 40 else { return nil }
            let bitmask = d[39]
            guard bitmask & ~0x0f == 0, bitmask & ~0x01 != 0, d[38] == 0, d[35] == 0, le16(d, 36) == 0 else { return nil }
            var vaddr: CIDR?
            if bitmask & 0x04 != 0 {
                let n = addrLen(f)
                guard let len = prefixLength(Array(d[16..<(16 + n)])), let ip = IPAddress(bytes: Array(d[0..<n])) else { return nil }
                vaddr = CIDR(network: ip, prefixLength: len)
            }
            return .ipvs(proto: bitmask & 0x02 != 0 ? d[34] : nil, vaddr: vaddr,
                         vport: bitmask & 0x08 != 0 ? UInt16(d[32]) << 8 | UInt16(d[33]) : nil)
        default:
            return nil
        }
    }

    static func decodeTarget(_ name: String, _ rev: UInt8, _ d: [UInt8], _ f: IPFamily) -> IPTablesRule.Target? {
        switch (name, rev) {
        case ("MARK", 2):
            guard d.count >= 8 else { return nil }
            return .mark(value: le32(d, 0), mask: le32(d, 4))
        case ("MASQUERADE", 0):
            if f == .ipv4 {
                guard d.count >= 20, le32(d, 0) == 1, d[8..<20].allSatisfy({ $0 == 0 }) else { return nil }
                let fl = le32(d, 4)
                guard fl & ~0x10 == 0 else { return nil }
                return .masquerade(randomFully: fl != 0)
            }
            guard d.count >= 40, d[4..<40].allSatisfy({ $0 == 0 }) else { return nil }
            let fl = le32(d, 0)
            guard fl & ~0x10 == 0 else { return nil }
            return .masquerade(randomFully: fl != 0)
        case ("REJECT", 0):
            guard d.count >= 4, IPTablesRule.rejectNames(f)[le32(d, 0)] != nil else { return nil }
            return .reject(with: le32(d, 0))
        default:
            return nil
        }
    }

    // MARK: - Bytes

    /// Network-order netmask bytes for a prefix length.
    static func mask(_ f: IPFamily, _ len: Int) -> [UInt8] {
        (0..<addrLen(f)).map { i in
            let bits = max(0, min(8, len - 8 * i))
            return bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        }
    }

    /// The prefix length of a contiguous netmask; nil for a non-contiguous one.
    static func prefixLength(_ m: [UInt8]) -> Int? {
        var len = 0, ended = false
        for b in m {
            for bit in (0..<8).reversed() {
                if b & (1 << UInt8(bit)) != 0 { if ended { return nil }; len += 1 } else { ended = true }
            }
        }
        return len
    }

    static func put(_ a: inout [UInt8], _ at: Int, _ bytes: [UInt8]) {
        for (i, b) in bytes.enumerated() { a[at + i] = b }
    }
    static func putLE16(_ a: inout [UInt8], _ at: Int, _ v: UInt16) { a[at] = UInt8(v & 0xff); a[at + 1] = UInt8(v >> 8) }
    static func putLE32(_ a: inout [UInt8], _ at: Int, _ v: UInt32) {
        for i in 0..<4 { a[at + i] = UInt8((v >> (8 * UInt32(i))) & 0xff) }
    }
    static func le16(_ a: [UInt8], _ at: Int) -> UInt16 { UInt16(a[at]) | UInt16(a[at + 1]) << 8 }
    static func le32(_ a: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(a[at + $1]) << (8 * UInt32($1)) }
    }
    static func cName(_ a: [UInt8], _ at: Int, _ max: Int) -> String {
        let end = min(a.count, at + max)
        let bytes = a[at..<end].prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}
