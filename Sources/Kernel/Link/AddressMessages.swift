import KubeModel

// MARK: - rtnetlink address messages, pure
//
// RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR with struct ifaddrmsg (linux/if_addr.h). Built here rather
// than with rtnl_addr_build_add_request so that thousands of VIPs go out pipelined in a few
// datagrams, and so that encoding and decoding are tested on literal bytes.

/// rtnetlink address constants; each mirrors the C name in linux/rtnetlink.h or linux/if_addr.h.
public enum RTAddr {
    public static let RTM_NEWADDR: UInt16 = 20
    public static let RTM_DELADDR: UInt16 = 21
    public static let RTM_GETADDR: UInt16 = 22

    public static let IFA_ADDRESS: UInt16 = 1
    public static let IFA_LOCAL: UInt16 = 2
    public static let IFA_LABEL: UInt16 = 3
    public static let IFA_FLAGS: UInt16 = 8

    /// IFA_F_NODAD: an IPv6 VIP must not wait for duplicate address detection (the link may be down).
    public static let IFA_F_NODAD: UInt8 = 0x02

    /// AF_UNSPEC / AF_INET / AF_INET6.
    public static let AF_UNSPEC: UInt8 = 0
    public static let AF_INET: UInt8 = 2
    public static let AF_INET6: UInt8 = 10

    /// sizeof(struct ifaddrmsg).
    public static let ifaddrmsgLength = 8
}

/// An address bound on a link, with its prefix length.
public struct LinkAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var address: IPAddress
    public var prefixLength: Int
    public init(address: IPAddress, prefixLength: Int) { self.address = address; self.prefixLength = prefixLength }
    /// A host address: /32 or /128.
    public init(host: IPAddress) { self.init(address: host, prefixLength: host.family.hostPrefix) }
    public static func < (a: Self, b: Self) -> Bool { a.address != b.address ? a.address < b.address : a.prefixLength < b.prefixLength }
    public var description: String { "\(address)/\(prefixLength)" }
}

/// Builds and decodes address messages.
public enum AddressMessages {
    /// struct ifaddrmsg { family, prefixlen, flags, scope, index }.
    static func ifaddrmsg(family: UInt8, prefixLength: UInt8, flags: UInt8, scope: UInt8, index: UInt32) -> [UInt8] {
        [family, prefixLength, flags, scope] + NetlinkEncoder.hostBytes(index)
    }

    /// Appends RTM_NEWADDR (create, exclusive, ack) or RTM_DELADDR (ack) for `addr` on link `index`.
    /// Both IFA_LOCAL and IFA_ADDRESS carry the address, as `ip addr add` sends them; IPv6 gets IFA_F_NODAD.
    public static func change(_ enc: inout NetlinkEncoder, add: Bool, address addr: LinkAddress, index: Int32, sequence: UInt32) {
        let family = addr.address.family == .ipv4 ? RTAddr.AF_INET : RTAddr.AF_INET6
        let flags: UInt16 = add ? NL.NLM_F_REQUEST | NL.NLM_F_ACK | NL.NLM_F_CREATE | NL.NLM_F_EXCL : NL.NLM_F_REQUEST | NL.NLM_F_ACK
        let ifaFlags: UInt8 = add && addr.address.family == .ipv6 ? RTAddr.IFA_F_NODAD : 0
        enc.begin(type: add ? RTAddr.RTM_NEWADDR : RTAddr.RTM_DELADDR, flags: flags, sequence: sequence)
        enc.raw(ifaddrmsg(family: family, prefixLength: UInt8(addr.prefixLength), flags: ifaFlags, scope: 0, index: UInt32(bitPattern: index)))
        enc.address(RTAddr.IFA_LOCAL, addr.address, padTo16: false)
        enc.address(RTAddr.IFA_ADDRESS, addr.address, padTo16: false)
        enc.end()
    }

    /// Appends an RTM_GETADDR dump request for all families.
    /// An RTM_GETADDR dump of every family; `index` limits it to one link when the socket has
    /// NETLINK_GET_STRICT_CHK set (kernels before 4.20 ignore it and dump every link).
    public static func dumpRequest(_ enc: inout NetlinkEncoder, sequence: UInt32, index: UInt32 = 0) {
        enc.begin(type: RTAddr.RTM_GETADDR, flags: NL.NLM_F_REQUEST | NL.NLM_F_DUMP, sequence: sequence)
        enc.raw(ifaddrmsg(family: RTAddr.AF_UNSPEC, prefixLength: 0, flags: 0, scope: 0, index: index))
        enc.end()
    }

    /// RT_SCOPE_LINK: IPv6 link-local addresses the kernel adds when a link comes up.
    public static let RT_SCOPE_LINK: UInt8 = 253

    /// Decodes one RTM_NEWADDR message: its link index, address and scope, or nil for other families.
    /// IPv4 reports the local address in IFA_LOCAL (IFA_ADDRESS is the peer on point-to-point links);
    /// IPv6 reports it in IFA_ADDRESS.
    public static func decode(_ msg: NetlinkMessage) throws -> (index: Int32, address: LinkAddress, scope: UInt8)? {
        guard msg.header.type == RTAddr.RTM_NEWADDR else { return nil }
        let p = msg.payload
        guard p.count >= RTAddr.ifaddrmsgLength else { throw NetlinkDecodeError("ifaddrmsg of \(p.count) bytes") }
        let family = p[p.startIndex], prefix = Int(p[p.startIndex + 1]), scope = p[p.startIndex + 3]
        let index = Int32(bitPattern: p.readHost(UInt32.self, at: p.startIndex + 4))
        let attrs = try msg.attributes(afterHeader: RTAddr.ifaddrmsgLength)
        let raw: ArraySlice<UInt8>?
        switch family {
        case RTAddr.AF_INET: raw = attrs[RTAddr.IFA_LOCAL] ?? attrs[RTAddr.IFA_ADDRESS]
        case RTAddr.AF_INET6: raw = attrs[RTAddr.IFA_ADDRESS] ?? attrs[RTAddr.IFA_LOCAL]
        default: return nil
        }
        guard let raw, let ip = IPAddress(bytes: Array(raw)), prefix <= ip.family.hostPrefix else {
            throw NetlinkDecodeError("address message without a valid address (family \(family))")
        }
        return (index, LinkAddress(address: ip, prefixLength: prefix), scope)
    }
}
