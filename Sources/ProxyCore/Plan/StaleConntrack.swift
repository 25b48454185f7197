import KubeModel

// MARK: - Stale UDP conntrack entries
//
// UDP has no connection end, so a conntrack entry that NATs a client to a backend lives as long as
// the client keeps sending (the UDP timeout is refreshed by every packet). When a UDP real server is
// deleted, IPVS stops choosing it, but packets that match an existing conntrack entry keep their
// old translation and go to a backend that no longer exists; and a client that sent to a UDP
// Service while it had no backend holds an entry that translates to nothing. Upstream kube-proxy
// deletes both kinds after each sync (pkg/proxy/conntrack: ClearEntriesForNAT for removed
// endpoints, ClearEntriesForIP/ClearEntriesForPort for Services that gained their first endpoint).
// Here the filters are computed from the applied Plan and the state it was planned against, so
// they are pure and cost nothing when no UDP real server changes; the Kernel target deletes the
// matching entries (Sources/Kernel/Conntrack/Conntrack.swift).

/// Which conntrack entries to delete: every entry of protocol `proto` whose original destination is
/// `originalDestination` (and port, when given) and, when given, whose reply source (the backend the
/// entry translates to) is `replySource` (and port).
public struct ConntrackFilter: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The layer-4 protocol; kube-ipvs only cleans UDP.
    public var proto: L4Protocol
    /// The Service address clients sent to (`conntrack --orig-dst`).
    public var originalDestination: IPAddress
    /// The Service port (`--orig-port-dst`); nil matches every port.
    public var originalDestinationPort: UInt16?
    /// The backend the entry was translated to (`--reply-src`); nil matches any translation, or none.
    public var replySource: IPAddress?
    /// The backend port (`--reply-port-src`); nil matches every port. Only meaningful with `replySource`.
    public var replySourcePort: UInt16?

    public init(proto: L4Protocol = .udp, originalDestination: IPAddress, originalDestinationPort: UInt16? = nil,
                replySource: IPAddress? = nil, replySourcePort: UInt16? = nil) {
        self.proto = proto; self.originalDestination = originalDestination
        self.originalDestinationPort = originalDestinationPort
        self.replySource = replySource; self.replySourcePort = replySourcePort
    }

    /// The address family of the entries it matches (that of the Service address).
    public var family: IPFamily { originalDestination.family }

    /// Whether an entry with these original-direction destination and reply-direction source matches.
    public func matches(proto p: L4Protocol?, originalDestination dst: IPAddress, originalDestinationPort dport: UInt16,
                        replySource src: IPAddress, replySourcePort sport: UInt16) -> Bool {
        guard p == proto, dst == originalDestination else { return false }
        if let want = originalDestinationPort, want != dport { return false }
        if let want = replySource, want != src { return false }
        if let want = replySourcePort, want != sport { return false }
        return true
    }

    /// Sorted by Service address, protocol and port; then by backend (filters without one first).
    public static func < (a: Self, b: Self) -> Bool {
        if a.originalDestination != b.originalDestination { return a.originalDestination < b.originalDestination }
        if a.proto != b.proto { return a.proto < b.proto }
        let (ap, bp) = (a.originalDestinationPort.map(Int.init) ?? -1, b.originalDestinationPort.map(Int.init) ?? -1)
        if ap != bp { return ap < bp }
        if a.replySource != b.replySource {
            guard let x = a.replySource else { return true }
            guard let y = b.replySource else { return false }
            return x < y
        }
        return (a.replySourcePort.map(Int.init) ?? -1) < (b.replySourcePort.map(Int.init) ?? -1)
    }

    /// The `conntrack -D` arguments that select the same entries, e.g.
    /// `-p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.244.1.5 --reply-port-src 5353`.
    public var description: String {
        var s = "-p \(proto.lowercased) --orig-dst \(originalDestination)"
        if let p = originalDestinationPort { s += " --orig-port-dst \(p)" }
        if let r = replySource { s += " --reply-src \(r)" }
        if let p = replySourcePort { s += " --reply-port-src \(p)" }
        return s
    }
}

public enum ConntrackCleanup {
    /// The conntrack entries made stale by applying `plan` to `observed` (the state it was planned
    /// against, before the apply), sorted and without duplicates:
    ///
    /// - each UDP real server the plan deletes, directly or with its virtual server: entries to the
    ///   virtual server's address and port translated to that real server's address and port;
    /// - each UDP virtual server that had no real server (or did not exist) and has some after the
    ///   plan: every entry to its address and port, translated or not.
    ///
    /// TCP and SCTP are left alone: their connections end (and TCP real servers are drained first).
    public static func filters(applied plan: Plan, observed: ObservedState) -> [ConntrackFilter] {
        var out: Set<ConntrackFilter> = []
        // Real servers of each UDP virtual server the plan touches: before it, and as it goes.
        var before: [VirtualServerKey: Int] = [:]
        var now: [VirtualServerKey: Set<RealServerKey>] = [:]
        func track(_ key: VirtualServerKey) {
            guard now[key] == nil else { return }
            let s = Set((observed.family(key.address.family).virtualServers[key]?.realServers ?? [:]).keys)
            before[key] = s.count
            now[key] = s
        }
        func stale(_ key: VirtualServerKey, _ rk: RealServerKey) -> ConntrackFilter {
            ConntrackFilter(proto: .udp, originalDestination: key.address, originalDestinationPort: key.port,
                            replySource: rk.address, replySourcePort: rk.port)
        }

        for p in plan.operations {
            switch p.operation {
            case .addRealServer(let key, let rs) where key.proto == .udp:
                track(key)
                now[key]!.insert(rs.key)
            case .deleteRealServer(let key, let rk) where key.proto == .udp:
                track(key)
                out.insert(stale(key, rk))
                now[key]!.remove(rk)
            case .deleteVirtualServer(let key) where key.proto == .udp:
                track(key)
                for rk in now[key]! { out.insert(stale(key, rk)) }
                now[key] = []
            default:
                continue
            }
        }
        for (key, servers) in now where before[key] == 0 && !servers.isEmpty {
            out.insert(ConntrackFilter(proto: .udp, originalDestination: key.address, originalDestinationPort: key.port))
        }
        return out.sorted()
    }
}
