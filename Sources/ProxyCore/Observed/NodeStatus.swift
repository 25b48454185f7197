import KubeModel

// MARK: - `kube-ipvs status`: the node's virtual servers, who wants them, and the drift (pure)
//
// The kernel's virtual servers are listed as `ipvsadm -Ln` lists them, each labelled:
//   - with the Service port that wants it (`namespace/name:port`, the port's name or number),
//   - "stale": owned (VirtualServerOwnership, or the planner's rule) but no Service wants it,
//   - "excluded": owned, no Service wants it, but inside excludeCIDRs (never deleted),
//   - "not owned": made by someone else; kube-ipvs never touches it,
//   - without a desired state (no source): "owned" or "not owned".
// Virtual servers a Service wants but the kernel lacks are listed too, as "missing".
// The drift is the very Plan `sync` would apply (Planner.plan), so zero operations means in step.

/// The label of one virtual server.
public enum VirtualServerState: String, Sendable, Hashable, Encodable {
    /// A Service wants it and the kernel has it.
    case wanted
    /// A Service wants it and the kernel lacks it.
    case missing
    /// Owned, and no Service wants it: sync deletes it.
    case stale
    /// Owned, no Service wants it, and inside excludeCIDRs: never deleted.
    case excluded
    /// Owned; no desired state to compare with.
    case owned
    /// Not kube-ipvs's.
    case notOwned = "not owned"
}

/// One real server as the kernel reports it.
public struct RealServerStatus: Sendable, Hashable {
    public var server: RealServer
    public var stats: RealServerStats
    public init(server: RealServer, stats: RealServerStats) { self.server = server; self.stats = stats }
}

/// One virtual server, labelled.
public struct VirtualServerStatus: Sendable, Hashable {
    /// The kernel's object; the desired one for `missing`.
    public var server: VirtualServer
    public var realServers: [RealServerStatus]
    public var state: VirtualServerState
    /// `namespace/name:port` of the Service port that wants it.
    public var servicePort: String?
    /// Why it is owned (nil when not owned, or when only the desired state says so).
    public var ownership: VirtualServerOwnership?
}

/// The node's status.
public struct NodeStatus: Sendable, Hashable {
    public var virtualServers: [VirtualServerStatus]
    /// The operations `sync` would apply; nil when there is no desired state (drift unknown).
    public var drift: Plan?
    /// Number of Services the desired state was built from (nil without a source).
    public var services: Int?

    /// Labels the observed virtual servers against `desired` (nil: no source) and computes the drift.
    public static func build(observed: ObservedState, desired: DesiredState?, services: Int?,
                             nodeAddresses: Set<IPAddress>) -> NodeStatus {
        var out: [VirtualServerStatus] = []
        var familySet = Set(observed.families.keys)
        if let desired { familySet.formUnion(desired.families.keys) }
        let families = familySet.sorted()
        for f in families {
            let have = observed.family(f)
            let want = desired?.family(f)
            var keys = Set(have.virtualServers.keys)
            if let want { keys.formUnion(want.virtualServers.keys) }
            for key in keys.sorted() {
                let ownership = VirtualServerOwnership.of(key, in: have, nodeAddresses: nodeAddresses)
                guard let o = have.virtualServers[key] else {
                    let d = want!.virtualServers[key]!
                    let rs = d.realServers.map { RealServerStatus(server: $0, stats: RealServerStats()) }  // sorted by key already
                    out.append(VirtualServerStatus(server: d.server, realServers: rs, state: .missing, servicePort: d.servicePort, ownership: ownership))
                    continue
                }
                let rs = o.realServers.values.sorted { $0.key < $1.key }.map {
                    RealServerStatus(server: $0, stats: o.stats[$0.key] ?? RealServerStats())
                }
                var state: VirtualServerState
                var servicePort: String?
                if let want, let desired {
                    if let d = want.virtualServers[key] {
                        state = .wanted; servicePort = d.servicePort
                    } else {
                        // The planner's rule (addresses it binds or will bind) or the kernel-only one.
                        let plannerOwns = have.boundAddresses.contains(key.address) || want.boundAddresses[key.address] != nil
                        if plannerOwns || ownership != nil {
                            state = desired.excludeCIDRs.contains(where: { $0.contains(key.address) }) ? .excluded : .stale
                        } else {
                            state = .notOwned
                        }
                    }
                } else {
                    state = ownership == nil ? .notOwned : .owned
                }
                out.append(VirtualServerStatus(server: o.server, realServers: rs, state: state, servicePort: servicePort, ownership: ownership))
            }
        }
        let drift = desired.map { Planner.plan(desired: $0, observed: observed) }
        return NodeStatus(virtualServers: out, drift: drift, services: services)
    }

    // MARK: - Text (`ipvsadm -Ln` layout)

    /// `ipvsadm -Ln`'s columns with a label per virtual server, then the drift.
    public func text(title: String) -> String {
        var s = "\(title)\n"
        s += "Prot LocalAddress:Port Scheduler Flags\n"
        s += "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        for v in virtualServers {
            let proto = v.server.key.proto.rawValue
            var line = "\(proto)\(String(repeating: " ", count: max(1, 5 - proto.count)))\(v.server.key.address.bracketed):\(v.server.key.port) \(v.server.scheduler)"
            let flags = Self.flagWords(v.server)
            if !flags.isEmpty { line += " " + flags.joined(separator: " ") }
            line += "  [\(label(v))]"
            s += line + "\n"
            for r in v.realServers {
                s += "  -> " + pad(r.server.key.description, 28) + " " + pad(Self.forwardName(r.server.forwarding), 7) + " "
                    + pad(String(r.server.weight), 6) + " " + pad(String(r.stats.activeConnections), 10) + " "
                    + String(r.stats.inactiveConnections) + "\n"
            }
        }
        if virtualServers.isEmpty { s += "(no virtual servers)\n" }
        s += "\n"
        guard let drift else {
            return s + "Drift: unknown (no -f manifests and no --kubeconfig: nothing says what the node should hold)\n"
        }
        if drift.isEmpty {
            return s + "Drift: none; the node is in step with \(services ?? 0) Service(s)\n"
        }
        s += "Drift: \(ShellRenderer.summary(drift)) that sync would apply\n"
        for p in drift.operations {
            s += "  " + Self.operationLine(p) + "\n"
        }
        return s
    }

    /// The label in brackets: the Service port, or the state.
    public func label(_ v: VirtualServerStatus) -> String {
        switch v.state {
        case .wanted: return v.servicePort ?? "wanted"
        case .missing: return "missing: \(v.servicePort ?? "?")"
        default: return v.state.rawValue
        }
    }

    /// One line per drift operation: its command, and the Service it serves.
    static func operationLine(_ p: PlannedOperation) -> String {
        let cmd: String
        switch p.operation {
        case .writeChains(let f, let t, let chains):
            cmd = "\(f == .ipv4 ? "iptables" : "ip6tables")-restore --noflush # rewrite \(t.rawValue) chains \(chains.map(\.name).joined(separator: " "))"
        default:
            cmd = ShellRenderer.command(p.operation)
        }
        return cmd + (p.owner.map { "   # \($0)" } ?? "")
    }

    /// ipvsadm's words for the flags: `persistent 10800`, `sh-port`, `ops`.
    static func flagWords(_ vs: VirtualServer) -> [String] {
        var w: [String] = []
        if vs.flags.contains(.persistent) { w.append("persistent \(vs.timeout)") }
        if vs.flags.contains(.onePacket) { w.append("ops") }
        w += vs.flags.schedulerFlagNames(scheduler: vs.scheduler)
        return w
    }

    /// ipvsadm's Forward column.
    static func forwardName(_ f: ForwardingMethod) -> String {
        switch f {
        case .masquerade: return "Masq"
        case .localNode: return "Local"
        case .tunnel: return "Tunnel"
        case .directRoute: return "Route"
        }
    }

    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
}

// MARK: - JSON (`status --output json`)

/// The JSON form of `kube-ipvs status` (docs/status-and-cleanup.md documents each field).
public struct NodeStatusDocument: Encodable, Sendable {
    public struct RealServerDoc: Encodable, Sendable {
        var address: String, port: UInt16, forwarding: String, weight: Int32
        var activeConnections: UInt32, inactiveConnections: UInt32, persistentConnections: UInt32
    }
    public struct VirtualServerDoc: Encodable, Sendable {
        var address: String, `protocol`: String, port: UInt16, scheduler: String, flags: [String]
        var persistenceTimeout: UInt32?
        var state: String
        var service: String?
        var ownership: String?
        var realServers: [RealServerDoc]
    }
    public struct DriftDoc: Encodable, Sendable {
        var inStep: Bool
        var summary: [String: Int]
        var operations: [OperationDocument]
    }

    public var node: String
    /// `manifests`, `kubeconfig`, `manifests+kubeconfig` or `none`.
    public var source: String
    public var services: Int?
    public var virtualServers: [VirtualServerDoc]
    /// null when there is no source (drift unknown).
    public var drift: DriftDoc?
    /// Objects skipped because they were invalid.
    public var errors: [String]

    public init(status: NodeStatus, node: String, source: String, errors: [String] = []) {
        self.node = node; self.source = source; self.services = status.services; self.errors = errors
        virtualServers = status.virtualServers.map { v in
            VirtualServerDoc(
                address: v.server.key.address.description, protocol: v.server.key.proto.rawValue, port: v.server.key.port,
                scheduler: v.server.scheduler,
                flags: v.server.flags.schedulerFlagNames(scheduler: v.server.scheduler)
                    + (v.server.flags.contains(.persistent) ? ["persistent"] : [])
                    + (v.server.flags.contains(.onePacket) ? ["ops"] : []),
                persistenceTimeout: v.server.flags.contains(.persistent) ? v.server.timeout : nil,
                state: v.state.rawValue, service: v.servicePort, ownership: v.ownership?.description,
                realServers: v.realServers.map { r in
                    RealServerDoc(address: r.server.key.address.description, port: r.server.key.port,
                                  forwarding: NodeStatus.forwardName(r.server.forwarding).lowercased(), weight: r.server.weight,
                                  activeConnections: r.stats.activeConnections, inactiveConnections: r.stats.inactiveConnections,
                                  persistentConnections: r.stats.persistentConnections)
                })
        }
        drift = status.drift.map { plan in
            let doc = PlanDocument(plan: plan)
            return DriftDoc(inStep: plan.isEmpty, summary: doc.summary, operations: doc.operations)
        }
    }

    private enum CodingKeys: String, CodingKey { case node, source, services, virtualServers, drift, errors }

    /// Every key is always present: `drift` and `services` are null without a source.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(node, forKey: .node)
        try c.encode(source, forKey: .source)
        try c.encode(services, forKey: .services)
        try c.encode(virtualServers, forKey: .virtualServers)
        try c.encode(drift, forKey: .drift)
        try c.encode(errors, forKey: .errors)
    }
}
