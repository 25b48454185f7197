import CNetlink
import KubeModel
import ProxyCore
import KernelPort
#if canImport(Glibc)
import Glibc
#endif

// MARK: - IPVS over generic netlink
//
// Reads: one GET_SERVICE dump for all services of both families, one GET_DEST dump per service
// (the kernel has no dump of every destination, and a socket runs one dump at a time), GET_CONFIG.
// Writes: every operation of a batch is encoded into one buffer and sent pipelined (see
// NetlinkSocket.transact); each request gets its own ack, matched by sequence number. Idempotence:
// an add that finds the object (EEXIST) is retried as an edit, an edit that finds nothing
// (ESRCH for services, ENOENT for destinations) is retried as an add, and a delete of something
// already gone (ESRCH/ENOENT) counts as done. Retries go out as a second pipelined batch after the
// first, in the original order.

/// The IPVS table of the node, read and written over the "IPVS" generic netlink family.
public final class IPVSBackend {
    /// The generic netlink socket (exposed for fixture capture through `replyTap`).
    public let socket: NetlinkSocket
    /// The numeric id the kernel gave the "IPVS" family (the nlmsg_type of every request).
    public let familyID: UInt16
    /// Services seen by the last `dumpServices()` that kube-ipvs cannot represent (fwmark, other protocols).
    public private(set) var skippedServices: [String] = []

    /// Opens a generic netlink socket and resolves the IPVS family. Fails when ip_vs is not loaded.
    public init() throws {
        let sock = try NetlinkSocket(protocol: NETLINK_GENERIC, subsystem: .ipvs)
        let id = genl_ctrl_resolve(sock.handle, IPVSGenl.familyName)
        guard id > 0 else {
            throw KernelError(subsystem: .ipvs, operation: "resolve generic netlink family", object: IPVSGenl.familyName,
                              errno: ENOENT, message: "IPVS is not available (is the ip_vs module loaded?); \(NetlinkSocket.libnlMessage(id))")
        }
        socket = sock
        familyID = UInt16(id)
    }

    // MARK: - Reads

    /// Every virtual server of both families that kube-ipvs can represent (fwmark services are skipped).
    public func dumpServices() throws -> [VirtualServerKey: VirtualServer] {
        let messages = try dumpRetryingIfInterrupted(command: .getService, object: "all services") { _ in }
        var out: [VirtualServerKey: VirtualServer] = [:]
        out.reserveCapacity(messages.count)
        var skipped: [String] = []
        for msg in messages {
            switch try decode(msg, .getService, "all services", IPVSReply.service) {
            case .server(let s): out[s.key] = s
            case .unrepresentable(let what): skipped.append(what)
            }
        }
        skippedServices = skipped
        return out
    }

    /// One virtual server (a GET_SERVICE request, not a dump); nil when it does not exist (ESRCH).
    public func getService(_ key: VirtualServerKey) throws -> VirtualServer? {
        let seq = socket.reserveSequences(1)
        var enc = NetlinkEncoder()
        IPVSRequest.message(&enc, family: familyID, command: .getService, flags: NL.NLM_F_REQUEST, sequence: seq) {
            IPVSRequest.service(&$0, key: key)
        }
        let reply: NetlinkMessage
        do {
            reply = try socket.request(enc, sequence: seq, operation: IPVSGenl.Command.getService.name, object: key.description)
        } catch let e as KernelError where e.errno == ESRCH {
            return nil
        }
        guard case .server(let s) = try decode(reply, .getService, key.description, IPVSReply.service) else { return nil }
        return s
    }

    /// The destinations of one virtual server and their connection counters.
    /// The kernel answers a dump for a missing service with no destinations (not ESRCH); use
    /// `getService` to tell the two apart.
    public func dumpDestinations(of key: VirtualServerKey) throws -> (RealServerTable<RealServer>, RealServerTable<RealServerStatsEntry>) {
        let messages = try dumpRetryingIfInterrupted(command: .getDest, object: key.description) {
            IPVSRequest.service(&$0, key: key)
        }
        var servers = RealServerTable<RealServer>()
        var stats = RealServerTable<RealServerStatsEntry>()
        for msg in messages {
            let (r, s) = try decode(msg, .getDest, key.description) { try IPVSReply.dest($0, serviceFamily: key.address.family) }
            servers[r.key] = r
            stats[r.key] = s
        }
        return (servers, stats)
    }

    /// Every representable virtual server with its destinations, by family.
    ///
    /// Costs one dump plus one dump per service; the reconciler uses it for full syncs, and
    /// `dumpDestinations(of:)` for targeted checks (graceful termination) between them.
    public func observe(families: Set<IPFamily> = Set(IPFamily.allCases)) throws -> [IPFamily: [VirtualServerKey: ObservedVirtualServer]] {
        var out: [IPFamily: [VirtualServerKey: ObservedVirtualServer]] = [:]
        for f in families { out[f] = [:] }
        for (key, server) in try dumpServices() where families.contains(key.address.family) {
            let (real, stats) = try dumpDestinations(of: key)
            out[key.address.family, default: [:]][key] = ObservedVirtualServer(server: server, realServers: real, stats: stats)
        }
        return out
    }

    /// The current tcp, tcpfin and udp timeouts (`ipvsadm -L --timeout`).
    public func getTimeouts() throws -> IPVSTimeouts {
        let seq = socket.reserveSequences(1)
        var enc = NetlinkEncoder()
        IPVSRequest.message(&enc, family: familyID, command: .getConfig, flags: NL.NLM_F_REQUEST, sequence: seq) { _ in }
        let reply = try socket.request(enc, sequence: seq, operation: IPVSGenl.Command.getConfig.name)
        return try decode(reply, .getConfig, "", IPVSReply.timeouts)
    }

    /// IPVS version (e.g. 0x010201 for 1.2.1) and connection hash table size.
    public func info() throws -> (version: UInt32, connectionTableSize: UInt32) {
        let seq = socket.reserveSequences(1)
        var enc = NetlinkEncoder()
        IPVSRequest.message(&enc, family: familyID, command: .getInfo, flags: NL.NLM_F_REQUEST, sequence: seq) { _ in }
        let reply = try socket.request(enc, sequence: seq, operation: IPVSGenl.Command.getInfo.name)
        return try decode(reply, .getInfo, "", IPVSReply.info)
    }

    private func dumpRetryingIfInterrupted(command: IPVSGenl.Command, object: String,
                                           body: (inout NetlinkEncoder) -> Void) throws -> [NetlinkMessage] {
        var attempt = 0
        while true {
            let seq = socket.reserveSequences(1)
            var enc = NetlinkEncoder()
            IPVSRequest.message(&enc, family: familyID, command: command, flags: NL.NLM_F_REQUEST | NL.NLM_F_DUMP, sequence: seq, body: body)
            let (messages, interrupted) = try socket.dump(enc, sequence: seq, operation: command.name, object: object)
            attempt += 1
            if !interrupted || attempt >= 3 { return messages }
        }
    }

    private func decode<T>(_ msg: NetlinkMessage, _ cmd: IPVSGenl.Command, _ object: String, _ f: (NetlinkMessage) throws -> T) throws -> T {
        do {
            return try f(msg)
        } catch let e as NetlinkDecodeError {
            throw KernelError(subsystem: .ipvs, operation: cmd.name, object: object, errno: EPROTO, message: e.description)
        }
    }

    // MARK: - Writes

    /// Applies the IPVS operations of `ops` (others are ignored) as pipelined requests, in order.
    ///
    /// Every request is attempted; when some fail for reasons other than the idempotence cases, a
    /// `KernelBatchError` listing them (with the counts of what succeeded) is thrown at the end.
    /// `ops` is walked in place, a chunk at a time: a cold sync's 100k+ operations are neither
    /// filtered nor paired into copies, and each chunk's answers are judged before the next.
    public func apply(_ ops: some RandomAccessCollection<Operation>) throws -> ApplyResult {
        var result = ApplyResult()
        var retries: [(Operation, Bool)] = []
        var errors: [KernelError] = []
        var chunk: [Operation] = []
        chunk.reserveCapacity(Self.chunk)
        func flush() throws {
            guard !chunk.isEmpty else { return }
            let answers = try send(chunk.lazy.map { ($0, nil) })
            result.requestsSent += chunk.count
            for (i, op) in chunk.enumerated() {
                let (cmd, code, text) = answers[i]
                switch (code, op) {
                case (0, _):
                    result.applied += 1
                case (EEXIST, .addVirtualServer), (EEXIST, .addRealServer):
                    retries.append((op, false))
                case (ESRCH, .updateVirtualServer), (ENOENT, .updateRealServer):
                    retries.append((op, true))
                case (ESRCH, .deleteVirtualServer), (ESRCH, .deleteRealServer), (ENOENT, .deleteRealServer):
                    result.alreadyAbsent += 1
                default:
                    errors.append(KernelError(subsystem: .ipvs, operation: cmd.name, object: IPVSRequest.objectDescription(op), errno: code, message: text))
                }
            }
            chunk.removeAll(keepingCapacity: true)
        }
        // First pass: everything as planned.
        for op in ops where op.kind == .ipvs {
            chunk.append(op)
            if chunk.count == Self.chunk { try flush() }
        }
        try flush()

        // Second pass, after the whole first (the order matters: a retried add must not overtake
        // a later delete of the same object): adds that existed become edits, edits of missing
        // objects become adds.
        if !retries.isEmpty {
            let second = try send(retries.lazy.map { ($0.0, Optional($0.1)) })
            result.requestsSent += retries.count
            for (i, (op, asAdd)) in retries.enumerated() {
                let (cmd, code, text) = second[i]
                if code == 0 {
                    result.applied += 1
                    if asAdd { result.convertedToAdd += 1 } else { result.convertedToUpdate += 1 }
                } else {
                    errors.append(KernelError(subsystem: .ipvs, operation: cmd.name, object: IPVSRequest.objectDescription(op), errno: code, message: text))
                }
            }
        }
        if !errors.isEmpty { throw KernelBatchError(errors: errors, partial: result) }
        return result
    }

    /// Requests encoded into one buffer at a time. The socket pipelines them in windows of at most
    /// 1024 anyway; encoding a whole cold sync at once would hold one buffer of every request
    /// through the apply (docs/benchmarks.md, part (d)).
    static let chunk = 4096

    /// Encodes and sends `ops` pipelined, in order, a chunk at a time; returns per operation the
    /// command used, its errno and ext-ack text.
    private func send(_ ops: some RandomAccessCollection<(Operation, Bool?)>) throws -> [(IPVSGenl.Command, Int32, String)] {
        var out: [(IPVSGenl.Command, Int32, String)] = []
        out.reserveCapacity(ops.count)
        var from = ops.startIndex
        while from < ops.endIndex {
            let to = ops.index(from, offsetBy: Self.chunk, limitedBy: ops.endIndex) ?? ops.endIndex
            let n = ops.distance(from: from, to: to)
            let base = socket.reserveSequences(n)
            var enc = NetlinkEncoder(reservingCapacity: n * 160)
            var cmds: [IPVSGenl.Command] = []
            cmds.reserveCapacity(n)
            for (k, (op, add)) in ops[from..<to].enumerated() {
                guard let cmd = IPVSRequest.encode(op, add: add, into: &enc, family: familyID, sequence: base &+ UInt32(k)) else {
                    preconditionFailure("not an IPVS operation: \(op)")
                }
                cmds.append(cmd)
            }
            let codes = try socket.transact(enc, firstSequence: base, operation: "IPVS batch")
            let texts = socket.lastExtendedAcks
            for k in 0..<n { out.append((cmds[k], codes[k], texts[k] ?? "")) }
            from = to
        }
        return out
    }
}
