import KubeModel
import ProxyCore

// MARK: - One iptables rule, structured
//
// The grammar kube-ipvs writes (docs/spec.md §3), as a value: parsed from the rule text the core
// emits, encoded to an ipt_entry for libiptc (IPTablesEntryCodec), decoded back from the kernel
// and rendered in exactly the form `iptables-save` prints, so that observed and desired chain
// bodies compare as strings. Anything outside this grammar fails to parse or decode (nil); the
// backend then falls back to the iptables-save/-restore tools for that table.
//
// Canonical forms (checked against iptables-save v1.8.9 in a netns, see the NetNS tests):
//   `-j MARK --or-mark M` saves as `--set-xmark M/M`, `--xor-mark M` as `--set-xmark M/0x0`;
//   REJECT always shows `--reject-with icmp-port-unreachable` (IPv6: icmp6-port-unreachable);
//   `-m ipvs` prints `--vproto N --vaddr A/L --vport P` in that order, whatever the input order.

/// A rule in the kube-ipvs grammar.
public struct IPTablesRule: Sendable, Hashable {
    /// An address match (`-s`/`-d`).
    public struct AddressMatch: Sendable, Hashable {
        public var cidr: CIDR
        public var inverted: Bool
    }

    /// A `-m` match with its options.
    public enum Match: Sendable, Hashable {
        case comment(String)
        /// `--match-set NAME dst,dst`: `sourceFlags[i]` is true for `src` in dimension i.
        case set(name: String, sourceFlags: [Bool], inverted: Bool)
        /// addrtype revision 1: bit masks of RTN_* types (1 << RTN_x), with inversions.
        case addrtype(source: UInt16, sourceInverted: Bool, destination: UInt16, destinationInverted: Bool)
        case mark(value: UInt32, mask: UInt32, inverted: Bool)
        /// conntrack revision 3 `--ctstate` only (XT_CONNTRACK_STATE_BIT values).
        case ctstate(states: UInt16, inverted: Bool)
        /// physdev `--physdev-is-in/-out/-bridged` flags only (XT_PHYSDEV_OP_*).
        case physdevIs(bits: UInt8, inverted: UInt8)
        /// ipvs `--vproto`, `--vaddr`, `--vport` (nil when absent).
        case ipvs(proto: UInt8?, vaddr: CIDR?, vport: UInt16?)
    }

    /// The `-j` target.
    public enum Target: Sendable, Hashable {
        /// ACCEPT, DROP, RETURN or a chain name.
        case standard(String)
        /// MARK revision 2.
        case mark(value: UInt32, mask: UInt32)
        case masquerade(randomFully: Bool)
        /// REJECT with the ICMP code number of ipt_reject_with / ip6t_reject_with.
        case reject(with: UInt32)
    }

    public var family: IPFamily
    public var source: AddressMatch?
    public var destination: AddressMatch?
    /// `-p`: IP protocol number (6, 17, 132).
    public var proto: UInt8?
    public var protoInverted = false
    public var matches: [Match] = []
    public var target: Target?

    public init(family: IPFamily) { self.family = family }

    // MARK: - Names

    static let protoNames: [UInt8: String] = [6: "tcp", 17: "udp", 132: "sctp", 1: "icmp", 58: "ipv6-icmp"]
    /// RTN_* names in bit order (linux/rtnetlink.h), as libxt_addrtype prints them.
    static let rtnNames = ["UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE",
                           "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"]
    /// XT_CONNTRACK_STATE bits in the order libxt_conntrack prints them.
    static let ctstates: [(String, UInt16)] = [("INVALID", 1), ("NEW", 8), ("RELATED", 4), ("ESTABLISHED", 2),
                                               ("UNTRACKED", 1 << 9), ("SNAT", 1 << 7), ("DNAT", 1 << 8)]
    static let physdevOps: [(String, UInt8)] = [("--physdev-is-in", 0x08), ("--physdev-is-out", 0x10), ("--physdev-is-bridged", 0x04)]
    static func rejectNames(_ f: IPFamily) -> [UInt32: String] {
        f == .ipv4
            ? [0: "icmp-net-unreachable", 1: "icmp-host-unreachable", 2: "icmp-proto-unreachable",
               3: "icmp-port-unreachable", 5: "icmp-net-prohibited", 6: "icmp-host-prohibited",
               7: "tcp-reset", 8: "icmp-admin-prohibited"]
            : [0: "icmp6-no-route", 1: "icmp6-adm-prohibited", 3: "icmp6-addr-unreachable",
               4: "icmp6-port-unreachable", 5: "tcp-reset"]
    }

    // MARK: - Rendering (iptables-save form, after `-A CHAIN `)

    /// The rule as `iptables-save` prints it after `-A CHAIN `.
    public var saveText: String {
        var w: [String] = []
        func addr(_ flag: String, _ a: AddressMatch?) {
            guard let a else { return }
            if a.inverted { w.append("!") }
            w.append(flag); w.append("\(a.cidr.address)/\(a.cidr.prefixLength)")
        }
        addr("-s", source); addr("-d", destination)
        if let p = proto {
            if protoInverted { w.append("!") }
            w.append("-p"); w.append(Self.protoNames[p] ?? String(p))
        }
        for m in matches {
            switch m {
            case let .comment(c):
                w += ["-m", "comment", "--comment", IPTablesText.quote(c)]
            case let .set(name, flags, inv):
                w += ["-m", "set"]
                if inv { w.append("!") }
                w += ["--match-set", name, flags.map { $0 ? "src" : "dst" }.joined(separator: ",")]
            case let .addrtype(s, si, d, di):
                w += ["-m", "addrtype"]
                if s != 0 { if si { w.append("!") }; w += ["--src-type", Self.typeList(s)] }
                if d != 0 { if di { w.append("!") }; w += ["--dst-type", Self.typeList(d)] }
            case let .mark(v, mask, inv):
                w += ["-m", "mark"]
                if inv { w.append("!") }
                w += ["--mark", mask == 0xffff_ffff ? Self.hex(v) : "\(Self.hex(v))/\(Self.hex(mask))"]
            case let .ctstate(states, inv):
                w += ["-m", "conntrack"]
                if inv { w.append("!") }
                w += ["--ctstate", Self.ctstates.filter { states & $0.1 != 0 }.map(\.0).joined(separator: ",")]
            case let .physdevIs(bits, inv):
                w += ["-m", "physdev"]
                for (name, bit) in Self.physdevOps where bits & bit != 0 {
                    if inv & bit != 0 { w.append("!") }
                    w.append(name)
                }
            case let .ipvs(p, vaddr, vport):
                w += ["-m", "ipvs"]
                if let p { w += ["--vproto", String(p)] }
                if let vaddr { w += ["--vaddr", "\(vaddr.address)/\(vaddr.prefixLength)"] }
                if let vport { w += ["--vport", String(vport)] }
            }
        }
        switch target {
        case nil: break
        case let .standard(name)?: w += ["-j", name]
        case let .mark(v, m)?: w += ["-j", "MARK", "--set-xmark", "\(Self.hex(v))/\(Self.hex(m))"]
        case let .masquerade(rf)?: w += ["-j", "MASQUERADE"] + (rf ? ["--random-fully"] : [])
        case let .reject(code)?: w += ["-j", "REJECT", "--reject-with", Self.rejectNames(family)[code] ?? String(code)]
        }
        return w.joined(separator: " ")
    }

    static func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

    static func typeList(_ bits: UInt16) -> String {
        rtnNames.enumerated().filter { bits & (1 << UInt16($0.offset)) != 0 }.map(\.element).joined(separator: ",")
    }

    // MARK: - Parsing (the core's rule text)

    /// Parses rule text (after `-A CHAIN `); nil when it is outside the supported grammar.
    public init?(text: String, family: IPFamily) {
        self.init(family: family)
        guard let words = Self.tokenize(text) else { return nil }
        var i = 0
        var pendingNot = false
        func next() -> String? { i += 1; return i < words.count ? words[i] : nil }
        func cidr(_ s: String) -> CIDR? {
            guard let c = CIDR(s), c.address.family == family else { return nil }
            return c
        }
        func hexOrDec(_ s: Substring) -> UInt32? {
            s.hasPrefix("0x") ? UInt32(s.dropFirst(2), radix: 16) : UInt32(s)
        }
        var currentMatch: String?
        while i < words.count {
            let w = words[i]
            if w == "!" { pendingNot = true; i += 1; continue }
            let inv = pendingNot
            pendingNot = false
            switch w {
            case "-s", "-d":
                guard let v = next(), let c = cidr(v) else { return nil }
                if w == "-s" { source = AddressMatch(cidr: c, inverted: inv) } else { destination = AddressMatch(cidr: c, inverted: inv) }
            case "-p":
                guard let v = next() else { return nil }
                guard let n = Self.protoNames.first(where: { $0.value == v })?.key ?? UInt8(v) else { return nil }
                proto = n; protoInverted = inv
            case "-m":
                guard let v = next() else { return nil }
                currentMatch = v
                if v == "physdev" { matches.append(.physdevIs(bits: 0, inverted: 0)) }
                if v == "ipvs" { matches.append(.ipvs(proto: nil, vaddr: nil, vport: nil)) }
                if v == "addrtype" { matches.append(.addrtype(source: 0, sourceInverted: false, destination: 0, destinationInverted: false)) }
            case "--comment":
                guard currentMatch == "comment", let v = next() else { return nil }
                matches.append(.comment(v))
            case "--match-set":
                guard currentMatch == "set", let name = next(), let dims = next() else { return nil }
                var flags: [Bool] = []
                for d in dims.split(separator: ",") {
                    guard d == "src" || d == "dst" else { return nil }
                    flags.append(d == "src")
                }
                guard !flags.isEmpty, flags.count <= 6 else { return nil }
                matches.append(.set(name: name, sourceFlags: flags, inverted: inv))
            case "--src-type", "--dst-type":
                guard currentMatch == "addrtype", let v = next(), case let .addrtype(s, si, d, di)? = matches.last else { return nil }
                var bits: UInt16 = 0
                for t in v.split(separator: ",") {
                    guard let idx = Self.rtnNames.firstIndex(of: String(t)) else { return nil }
                    bits |= 1 << UInt16(idx)
                }
                matches[matches.count - 1] = w == "--src-type"
                    ? .addrtype(source: bits, sourceInverted: inv, destination: d, destinationInverted: di)
                    : .addrtype(source: s, sourceInverted: si, destination: bits, destinationInverted: inv)
            case "--mark":
                guard currentMatch == "mark", let v = next() else { return nil }
                let parts = v.split(separator: "/")
                guard let value = hexOrDec(parts[0]) else { return nil }
                let mask = parts.count > 1 ? hexOrDec(parts[1]) : 0xffff_ffff
                guard let mask else { return nil }
                matches.append(.mark(value: value, mask: mask, inverted: inv))
            case "--ctstate":
                guard currentMatch == "conntrack", let v = next() else { return nil }
                var bits: UInt16 = 0
                for s in v.split(separator: ",") {
                    guard let b = Self.ctstates.first(where: { $0.0 == s })?.1 else { return nil }
                    bits |= b
                }
                matches.append(.ctstate(states: bits, inverted: inv))
            case "--physdev-is-in", "--physdev-is-out", "--physdev-is-bridged":
                guard currentMatch == "physdev", case let .physdevIs(bits, invBits)? = matches.last,
                      let bit = Self.physdevOps.first(where: { $0.0 == w })?.1 else { return nil }
                matches[matches.count - 1] = .physdevIs(bits: bits | bit, inverted: inv ? invBits | bit : invBits)
            case "--vproto", "--vaddr", "--vport":
                guard currentMatch == "ipvs", !inv, let v = next(), case let .ipvs(p, a, port)? = matches.last else { return nil }
                switch w {
                case "--vproto":
                    guard let n = Self.protoNames.first(where: { $0.value == v })?.key ?? UInt8(v) else { return nil }
                    matches[matches.count - 1] = .ipvs(proto: n, vaddr: a, vport: port)
                case "--vaddr":
                    guard let c = cidr(v) else { return nil }
                    matches[matches.count - 1] = .ipvs(proto: p, vaddr: c, vport: port)
                default:
                    guard let n = UInt16(v) else { return nil }
                    matches[matches.count - 1] = .ipvs(proto: p, vaddr: a, vport: n)
                }
            case "-j":
                guard !inv, let v = next() else { return nil }
                currentMatch = "-j " + v
                switch v {
                case "MARK": target = nil
                case "MASQUERADE": target = .masquerade(randomFully: false)
                case "REJECT":
                    target = .reject(with: family == .ipv4 ? 3 : 4)
                default:
                    guard v.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), !v.isEmpty else { return nil }
                    target = .standard(v)
                }
            case "--set-xmark", "--or-mark", "--xor-mark", "--and-mark", "--set-mark":
                guard currentMatch == "-j MARK", let v = next() else { return nil }
                let parts = v.split(separator: "/")
                guard let value = hexOrDec(parts[0]) else { return nil }
                let mask = parts.count > 1 ? hexOrDec(parts[1]) : nil
                if parts.count > 1 && mask == nil { return nil }
                switch w {
                case "--set-xmark": target = .mark(value: value, mask: mask ?? 0xffff_ffff)
                case "--set-mark": target = .mark(value: value, mask: (mask ?? 0xffff_ffff) | value)
                case "--or-mark": target = .mark(value: value, mask: value)
                case "--xor-mark": target = .mark(value: value, mask: 0)
                default: target = .mark(value: 0, mask: ~value)  // --and-mark
                }
            case "--random-fully":
                guard currentMatch == "-j MASQUERADE" else { return nil }
                target = .masquerade(randomFully: true)
            case "--reject-with":
                guard currentMatch == "-j REJECT", let v = next(),
                      let code = Self.rejectNames(family).first(where: { $0.value == v })?.key else { return nil }
                target = .reject(with: code)
            default:
                return nil
            }
            i += 1
        }
        if pendingNot { return nil }
        if currentMatch == "-j MARK", target == nil { return nil }
        // Options-only matches that ended up empty are not valid rules.
        for m in matches {
            if case let .physdevIs(bits, _) = m, bits == 0 { return nil }
            if case let .addrtype(s, _, d, _) = m, s == 0, d == 0 { return nil }
            if case let .ipvs(p, a, port) = m, p == nil, a == nil, port == nil { return nil }
        }
    }

    /// Splits rule text into words as iptables-restore does: double quotes group, backslash escapes.
    static func tokenize(_ text: String) -> [String]? {
        var words: [String] = []
        var cur = ""
        var inWord = false, quoted = false, escaped = false
        for ch in text {
            if escaped { cur.append(ch); escaped = false; inWord = true; continue }
            if ch == "\\" { escaped = true; continue }
            if ch == "\"" { quoted.toggle(); inWord = true; continue }
            if ch == " " && !quoted {
                if inWord { words.append(cur); cur = ""; inWord = false }
                continue
            }
            cur.append(ch); inWord = true
        }
        if quoted || escaped { return nil }
        if inWord { words.append(cur) }
        return words
    }
}
