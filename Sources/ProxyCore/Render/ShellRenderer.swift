import KubeModel

// MARK: - Plan -> POSIX shell script (the dry-run)
//
// Prints the plan as the commands an operator would type: modprobe, sysctl, ip, ipset,
// iptables-restore (one here-doc per family and table) and ipvsadm, in plan order, with a comment
// before each Service's group. The output is stable: the same plan gives the same bytes.
// Names come from manifests, which anyone can write: every word that is not plain is quoted,
// comment text has its control characters escaped (a newline would end the comment and start a
// command), and a here-doc's delimiter never occurs among its lines.

public enum ShellRenderer {
    /// The whole script; `title` lines are printed as comments at the top.
    /// `staleHeading` names the section of owner-less deletions (stale state for sync, what is removed for cleanup).
    public static func render(_ plan: Plan, title: [String] = [],
                              staleHeading: String = "Stale state that no Service wants any more",
                              nothingToDo: String = "Nothing to do: the node already matches the desired state.") -> String {
        var out = "#!/bin/sh\n"
        for t in title { out += "# \(commentText(t))\n" }
        out += "# \(summary(plan))\n"
        out += "set -e\n"
        if plan.isEmpty {
            out += "# \(commentText(nothingToDo))\n"
            return out
        }
        var section = ""
        var i = 0
        let ops = plan.operations
        while i < ops.count {
            let op = ops[i]
            let heading = sectionHeading(op) ?? staleHeading
            if heading != section {
                out += "\n# \(commentText(heading))\n"
                section = heading
            }
            if let target = iptablesTarget(op.operation) {
                // One iptables-restore per run of operations on the same family and table.
                var declared: [String] = []
                var rules: [String] = []
                var flushes: [String] = [], deletions: [String] = []
                var j = i
                while j < ops.count, ops[j].owner == op.owner, let t = iptablesTarget(ops[j].operation), t == target {
                    switch ops[j].operation {
                    case .writeChains(_, _, let chains):
                        for c in chains {
                            declared.append(":\(c.name) - [0:0]\n")
                            for r in c.rules { rules.append("-A \(c.name) \(r)\n") }
                        }
                    case .ensureJump(_, let jump):
                        rules.append("-I \(jump.chain) 1 \(jump.ruleText)\n")
                    case .deleteJump(_, let jump):
                        rules.append("-D \(jump.chain) \(jump.ruleText)\n")
                    case .deleteChains(_, _, let names):
                        // Every chain is flushed before any is deleted: they jump to one another.
                        for n in names { flushes.append("-F \(n)\n"); deletions.append("-X \(n)\n") }
                    default:
                        break
                    }
                    j += 1
                }
                let tool = target.family == .ipv4 ? "iptables-restore" : "ip6tables-restore"
                let body = "*\(target.table.rawValue)\n" + declared.joined() + rules.joined() + flushes.joined() + deletions.joined() + "COMMIT\n"
                let end = hereDocDelimiter(body)
                out += "\(tool) --noflush <<'\(end)'\n" + body + "\(end)\n"
                i = j
                continue
            }
            out += command(op.operation) + "\n"
            i += 1
        }
        return out
    }

    struct TableTarget: Equatable { var family: IPFamily; var table: IPTablesTable }

    static func iptablesTarget(_ op: Operation) -> TableTarget? {
        switch op {
        case .writeChains(let f, let t, _): return TableTarget(family: f, table: t)
        case .ensureJump(let f, let j), .deleteJump(let f, let j): return TableTarget(family: f, table: j.table)
        case .deleteChains(let f, let t, _): return TableTarget(family: f, table: t)
        default: return nil
        }
    }

    /// `N operations (prerequisite 9, link 1, ...)`.
    public static func summary(_ plan: Plan) -> String {
        let counts = plan.countsByKind
        let parts = OperationKind.allCases.compactMap { k in counts[k].map { "\(k.rawValue) \($0)" } }
        return "\(plan.count) operation\(plan.count == 1 ? "" : "s")" + (parts.isEmpty ? "" : " (\(parts.joined(separator: ", ")))")
    }

    /// The section an operation is printed under; nil for owner-less deletions (the caller's stale heading).
    static func sectionHeading(_ op: PlannedOperation) -> String? {
        if let owner = op.owner { return "Service \(owner)" }
        switch op.operation {
        case .loadModule, .setSysctl, .setModuleParameter, .setIPVSTimeouts: return "Kernel modules, sysctls and IPVS timeouts"
        case .createDummyLink: return "The dummy interface that holds Service addresses"
        case .createSet, .recreateSet: return "KUBE-* ipsets"
        case .writeChains, .ensureJump:
            let t = iptablesTarget(op.operation)!
            return "iptables: the fixed KUBE-* chains and their jumps (\(t.family.rawValue) \(t.table.rawValue))"
        case .deleteJump, .deleteChains:
            let t = iptablesTarget(op.operation)!
            return "iptables: remove the jumps, then the KUBE-* chains kube-ipvs writes (\(t.family.rawValue) \(t.table.rawValue))"
        case .destroySet: return "KUBE-* ipsets (no rule matches them any more)"
        case .deleteDummyLink: return "The dummy interface (its addresses go with it)"
        default: return nil
        }
    }

    /// The single command for a non-iptables operation.
    public static func command(_ op: Operation) -> String {
        switch op {
        case .loadModule(let m): return "modprobe \(word(m))"
        case .setSysctl(let n, let v): return "sysctl -w \(word("\(n)=\(v)"))"
        case .setModuleParameter(let m, let p, let v): return "echo \(word(v)) > \(word("/sys/module/\(m)/parameters/\(p)"))"
        case .createDummyLink(let name): return "ip link add \(word(name)) type dummy"
        case .addAddress(let a): return "ip addr add \(a)/\(a.family.hostPrefix) dev \(word(dummyLinkName))"
        case .deleteAddress(let a): return "ip addr del \(a)/\(a.family.hostPrefix) dev \(word(dummyLinkName))"
        case .createSet(let s): return "ipset create \(word(s.name)) \(s.createArguments)"
        case .recreateSet(let s): return "ipset destroy \(word(s.name)) && ipset create \(word(s.name)) \(s.createArguments)"
        case .addSetEntry(let set, let entry): return "ipset add \(word(set)) \(word(entry))"
        case .deleteSetEntry(let set, let entry): return "ipset del \(word(set)) \(word(entry))"
        case .writeChains(let f, let t, let chains):
            return "\(f == .ipv4 ? "iptables" : "ip6tables")-restore --noflush # \(t.rawValue): \(chains.map(\.name).joined(separator: " "))"
        case .ensureJump(let f, let j):
            return "\(f == .ipv4 ? "iptables" : "ip6tables") -t \(j.table.rawValue) -I \(j.chain) 1 \(j.ruleText)"
        case .addVirtualServer(let vs): return "ipvsadm -A \(service(vs.key)) \(serviceOptions(vs))"
        case .updateVirtualServer(let vs): return "ipvsadm -E \(service(vs.key)) \(serviceOptions(vs))"
        case .deleteVirtualServer(let key): return "ipvsadm -D \(service(key))"
        case .addRealServer(let key, let rs): return "ipvsadm -a \(service(key)) -r \(rs.key) \(destinationOptions(rs))"
        case .updateRealServer(let key, let rs): return "ipvsadm -e \(service(key)) -r \(rs.key) \(destinationOptions(rs))"
        case .deleteRealServer(let key, let rk): return "ipvsadm -d \(service(key)) -r \(rk)"
        case .setIPVSTimeouts(let t): return "ipvsadm --set \(t.tcp) \(t.tcpFin) \(t.udp)"
        case .deleteJump(let f, let j):
            return "\(f == .ipv4 ? "iptables" : "ip6tables") -t \(j.table.rawValue) -D \(j.chain) \(j.ruleText)"
        case .deleteChains(let f, let t, let names):
            let tool = "\(f == .ipv4 ? "iptables" : "ip6tables") -t \(t.rawValue)"
            return (names.map { "\(tool) -F \($0)" } + names.map { "\(tool) -X \($0)" }).joined(separator: " && ")
        case .destroySet(let s): return "ipset destroy \(word(s.name))"
        case .deleteDummyLink(let name): return "ip link del \(word(name))"
        }
    }

    static func service(_ key: VirtualServerKey) -> String {
        "\(key.proto.ipvsadmFlag) \(key.address.bracketed):\(key.port)"
    }

    static func serviceOptions(_ vs: VirtualServer) -> String {
        var s = "-s \(word(vs.scheduler))"
        if vs.flags.contains(.persistent) { s += " -p \(vs.timeout)" }
        let names = vs.flags.schedulerFlagNames(scheduler: vs.scheduler)
        if !names.isEmpty { s += " -b \(names.joined(separator: ","))" }
        return s
    }

    // MARK: - Quoting

    /// `text` as one shell word: unchanged when every character is one no shell treats specially
    /// (so that ordinary names print as before), else single-quoted (`'` written as `'\''`).
    public static func word(_ text: String) -> String {
        let plain = !text.isEmpty && text.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "-_./:,+=@%".utf8.contains(b)
        }
        if plain { return text }
        var out = "'"
        for ch in text.unicodeScalars {
            if ch == "'" { out += "'\\''" } else { out.unicodeScalars.append(ch) }
        }
        return out + "'"
    }

    /// `text` for the rest of a `#` comment line: control characters (newline, carriage return,
    /// NUL, escape, ...) are written as `\n`, `\r`, `\t` or `\u{..}` and a backslash as `\\`, so
    /// that the comment ends where the renderer ends it. Other characters, Unicode included, stay.
    public static func commentText(_ text: String) -> String {
        func isControl(_ u: Unicode.Scalar) -> Bool {
            u.value < 0x20 || (u.value >= 0x7F && u.value < 0xA0) || u == "\u{2028}" || u == "\u{2029}"
        }
        guard text.unicodeScalars.contains(where: { isControl($0) || $0 == "\\" }) else { return text }
        var out = ""
        for u in text.unicodeScalars {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            default:
                if isControl(u) { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }

    /// `EOF`, or `EOF_1`, `EOF_2`, ... when a line of `body` is that word: a here-doc ends at the
    /// first line equal to its delimiter, and what followed it would run as commands.
    static func hereDocDelimiter(_ body: String) -> String {
        let lines = Set(body.split(separator: "\n", omittingEmptySubsequences: false))
        var candidate = "EOF"
        var n = 0
        while lines.contains(Substring(candidate)) { n += 1; candidate = "EOF_\(n)" }
        return candidate
    }

    static func destinationOptions(_ rs: RealServer) -> String {
        let method: String
        switch rs.forwarding {
        case .masquerade: method = "-m"
        case .directRoute: method = "-g"
        case .tunnel: method = "-i"
        case .localNode: method = "-m"
        }
        return "\(method) -w \(rs.weight)"
    }
}
