import KubeModel

// MARK: - Plan -> JSON document (`sync --dry-run --output json`)
//
// A flat, stable shape for tools: one object per operation with `op`, `kind`, `owner` and the
// fields of that operation, plus `command` (what the shell dry-run prints for it).

/// The JSON form of a plan.
public struct PlanDocument: Encodable, Sendable {
    public var summary: [String: Int]
    public var operations: [OperationDocument]
    /// Objects skipped because they were invalid, as `Kind namespace/name: field: message`.
    public var errors: [String]

    public init(plan: Plan, errors: [String] = []) {
        var s: [String: Int] = ["total": plan.count]
        for (k, v) in plan.countsByKind { s[k.rawValue] = v }
        summary = s
        operations = plan.operations.map(OperationDocument.init)
        self.errors = errors
    }
}

/// One operation of a plan.
public struct OperationDocument: Encodable, Sendable {
    public struct VS: Encodable, Sendable {
        var address: String, `protocol`: String, port: UInt16
        var scheduler: String?, flags: [String]?, persistenceTimeout: UInt32?
    }
    public struct RS: Encodable, Sendable { var address: String, port: UInt16, weight: Int32?, forwarding: String? }
    /// A chain and its rules (no rules for deleteChains).
    public struct Chain: Encodable, Sendable { var name: String, rules: [String]? }
    public struct Jump: Encodable, Sendable { var chain: String, target: String, comment: String, rule: String }
    public struct SetSpec: Encodable, Sendable { var name: String, type: String, family: String, comment: String }

    var op: String
    var kind: String
    var owner: String?
    var command: String?
    var module: String?
    var sysctl: String?
    var parameter: String?
    var value: String?
    var link: String?
    var address: String?
    var set: String?
    var entry: String?
    var setSpec: SetSpec?
    var family: String?
    var table: String?
    var chains: [Chain]?
    var jump: Jump?
    var virtualServer: VS?
    var realServer: RS?
    var timeouts: [String: UInt32]?

    init(_ p: PlannedOperation) {
        kind = p.operation.kind.rawValue
        owner = p.owner
        command = ShellRenderer.command(p.operation)
        func vsKey(_ k: VirtualServerKey) -> VS {
            VS(address: k.address.description, protocol: k.proto.rawValue, port: k.port)
        }
        func vsFull(_ v: VirtualServer) -> VS {
            var d = vsKey(v.key)
            d.scheduler = v.scheduler
            d.flags = v.flags.schedulerFlagNames(scheduler: v.scheduler) + (v.flags.contains(.persistent) ? ["persistent"] : [])
            d.persistenceTimeout = v.flags.contains(.persistent) ? v.timeout : nil
            return d
        }
        func rsFull(_ r: RealServer) -> RS {
            RS(address: r.key.address.description, port: r.key.port, weight: r.weight, forwarding: "\(r.forwarding)")
        }
        func spec(_ s: IPSetSpec) -> SetSpec {
            SetSpec(name: s.name, type: s.type.rawValue, family: s.family.ipsetFamily, comment: s.comment)
        }
        switch p.operation {
        case .loadModule(let m): op = "loadModule"; module = m
        case .setSysctl(let n, let v): op = "setSysctl"; sysctl = n; value = v
        case .setModuleParameter(let m, let n, let v): op = "setModuleParameter"; module = m; parameter = n; value = v
        case .createDummyLink(let n): op = "createDummyLink"; link = n
        case .addAddress(let a): op = "addAddress"; address = a.description; link = dummyLinkName
        case .deleteAddress(let a): op = "deleteAddress"; address = a.description; link = dummyLinkName
        case .createSet(let s): op = "createSet"; setSpec = spec(s); set = s.name
        case .recreateSet(let s): op = "recreateSet"; setSpec = spec(s); set = s.name
        case .addSetEntry(let s, let e): op = "addSetEntry"; set = s; entry = e
        case .deleteSetEntry(let s, let e): op = "deleteSetEntry"; set = s; entry = e
        case .writeChains(let f, let t, let cs):
            op = "writeChains"; family = f.rawValue; table = t.rawValue
            chains = cs.map { Chain(name: $0.name, rules: $0.rules) }
            command = nil
        case .ensureJump(let f, let j):
            op = "ensureJump"; family = f.rawValue; table = j.table.rawValue
            jump = Jump(chain: j.chain, target: j.target, comment: j.comment, rule: j.ruleText)
        case .addVirtualServer(let v): op = "addVirtualServer"; virtualServer = vsFull(v)
        case .updateVirtualServer(let v): op = "updateVirtualServer"; virtualServer = vsFull(v)
        case .deleteVirtualServer(let k): op = "deleteVirtualServer"; virtualServer = vsKey(k)
        case .addRealServer(let k, let r): op = "addRealServer"; virtualServer = vsKey(k); realServer = rsFull(r)
        case .updateRealServer(let k, let r): op = "updateRealServer"; virtualServer = vsKey(k); realServer = rsFull(r)
        case .deleteRealServer(let k, let r):
            op = "deleteRealServer"; virtualServer = vsKey(k)
            realServer = RS(address: r.address.description, port: r.port, weight: nil, forwarding: nil)
        case .setIPVSTimeouts(let t): op = "setIPVSTimeouts"; timeouts = ["tcp": t.tcp, "tcpFin": t.tcpFin, "udp": t.udp]
        case .deleteJump(let f, let j):
            op = "deleteJump"; family = f.rawValue; table = j.table.rawValue
            jump = Jump(chain: j.chain, target: j.target, comment: j.comment, rule: j.ruleText)
        case .deleteChains(let f, let t, let names):
            op = "deleteChains"; family = f.rawValue; table = t.rawValue
            chains = names.map { Chain(name: $0, rules: nil) }
        case .destroySet(let s): op = "destroySet"; setSpec = spec(s); set = s.name
        case .deleteDummyLink(let n): op = "deleteDummyLink"; link = n
        }
    }
}
