import CNetlink
import KubeModel
import ProxyCore
import KernelPort
#if canImport(Glibc)
import Glibc
#endif

// MARK: - The kube-ipvs0 dummy link and its addresses, over rtnetlink
//
// The link is looked up and created with libnl-route (rtnl_link_get_kernel / rtnl_link_add): that
// happens once per process. Addresses change often and in bulk (one per ClusterIP), so they are
// encoded by AddressMessages and sent pipelined on the same socket.
//
// The link is left down, as upstream kube-proxy does: IPv4 VIPs get their local route on a down
// link, and IPv6 VIPs are added with IFA_F_NODAD (a down link would otherwise keep them tentative).

/// The dummy link kube-ipvs binds Service addresses on.
public final class LinkBackend {
    /// The rtnetlink socket.
    public let socket: NetlinkSocket
    /// The link name, `kube-ipvs0` by default.
    public let linkName: String
    /// The link's index once known (found or created).
    public private(set) var linkIndex: Int32?
    /// Prefix lengths seen by the last listing, so a delete names the prefix the kernel has (IPv6 requires it).
    private var knownPrefix: [IPAddress: Int] = [:]

    /// Opens a NETLINK_ROUTE socket; touches nothing.
    public init(linkName: String = dummyLinkName) throws {
        socket = try NetlinkSocket(protocol: NETLINK_ROUTE, subsystem: .link)
        self.linkName = linkName
    }

    // MARK: - The link

    /// The link's index, or nil when it does not exist.
    public func lookupLink() throws -> Int32? {
        var link: OpaquePointer?
        let rc = rtnl_link_get_kernel(socket.handle, 0, linkName, &link)
        if rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV {
            linkIndex = nil
            return nil
        }
        guard rc >= 0, let link else {
            throw KernelError(subsystem: .link, operation: "RTM_GETLINK", object: linkName, message: NetlinkSocket.libnlMessage(rc))
        }
        defer { rtnl_link_put(link) }
        linkIndex = rtnl_link_get_ifindex(link)
        return linkIndex
    }

    /// Whether the link is administratively up; nil when it does not exist.
    public func isUp() throws -> Bool? {
        var link: OpaquePointer?
        let rc = rtnl_link_get_kernel(socket.handle, 0, linkName, &link)
        if rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV { return nil }
        guard rc >= 0, let link else {
            throw KernelError(subsystem: .link, operation: "RTM_GETLINK", object: linkName, message: NetlinkSocket.libnlMessage(rc))
        }
        defer { rtnl_link_put(link) }
        return rtnl_link_get_flags(link) & UInt32(IFF_UP) != 0
    }

    /// Creates the dummy link unless it exists (`ip link add kube-ipvs0 type dummy`); returns its index.
    @discardableResult
    public func ensureLink(up: Bool = false) throws -> Int32 {
        if let idx = try lookupLink() {
            if up { try setUp(true) }
            return idx
        }
        guard let link = rtnl_link_alloc() else { throw KernelError(subsystem: .link, operation: "rtnl_link_alloc", errno: ENOMEM) }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, linkName)
        var rc = rtnl_link_set_type(link, "dummy")
        if rc < 0 { throw KernelError(subsystem: .link, operation: "rtnl_link_set_type", object: "dummy", message: NetlinkSocket.libnlMessage(rc)) }
        if up { rtnl_link_set_flags(link, UInt32(IFF_UP)) }
        rc = rtnl_link_add(socket.handle, link, NLM_F_CREATE)
        if rc < 0 && rc != -NLE_EXIST {
            throw KernelError(subsystem: .link, operation: "RTM_NEWLINK", object: "\(linkName) type dummy",
                              message: NetlinkSocket.libnlMessage(rc) + (rc == -NLE_OPNOTSUPP ? " (is the dummy module available?)" : ""))
        }
        guard let idx = try lookupLink() else {
            throw KernelError(subsystem: .link, operation: "RTM_NEWLINK", object: linkName, errno: ENODEV, message: "link missing after creation")
        }
        return idx
    }

    /// Deletes the link (`ip link del kube-ipvs0`); its addresses go with it. A missing link is not an error.
    public func deleteLink() throws {
        guard try lookupLink() != nil else { return }
        guard let link = rtnl_link_alloc() else { throw KernelError(subsystem: .link, operation: "rtnl_link_alloc", errno: ENOMEM) }
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, linkName)
        let rc = rtnl_link_delete(socket.handle, link)
        if rc < 0 && rc != -NLE_OBJ_NOTFOUND && rc != -NLE_NODEV {
            throw KernelError(subsystem: .link, operation: "RTM_DELLINK", object: linkName, message: NetlinkSocket.libnlMessage(rc))
        }
        linkIndex = nil
        knownPrefix = [:]
    }

    /// Sets the link up or down (`ip link set kube-ipvs0 up`).
    public func setUp(_ up: Bool) throws {
        var orig: OpaquePointer?
        let rc = rtnl_link_get_kernel(socket.handle, 0, linkName, &orig)
        guard rc >= 0, let orig else {
            throw KernelError(subsystem: .link, operation: "RTM_GETLINK", object: linkName, message: NetlinkSocket.libnlMessage(rc))
        }
        defer { rtnl_link_put(orig) }
        guard let change = rtnl_link_alloc() else { throw KernelError(subsystem: .link, operation: "rtnl_link_alloc", errno: ENOMEM) }
        defer { rtnl_link_put(change) }
        if up { rtnl_link_set_flags(change, UInt32(IFF_UP)) } else { rtnl_link_unset_flags(change, UInt32(IFF_UP)) }
        let rc2 = rtnl_link_change(socket.handle, orig, change, 0)
        if rc2 < 0 {
            throw KernelError(subsystem: .link, operation: "RTM_NEWLINK", object: "\(linkName) \(up ? "up" : "down")", message: NetlinkSocket.libnlMessage(rc2))
        }
    }

    // MARK: - Addresses

    /// The addresses on the link; empty when the link does not exist (absence is reported, not thrown).
    /// Link-scope addresses (the fe80::/64 the kernel adds when the link is up) are not VIPs and are left out.
    public func listAddresses() throws -> [LinkAddress] {
        guard let idx = try lookupLink() else { return [] }
        var out: [LinkAddress] = []
        for msg in try dumpAddresses() {
            guard let (index, a, scope) = try decodeOrThrow(msg), index == idx, scope != AddressMessages.RT_SCOPE_LINK else { continue }
            out.append(a)
        }
        knownPrefix = Dictionary(out.map { ($0.address, $0.prefixLength) }, uniquingKeysWith: { a, _ in a })
        return out.sorted()
    }

    /// Every address of every link (RTM_GETADDR dump), raw; the node's local addresses come from here too.
    public func dumpAddresses(index: Int32 = 0) throws -> [NetlinkMessage] {
        let seq = socket.reserveSequences(1)
        var enc = NetlinkEncoder()
        AddressMessages.dumpRequest(&enc, sequence: seq, index: UInt32(bitPattern: index))
        for attempt in 1...3 {
            let (messages, interrupted) = try socket.dump(enc, sequence: seq, operation: "RTM_GETADDR", object: index == 0 ? "all links" : "link \(index)")
            if !interrupted || attempt == 3 { return messages }
        }
        return []
    }

    /// All addresses of all links, by link index.
    public func allAddresses() throws -> [Int32: [LinkAddress]] {
        var out: [Int32: [LinkAddress]] = [:]
        for msg in try dumpAddresses() {
            if let (index, a, _) = try decodeOrThrow(msg) { out[index, default: []].append(a) }
        }
        return out
    }

    /// Every link's name, by index (RTM_GETLINK dump).
    public func linkNames() throws -> [Int32: String] {
        let seq = socket.reserveSequences(1)
        var enc = NetlinkEncoder()
        LinkMessages.dumpRequest(&enc, sequence: seq)
        var out: [Int32: String] = [:]
        for attempt in 1...3 {
            out = [:]
            let interrupted = try socket.dump(enc, sequence: seq, operation: "RTM_GETLINK", object: "all links") { msg in
                do {
                    if let (index, name) = try LinkMessages.decode(msg) { out[index] = name }
                } catch let e as NetlinkDecodeError {
                    throw KernelError(subsystem: .link, operation: "RTM_GETLINK", errno: EPROTO, message: e.description)
                }
            }
            if !interrupted || attempt == 3 { break }
        }
        return out
    }

    /// Every address of every link with the link's name (`ip -o addr show`), read-only: what the node's
    /// NodePort and local addresses are chosen from. Link-scope IPv6 addresses are included (the
    /// selection decides); an address whose link vanished between the two dumps is named `if<index>`.
    ///
    /// The daemon calls this at every sync, and kube-ipvs0 holds one address per Service address:
    /// dumping every address would make a one-endpoint change cost O(Services). So, when the kernel
    /// can filter (NETLINK_GET_STRICT_CHK), addresses are dumped link by link with kube-ipvs0
    /// skipped; its addresses are never node addresses anyway. Otherwise one dump of all of them.
    public func interfaceAddresses() throws -> [InterfaceAddress] {
        let names = try linkNames()
        var out: [InterfaceAddress] = []
        if names.values.contains(linkName), socket.setStrictCheck(true) {
            defer { socket.setStrictCheck(false) }
            for (index, name) in names.sorted(by: { $0.key < $1.key }) where name != linkName {
                for msg in try dumpAddresses(index: index) {
                    // A kernel that ignores the filter sends every link's: keep this link's only.
                    guard let (i, a, _) = try decodeOrThrow(msg), i == index else { continue }
                    out.append(InterfaceAddress(interface: name, address: a.address, prefixLength: a.prefixLength))
                }
            }
            return out.sorted()
        }
        for msg in try dumpAddresses() {
            guard let (index, a, _) = try decodeOrThrow(msg) else { continue }
            out.append(InterfaceAddress(interface: names[index] ?? "if\(index)", address: a.address, prefixLength: a.prefixLength))
        }
        return out.sorted()
    }

    private func decodeOrThrow(_ msg: NetlinkMessage) throws -> (Int32, LinkAddress, UInt8)? {
        do {
            return try AddressMessages.decode(msg).map { ($0.index, $0.address, $0.scope) }
        } catch let e as NetlinkDecodeError {
            throw KernelError(subsystem: .address, operation: "RTM_GETADDR", errno: EPROTO, message: e.description)
        }
    }

    /// Adds and deletes addresses on the link, pipelined: `addAddress` / `deleteAddress` operations, others ignored.
    /// Adding a present address (EEXIST) and deleting an absent one (EADDRNOTAVAIL) count as done.
    public func apply(_ ops: [Operation]) throws -> ApplyResult {
        var items: [(add: Bool, addr: LinkAddress)] = []
        for op in ops {
            switch op {
            case .addAddress(let ip): items.append((true, LinkAddress(host: ip)))
            case .deleteAddress(let ip): items.append((false, LinkAddress(address: ip, prefixLength: knownPrefix[ip] ?? ip.family.hostPrefix)))
            default: continue
            }
        }
        var result = ApplyResult()
        guard !items.isEmpty else { return result }
        guard let idx = try linkIndex ?? lookupLink() else {
            if items.allSatisfy({ !$0.add }) { result.alreadyAbsent = items.count; return result }
            throw KernelError(subsystem: .address, operation: "RTM_NEWADDR", object: linkName, errno: ENODEV, message: "the link does not exist")
        }
        var (codes, texts) = try send(items, index: idx)
        // The link was re-created since its index was cached (ENODEV everywhere): look it up once more.
        if codes.allSatisfy({ $0 == ENODEV }), let fresh = try lookupLink(), fresh != idx {
            (codes, texts) = try send(items, index: fresh)
        }
        result.requestsSent = items.count
        var errors: [KernelError] = []
        for (i, it) in items.enumerated() {
            switch (codes[i], it.add) {
            case (0, _):
                result.applied += 1
                if it.add { knownPrefix[it.addr.address] = it.addr.prefixLength } else { knownPrefix[it.addr.address] = nil }
            case (EEXIST, true): result.applied += 1; knownPrefix[it.addr.address] = it.addr.prefixLength
            case (EADDRNOTAVAIL, false), (ENOENT, false): result.alreadyAbsent += 1; knownPrefix[it.addr.address] = nil
            default:
                errors.append(KernelError(subsystem: .address, operation: it.add ? "RTM_NEWADDR" : "RTM_DELADDR",
                                          object: "\(it.addr) dev \(linkName)", errno: codes[i], message: texts[i] ?? ""))
            }
        }
        if !errors.isEmpty { throw KernelBatchError(errors: errors, partial: result) }
        return result
    }

    private func send(_ items: [(add: Bool, addr: LinkAddress)], index: Int32) throws -> ([Int32], [Int: String]) {
        let base = socket.reserveSequences(items.count)
        var enc = NetlinkEncoder(reservingCapacity: items.count * 48)
        for (i, it) in items.enumerated() {
            AddressMessages.change(&enc, add: it.add, address: it.addr, index: index, sequence: base &+ UInt32(i))
        }
        let codes = try socket.transact(enc, firstSequence: base, operation: "RTM_NEWADDR/RTM_DELADDR batch")
        return (codes, socket.lastExtendedAcks)
    }
}
