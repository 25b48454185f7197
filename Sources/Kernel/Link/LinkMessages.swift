// MARK: - rtnetlink link messages (names only), pure
//
// RTM_GETLINK dump with struct ifinfomsg (linux/rtnetlink.h) and IFLA_IFNAME (linux/if_link.h):
// the node's link names by index, so that the addresses of an RTM_GETADDR dump can be told apart by
// link (IPv6 address messages carry no IFA_LABEL). Read-only.

/// rtnetlink link constants; each mirrors the C name in linux/rtnetlink.h or linux/if_link.h.
public enum RTLink {
    public static let RTM_NEWLINK: UInt16 = 16
    public static let RTM_GETLINK: UInt16 = 18
    public static let IFLA_IFNAME: UInt16 = 3
    /// sizeof(struct ifinfomsg): family, pad, type (u16), index (i32), flags (u32), change (u32).
    public static let ifinfomsgLength = 16
}

/// Builds and decodes link messages.
public enum LinkMessages {
    /// Appends an RTM_GETLINK dump request for every link.
    public static func dumpRequest(_ enc: inout NetlinkEncoder, sequence: UInt32) {
        enc.begin(type: RTLink.RTM_GETLINK, flags: NL.NLM_F_REQUEST | NL.NLM_F_DUMP, sequence: sequence)
        enc.raw([UInt8](repeating: 0, count: RTLink.ifinfomsgLength))
        enc.end()
    }

    /// Decodes one RTM_NEWLINK message: the link's index and name; nil for other message types.
    public static func decode(_ msg: NetlinkMessage) throws -> (index: Int32, name: String)? {
        guard msg.header.type == RTLink.RTM_NEWLINK else { return nil }
        let p = msg.payload
        guard p.count >= RTLink.ifinfomsgLength else { throw NetlinkDecodeError("ifinfomsg of \(p.count) bytes") }
        let index = Int32(bitPattern: p.readHost(UInt32.self, at: p.startIndex + 4))
        let attrs = try msg.attributes(afterHeader: RTLink.ifinfomsgLength)
        guard let name = attrs.string(RTLink.IFLA_IFNAME), !name.isEmpty else {
            throw NetlinkDecodeError("link \(index) without IFLA_IFNAME")
        }
        return (index, name)
    }
}
