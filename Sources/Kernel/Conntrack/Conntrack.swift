import KubeModel
import ProxyCore
import KernelPort
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Conntrack entries over ctnetlink
//
// `clear(_:)` does what upstream kube-proxy does with one `conntrack -D` process per filter, in a
// fixed number of syscalls: one IPCTNL_MSG_CT_GET dump per address family the filters name, the
// matching done here (protocol, original destination and port, reply source and port), then every
// matching entry deleted with IPCTNL_MSG_CT_DELETE, pipelined (NetlinkSocket.transact). Each delete
// names the entry's reply tuple (which holds the backend), zone and CTA_ID, so it removes the entry
// that was dumped and no other: if that entry expired and a new flow with the same original tuple
// was sent to a live backend meanwhile, the kernel finds nothing and answers ENOENT, which counts
// as done, like a delete of an entry that simply expired (ConntrackMessages.deleteRequest says why
// the id alone is not enough).
//
// The kernel could filter dumps itself (CTA_FILTER, Linux 5.8+); filtering here keeps one code
// path for every kernel kube-ipvs supports and costs one pass over the table only when a sync
// removed UDP backends.

/// The node's conntrack table (NETLINK_NETFILTER, subsystem ctnetlink).
public final class Conntrack {
    /// The netfilter netlink socket.
    public let socket: NetlinkSocket

    /// Opens a NETLINK_NETFILTER socket; touches nothing.
    public init() throws {
        socket = try NetlinkSocket(protocol: CTNL.NETLINK_NETFILTER, subsystem: .conntrack)
    }

    /// Calls `each` with every entry of `family`, as the dump arrives (`conntrack -L -f`).
    public func forEachEntry(family: IPFamily, _ each: (ConntrackEntry) throws -> Void) throws {
        let seq = socket.reserveSequences(1)
        var enc = NetlinkEncoder()
        ConntrackMessages.dumpRequest(&enc, family: family, sequence: seq)
        let op = "IPCTNL_MSG_CT_GET"
        // NLM_F_DUMP_INTR is ignored: entries come and go all the time; a missed one is caught by a later sync.
        try socket.dump(enc, sequence: seq, operation: op, object: family.rawValue) { msg in
            let entry: ConntrackEntry?
            do {
                entry = try ConntrackMessages.decode(msg)
            } catch let e as NetlinkDecodeError {
                throw KernelError(subsystem: .conntrack, operation: op, object: family.rawValue, errno: EPROTO, message: e.description)
            }
            if let entry, entry.family == family { try each(entry) }
        }
    }

    /// Every entry of `family`.
    public func entries(family: IPFamily) throws -> [ConntrackEntry] {
        var out: [ConntrackEntry] = []
        try forEachEntry(family: family) { out.append($0) }
        return out
    }

    /// Deletes these entries, pipelined. Entries already gone (ENOENT: expired, or replaced by a newer
    /// entry with another reply tuple) count in `alreadyAbsent`; other failures are thrown together as a
    /// `KernelBatchError` after every delete was tried.
    @discardableResult
    public func delete(_ entries: [ConntrackEntry]) throws -> ApplyResult {
        var result = ApplyResult()
        guard !entries.isEmpty else { return result }
        let base = socket.reserveSequences(entries.count)
        var enc = NetlinkEncoder(reservingCapacity: entries.count * 96)
        for (i, e) in entries.enumerated() {
            ConntrackMessages.deleteRequest(&enc, entry: e, sequence: base &+ UInt32(i))
        }
        let codes = try socket.transact(enc, firstSequence: base, operation: "IPCTNL_MSG_CT_DELETE batch")
        let texts = socket.lastExtendedAcks
        result.requestsSent = entries.count
        var errors: [KernelError] = []
        for (i, e) in entries.enumerated() {
            switch codes[i] {
            case 0: result.applied += 1
            case ENOENT: result.alreadyAbsent += 1
            default:
                errors.append(KernelError(subsystem: .conntrack, operation: "IPCTNL_MSG_CT_DELETE", object: e.description,
                                          errno: codes[i], message: texts[i] ?? ""))
            }
        }
        if !errors.isEmpty { throw KernelBatchError(errors: errors, partial: result) }
        return result
    }

    /// Deletes every entry that one of `filters` selects: one dump per family named, then one
    /// pipelined batch of deletes. Returns what was done (`applied` = entries deleted); throws a
    /// `KernelBatchError` carrying those counts when some deletes failed.
    @discardableResult
    public func clear(_ filters: [ConntrackFilter]) throws -> ApplyResult {
        var byFamily: [IPFamily: [IPAddress: [ConntrackFilter]]] = [:]
        for f in filters { byFamily[f.family, default: [:]][f.originalDestination, default: []].append(f) }
        var doomed: [ConntrackEntry] = []
        for family in byFamily.keys.sorted() {
            let index = byFamily[family]!
            try forEachEntry(family: family) { e in
                if let candidates = index[e.original.destination], candidates.contains(where: e.matches) { doomed.append(e) }
            }
        }
        return try delete(doomed)
    }
}
