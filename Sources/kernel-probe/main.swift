// kernel-probe: drives the kernel backends (IPVS genl, rtnetlink, prerequisites, NodeKernel) inside
// the QEMU guest for Tests/vm/tests/2*-*.sh. Not shipped, not a user interface; its output is
// whatever those tests grep. Run `kernel-probe help` for the commands. (One file of over 400
// lines: a flat list of small commands, each read beside the guest test that calls it.)

import Kernel
import KernelPort
import KubeModel
import ProxyCore
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Small helpers

func out(_ s: String) { print(s) }
func fail(_ s: String) -> Never {
    let line = Array("kernel-probe: \(s)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(1)
}

func readAll(fd: Int32) -> String {
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        data.append(contentsOf: buf[0..<n])
    }
    return String(decoding: data, as: UTF8.self)
}

func hex(_ b: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var s = ""
    s.reserveCapacity(b.count * 2)
    for x in b { s.append(digits[Int(x >> 4)]); s.append(digits[Int(x & 15)]) }
    return s
}

func ms(_ d: Duration) -> String {
    String((d.milliseconds * 100).rounded() / 100)
}

let clock = ContinuousClock()

/// Runs `body`, printing `label: N ms`; returns its value.
func timed<T>(_ label: String, _ body: () throws -> T) rethrows -> T {
    let t0 = clock.now
    let v = try body()
    out("TIME \(label) \(ms(clock.now - t0)) ms")
    return v
}

// MARK: - ipvsadm rule text (the -S / -R format)

/// `10.0.0.1:80` or `[fd00::1]:80`.
func parseEndpoint(_ s: Substring) -> (IPAddress, UInt16)? {
    if s.hasPrefix("[") {
        guard let close = s.firstIndex(of: "]"), let ip = IPAddress(s[s.index(after: s.startIndex)..<close]) else { return nil }
        let rest = s[s.index(after: close)...]
        guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { return nil }
        return (ip, port)
    }
    guard let colon = s.lastIndex(of: ":"), let ip = IPAddress(s[..<colon]), let port = UInt16(s[s.index(after: colon)...]) else { return nil }
    return (ip, port)
}

func schedulerFlags(_ names: Substring) -> IPVSServiceFlags {
    var f: IPVSServiceFlags = []
    for n in names.split(separator: ",") {
        switch n {
        case "flag-1", "sh-fallback", "mh-fallback": f.insert(.sched1)
        case "flag-2", "sh-port", "mh-port": f.insert(.sched2)
        case "flag-3": f.insert(.sched3)
        default: fail("unknown scheduler flag \(n)")
        }
    }
    return f
}

/// Parses `ipvsadm -R` lines (-A/-E/-D/-a/-e/-d, -C ignored) into operations.
func parseRules(_ text: String) -> [Operation] {
    var ops: [Operation] = []
    for rawLine in text.split(separator: "\n") {
        let t = rawLine.split(separator: " ")
        guard let cmd = t.first, !cmd.hasPrefix("#") else { continue }
        if cmd == "-C" { continue }
        var proto: L4Protocol = .tcp
        var vip: (IPAddress, UInt16)?
        var rip: (IPAddress, UInt16)?
        var sched = "wlc", flags: IPVSServiceFlags = [], timeout: UInt32 = 0, weight: Int32 = 1
        var fwd: ForwardingMethod = .directRoute
        var i = 1
        while i < t.count {
            let a = t[i], v = i + 1 < t.count ? t[i + 1] : ""
            switch a {
            case "-t", "--tcp-service": proto = .tcp; vip = parseEndpoint(v); i += 1
            case "-u", "--udp-service": proto = .udp; vip = parseEndpoint(v); i += 1
            case "--sctp-service": proto = .sctp; vip = parseEndpoint(v); i += 1
            case "-r", "--real-server": rip = parseEndpoint(v); i += 1
            case "-s", "--scheduler": sched = String(v); i += 1
            case "-b", "--sched-flags": flags.formUnion(schedulerFlags(v)); i += 1
            case "-p", "--persistent": flags.insert(.persistent); timeout = UInt32(v) ?? 300; i += 1
            case "-w", "--weight": weight = Int32(v) ?? 1; i += 1
            case "-m", "--masquerading": fwd = .masquerade
            case "-g", "--gatewaying": fwd = .directRoute
            case "-i", "--ipip": fwd = .tunnel
            case "-M", "--netmask": i += 1
            default: fail("unsupported rule token \(a) in: \(rawLine)")
            }
            i += 1
        }
        guard let (vaddr, vport) = vip else { fail("no service in: \(rawLine)") }
        let key = VirtualServerKey(address: vaddr, proto: proto, port: vport)
        switch cmd {
        case "-A": ops.append(.addVirtualServer(VirtualServer(key: key, scheduler: sched, flags: flags, timeout: timeout)))
        case "-E": ops.append(.updateVirtualServer(VirtualServer(key: key, scheduler: sched, flags: flags, timeout: timeout)))
        case "-D": ops.append(.deleteVirtualServer(key))
        case "-a", "-e", "-d":
            guard let (raddr, rport) = rip else { fail("no real server in: \(rawLine)") }
            let rk = RealServerKey(address: raddr, port: rport)
            if cmd == "-d" { ops.append(.deleteRealServer(key, rk)) } else {
                let r = RealServer(key: rk, weight: weight, forwarding: fwd)
                ops.append(cmd == "-a" ? .addRealServer(key, r) : .updateRealServer(key, r))
            }
        default: fail("unsupported command \(cmd)")
        }
    }
    return ops
}

/// The `ipvsadm -Sn` text of observed services, one line per service and real server.
func ruleLines(_ services: [VirtualServerKey: ObservedVirtualServer]) -> [String] {
    var lines: [String] = []
    for key in services.keys.sorted() {
        let o = services[key]!, s = o.server
        let svc = "\(key.proto.ipvsadmFlag) \(key.address.bracketed):\(key.port)"
        var l = "-A \(svc) -s \(s.scheduler)"
        let names = s.flags.schedulerFlagNames(scheduler: s.scheduler)
        if !names.isEmpty { l += " -b " + names.joined(separator: ",") }
        if s.flags.contains(.persistent) { l += " -p \(s.timeout)" }
        lines.append(l)
        for rk in o.realServers.keys.sorted() {
            let r = o.realServers[rk]!
            let f = r.forwarding == .masquerade ? "-m" : r.forwarding == .tunnel ? "-i" : "-g"
            lines.append("-a \(svc) -r \(rk.address.bracketed):\(rk.port) \(f) -w \(r.weight)")
        }
    }
    return lines
}

// MARK: - Commands

func ipvs() -> IPVSBackend {
    do { return try IPVSBackend() } catch { fail("\(error)") }
}

func printErrors(_ error: Error) {
    if let b = error as? KernelBatchError {
        out("BATCH-ERROR \(b.errors.count) failed; applied \(b.partial.applied)")
        for e in b.errors { out("ERROR errno=\(e.errnoName) op=\(e.operation) object=\(e.object) message=\(e.message)") }
    } else if let e = error as? KernelError {
        out("ERROR errno=\(e.errnoName) op=\(e.operation) object=\(e.object) message=\(e.message)")
    } else if let f = error as? ApplyFailure {
        out("APPLY-FAILURE \(f.report.summary)")
        for e in f.report.errors { out("ERROR errno=\(e.errnoName) op=\(e.operation) object=\(e.object) message=\(e.message)") }
    } else {
        out("ERROR \(error)")
    }
}

func cmdRestore(_ args: ArraySlice<String>) throws {
    let text = args.first.map { path -> String in
        let fd = open(path, O_RDONLY); if fd < 0 { fail("cannot open \(path)") }
        defer { close(fd) }
        return readAll(fd: fd)
    } ?? readAll(fd: 0)
    let ops = parseRules(text)
    let b = ipvs()
    do {
        let r = try timed("restore \(ops.count) ops") { try b.apply(ops) }
        out("APPLIED \(r.applied) requests=\(r.requestsSent) toUpdate=\(r.convertedToUpdate) toAdd=\(r.convertedToAdd) absent=\(r.alreadyAbsent)")
    } catch {
        printErrors(error)
        exit(2)
    }
}

/// `gen N M`: N TCP services 10.96.x.y:80 with M masqueraded real servers each, as `ipvsadm -R` text.
func cmdGen(_ args: ArraySlice<String>) {
    guard args.count >= 2, let n = Int(args[args.startIndex]), let m = Int(args[args.startIndex + 1]) else { fail("gen N M") }
    var s = ""
    s.reserveCapacity(n * (m + 1) * 60)
    for i in 0..<n {
        let vip = "10.96.\(i / 256).\(i % 256):80"
        s += "-A -t \(vip) -s rr\n"
        for j in 0..<m {
            let k = i * m + j
            s += "-a -t \(vip) -r 10.\(128 + k / 65536).\((k / 256) % 256).\(k % 256):8080 -m -w 1\n"
        }
    }
    let bytes = Array(s.utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}

func cmdList() throws {
    let b = ipvs()
    let services = try b.observe()
    var all: [VirtualServerKey: ObservedVirtualServer] = [:]
    for (_, s) in services { all.merge(s) { a, _ in a } }
    for l in ruleLines(all) { out(l) }
}

func cmdObserve() throws {
    let b = ipvs()
    let services = try timed("observe") { try b.observe() }
    let vs = services.values.reduce(0) { $0 + $1.count }
    let rs = services.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.realServers.count } }
    out("OBSERVED \(vs) virtual servers, \(rs) real servers")
    let only = try timed("dumpServices") { try b.dumpServices() }
    out("SERVICES \(only.count)")
    if let k = only.keys.sorted().first {
        let (r, _) = try timed("dumpDestinations one") { try b.dumpDestinations(of: k) }
        out("DESTS \(k) \(r.count)")
    }
}

func cmdDests(_ args: ArraySlice<String>) throws {
    guard let spec = args.first else { fail("dests IP:PORT[/PROTO]") }
    let parts = spec.split(separator: "/")
    guard let (ip, port) = parseEndpoint(parts[0]) else { fail("bad service \(spec)") }
    let proto = parts.count > 1 ? L4Protocol(rawValue: parts[1].uppercased()) ?? .tcp : .tcp
    let key = VirtualServerKey(address: ip, proto: proto, port: port)
    let b = ipvs()
    guard let s = try b.getService(key) else { out("SERVICE \(key) absent"); return }
    out("SERVICE \(key) scheduler=\(s.scheduler) flags=\(s.flags.significant.rawValue) timeout=\(s.timeout)")
    let (real, stats) = try b.dumpDestinations(of: key)
    for k in real.keys.sorted() {
        out("DEST \(k) weight=\(real[k]!.weight) fwd=\(real[k]!.forwarding) active=\(stats[k]?.activeConnections ?? 0) inactive=\(stats[k]?.inactiveConnections ?? 0)")
    }
}

func cmdTimeouts(_ args: ArraySlice<String>) throws {
    let b = ipvs()
    if args.count == 3 {
        let v = args.map { UInt32($0) ?? 0 }
        _ = try b.apply([.setIPVSTimeouts(IPVSTimeouts(tcp: v[0], tcpFin: v[1], udp: v[2]))])
    }
    let t = try b.getTimeouts()
    out("TIMEOUTS \(t.tcp) \(t.tcpFin) \(t.udp)")
}

func cmdInfo() throws {
    let b = ipvs()
    let i = try b.info()
    out("IPVS family=\(b.familyID) version=\(i.version >> 16).\((i.version >> 8) & 0xff).\(i.version & 0xff) conn_tab_size=\(i.connectionTableSize)")
}

func cmdLink(_ args: ArraySlice<String>) throws {
    let l = try LinkBackend()
    switch args.first ?? "show" {
    case "ensure": out("LINK index=\(try l.ensureLink(up: args.dropFirst().first == "up"))")
    case "up": try l.setUp(true)
    case "down": try l.setUp(false)
    default: break
    }
    if let idx = try l.lookupLink() {
        out("LINK \(l.linkName) index=\(idx) up=\(try l.isUp() ?? false)")
    } else {
        out("LINK \(l.linkName) absent")
    }
}

func cmdAddr(_ args: ArraySlice<String>) throws {
    let l = try LinkBackend()
    let verb = args.first ?? "list"
    switch verb {
    case "add", "del":
        let ips = args.dropFirst().map { a -> IPAddress in guard let ip = IPAddress(a) else { fail("bad address \(a)") }; return ip }
        do {
            let r = try l.apply(ips.map { verb == "add" ? .addAddress($0) : .deleteAddress($0) })
            out("APPLIED \(r.applied) absent=\(r.alreadyAbsent)")
        } catch { printErrors(error); exit(2) }
    case "bulk":
        // bulk N: add N addresses 10.97.x.y, then delete them, timing both.
        let n = Int(args.dropFirst().first ?? "1000") ?? 1000
        let addrs = (0..<n).map { IPAddress(v4: (10 << 24) | (97 << 16) | UInt32($0)) }
        _ = try l.listAddresses()
        let r = try timed("addr add \(n)") { try l.apply(addrs.map { .addAddress($0) }) }
        out("APPLIED \(r.applied)")
        let listed = try timed("addr list") { try l.listAddresses() }
        out("LISTED \(listed.count)")
        let d = try timed("addr del \(n)") { try l.apply(addrs.map { .deleteAddress($0) }) }
        out("DELETED \(d.applied)")
        return
    default: break
    }
    for a in try l.listAddresses() { out("ADDR \(a)") }
}

func cmdPrereq(_ args: ArraySlice<String>) throws {
    let p = Prerequisites()
    switch args.first ?? "" {
    case "load":
        do { _ = try p.apply(args.dropFirst().map { .loadModule($0) }); out("LOADED") } catch { printErrors(error); exit(2) }
    case "loaded":
        for m in args.dropFirst() { out("MODULE \(m) \(p.isLoaded(m) ? "loaded" : "missing")") }
    case "sysctl":
        for a in args.dropFirst() {
            let kv = a.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { try p.writeSysctl(kv[0], kv[1]) }
            out("SYSCTL \(kv[0])=\(p.readSysctl(kv[0]) ?? "<absent>")")
        }
    default: fail("prereq load|loaded|sysctl ...")
    }
}

/// `capture [addr|conntrack]`: prints raw kernel replies as `FIXTURE <name> <hex>` lines (one datagram each) for Tests/KernelTests/Fixtures.
func cmdCapture(_ args: ArraySlice<String>) throws {
    var current = ""
    if args.first == "conntrack" {
        let c = try Conntrack()
        c.socket.replyTap = { op, bytes in out("FIXTURE \(current) \(op) \(hex(bytes))") }
        for f in IPFamily.allCases {
            current = "conntrack-dump-\(f.rawValue)"
            for e in try c.entries(family: f) { out("ENTRY \(e)") }
        }
        return
    }
    if args.first == "addr" {
        let l = try LinkBackend()
        l.socket.replyTap = { op, bytes in out("FIXTURE \(current) \(op) \(hex(bytes))") }
        current = "rtnl-addresses"; _ = try l.dumpAddresses()
        return
    }
    let b = ipvs()
    b.socket.replyTap = { op, bytes in out("FIXTURE \(current) \(op) \(hex(bytes))") }
    current = "ipvs-services"; _ = try b.dumpServices()
    for (i, k) in try b.dumpServices().keys.sorted().enumerated() {
        current = "ipvs-dests-\(i)-\(k.address)-\(k.port)-\(k.proto.lowercased)"
        _ = try b.dumpDestinations(of: k)
    }
    current = "ipvs-config"; _ = try b.getTimeouts()
    current = "ipvs-info"; _ = try b.info()
    current = "ipvs-error-eexist"
    // A NEW_SERVICE for a present service, sent as a plain add (no retry), to record the EEXIST ack.
    if let k = try b.dumpServices().keys.sorted().first {
        let seq = b.socket.reserveSequences(1)
        var enc = NetlinkEncoder()
        IPVSRequest.message(&enc, family: b.familyID, command: .newService, flags: NL.NLM_F_REQUEST | NL.NLM_F_ACK, sequence: seq) {
            IPVSRequest.service(&$0, key: k, full: VirtualServer(key: k, scheduler: "rr"))
        }
        let codes = try b.socket.transact(enc, firstSequence: seq, operation: "IPVS_CMD_NEW_SERVICE")
        out("EEXIST-PROBE errno=\(codes[0]) ext=\(b.socket.lastExtendedAcks[0] ?? "")")
    }
}

/// `sync -f MANIFEST [--skip KIND]... [--cluster-cidr CIDR] [--node NAME] [--iptables legacy|nft] [--rounds N]`:
/// the whole pipeline (manifest -> DesiredState -> observe -> Plan -> apply) through NodeKernel, N times.
func cmdSync(_ args: ArraySlice<String>) throws {
    var files: [String] = [], skip: Set<OperationKind> = [], node = "node-1", rounds = 2
    var flavor = IPTablesFlavor.legacy, linkUp = false
    var config = ProxyConfig()
    var it = args.makeIterator()
    while let a = it.next() {
        switch a {
        case "-f": files.append(it.next() ?? "")
        case "--skip": if let k = OperationKind(rawValue: it.next() ?? "") { skip.insert(k) }
        case "--cluster-cidr": if let c = CIDR(it.next() ?? "") { config.clusterCIDRs = [c] }
        case "--node": node = it.next() ?? node
        case "--scheduler": config.scheduler = it.next() ?? "rr"
        case "--iptables": flavor = IPTablesFlavor(flag: it.next() ?? "") ?? .legacy
        case "--rounds": rounds = Int(it.next() ?? "") ?? 2
        case "--link-up": linkUp = true
        default: fail("sync: unknown argument \(a)")
        }
    }
    let loaded = try ManifestLoader().load(paths: files)
    for d in loaded.diagnostics { out("DIAGNOSTIC \(d)") }
    let desired = timedQuiet { DesiredStateBuilder.build(snapshot: loaded.snapshot, config: config, node: NodeContext(name: node)) }
    out("TIME desired \(ms(desired.1)) ms")
    let sets: SetsBackend? = skip.contains(.ipset) ? nil : try IPSetBackend()
    let rules: RulesBackend? = skip.contains(.iptables) ? nil : IPTablesFamilies(families: [.ipv4, .ipv6], flavor: flavor)
    let kernel = try NodeKernel(sets: sets, rules: rules, linkUp: linkUp)
    for round in 1...rounds {
        let observed = try timed("observe round \(round)") { try kernel.observe(families: [.ipv4, .ipv6]) }
        let (full, planTime) = timedQuiet { Planner.plan(desired: desired.0, observed: observed) }
        out("TIME plan round \(round) \(ms(planTime)) ms")
        let plan = Plan(operations: full.operations.filter { !skip.contains($0.operation.kind) })
        let counts = OperationKind.allCases.map { "\($0.rawValue)=\(plan.countsByKind[$0] ?? 0)" }.joined(separator: " ")
        out("PLAN round=\(round) ops=\(plan.count) \(counts) skipped=\(full.count - plan.count)")
        if plan.count <= 12 { for p in plan.operations { out("  OP \(p.operation)") } }
        do {
            let report = try kernel.apply(plan)
            out("REPORT round=\(round) \(report.summary) requests=\(report.requestsSent)")
            let phases = OperationKind.allCases.compactMap { k in report.elapsedByKind[k].map { "\(k.rawValue)=\(ms($0))ms" } }
            if !phases.isEmpty { out("PHASES round=\(round) " + phases.joined(separator: " ")) }
        } catch {
            printErrors(error)
            exit(2)
        }
    }
}

/// Runs `body`, returning its value and duration.
func timedQuiet<T>(_ body: () throws -> T) rethrows -> (T, Duration) {
    let t0 = clock.now
    let v = try body()
    return (v, clock.now - t0)
}

/// `latency VIP:PORT RIP:PORT N`: N single-operation applies (add, delete, add, ...) of one real server
/// on a warm socket; prints min/median/max, the steady-state cost of one endpoint change.
func cmdLatency(_ args: ArraySlice<String>) throws {
    let a = Array(args)
    guard a.count >= 2, let (vip, vport) = parseEndpoint(a[0][...]), let (rip, rport) = parseEndpoint(a[1][...]) else { fail("latency VIP:PORT RIP:PORT [N]") }
    let n = a.count > 2 ? Int(a[2]) ?? 20 : 20
    let b = ipvs()
    let vs = VirtualServerKey(address: vip, proto: .tcp, port: vport)
    let rk = RealServerKey(address: rip, port: rport)
    var times: [Duration] = []
    for i in 0..<(2 * n) {
        let op: Operation = i % 2 == 0 ? .addRealServer(vs, RealServer(key: rk)) : .deleteRealServer(vs, rk)
        let (r, t) = try timedQuiet { try b.apply([op]) }
        if r.requestsSent != 1 { fail("expected one request, sent \(r.requestsSent)") }
        times.append(t)
    }
    let warm = Array(times.dropFirst(2)).sorted()
    out("LATENCY one-op applies=\(times.count) first=\(ms(times[0])) ms min=\(ms(warm.first!)) ms median=\(ms(warm[warm.count / 2])) ms max=\(ms(warm.last!)) ms")
}

/// `bench-codec N`: encode N add-real-server requests and decode N captured-shape destination replies (no kernel).
func cmdBenchCodec(_ args: ArraySlice<String>) throws {
    let n = Int(args.first ?? "110000") ?? 110000
    let vs = VirtualServerKey(address: IPAddress("10.96.0.1")!, proto: .tcp, port: 80)
    let ops: [Operation] = (0..<n).map { .addRealServer(vs, RealServer(key: RealServerKey(address: IPAddress(v4: 0x0a80_0000 + UInt32($0)), port: 8080))) }
    var enc = NetlinkEncoder(reservingCapacity: n * 160)
    let (_, te) = timedQuiet { for (i, op) in ops.enumerated() { _ = IPVSRequest.encode(op, into: &enc, family: 0x20, sequence: UInt32(i)) } }
    out("TIME encode \(n) \(ms(te)) ms (\(enc.bytes.count) bytes)")
    // Replies: the same messages parsed back as destination records (the dump reply has the same nesting).
    let (msgs, tp) = try timedQuiet { try NetlinkMessage.parseAll(enc.bytes[...]) }
    out("TIME parse \(msgs.count) \(ms(tp)) ms")
    let (_, td) = try timedQuiet { for m in msgs { _ = try IPVSReply.dest(m, serviceFamily: .ipv4) } }
    out("TIME decode-dest \(msgs.count) \(ms(td)) ms")
}

/// `bench-pipeline N`: N RTM_DELADDR requests for a missing link on a route socket, pipelined (each acked with ENODEV).
func cmdBenchPipeline(_ args: ArraySlice<String>) throws {
    let n = Int(args.first ?? "110000") ?? 110000
    let sock = try NetlinkSocket(protocol: 0, subsystem: .address)
    out("maxInFlight \(sock.maxInFlight)")
    for round in 1...2 {
        let base = sock.reserveSequences(n)
        var enc = NetlinkEncoder(reservingCapacity: n * 40)
        for i in 0..<n {
            AddressMessages.change(&enc, add: false, address: LinkAddress(host: IPAddress(v4: 0x0a00_0000 + UInt32(i))), index: 999_999, sequence: base &+ UInt32(i))
        }
        let (codes, t) = try timedQuiet { try sock.transact(enc, firstSequence: base, operation: "bench") }
        out("TIME pipeline round \(round) \(n) requests \(ms(t)) ms; errnos \(Set(codes).sorted())")
    }
}

let usage = """
kernel-probe COMMAND
  info                         IPVS family id, version, connection table size
  list                         IPVS state as `ipvsadm -Sn` lines (sorted)
  restore [FILE]               apply `ipvsadm -R` text (stdin) through IPVSBackend.apply, timed
  gen N M                      print N services x M real servers as `ipvsadm -R` text
  observe                      time a full IPVS observe, a service dump and one destination dump
  dests IP:PORT[/PROTO]        destinations of one service (targeted read)
  timeouts [TCP FIN UDP]       get (and set) IPVS timeouts
  link [ensure [up]|up|down|show]
  addr [list|add IP..|del IP..|bulk N]
  prereq load MOD..|loaded MOD..|sysctl NAME[=VALUE]..
  latency VIP:PORT RIP:PORT [N]  time N warm single-endpoint applies (add/delete alternately)
  bench-codec N | bench-pipeline N   host-side microbenchmarks (no IPVS needed for the second)
  capture [addr|conntrack]     print raw kernel replies (IPVS, the address or the conntrack dump) as FIXTURE lines
  sync -f FILE [--skip KIND] [--cluster-cidr C] [--iptables legacy|nft] [--rounds N] [--link-up]\n                               observe, plan, apply N times through NodeKernel
"""

let argv = CommandLine.arguments.dropFirst()
do {
    switch argv.first ?? "help" {
    case "info": try cmdInfo()
    case "list": try cmdList()
    case "restore": try cmdRestore(argv.dropFirst())
    case "gen": cmdGen(argv.dropFirst())
    case "observe": try cmdObserve()
    case "dests": try cmdDests(argv.dropFirst())
    case "timeouts": try cmdTimeouts(argv.dropFirst())
    case "link": try cmdLink(argv.dropFirst())
    case "addr": try cmdAddr(argv.dropFirst())
    case "prereq": try cmdPrereq(argv.dropFirst())
    case "capture": try cmdCapture(argv.dropFirst())
    case "sync": try cmdSync(argv.dropFirst())
    case "bench-codec": try cmdBenchCodec(argv.dropFirst())
    case "latency": try cmdLatency(argv.dropFirst())
    case "bench-pipeline": try cmdBenchPipeline(argv.dropFirst())
    default: out(usage)
    }
} catch {
    printErrors(error)
    exit(2)
}
