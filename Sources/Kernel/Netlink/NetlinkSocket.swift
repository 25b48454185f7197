import CNetlink
import KernelPort
#if canImport(Glibc)
import Glibc
#endif

// MARK: - One netlink socket: libnl opens it, raw syscalls move the bytes
//
// libnl allocates, binds and (for generic netlink) resolves families. Requests are then written as
// whole batches with send(2) and acks read with recvmmsg(2): the kernel handles every message of a
// datagram synchronously inside sendmsg (netlink_unicast_kernel -> netlink_rcv_skb), so after one
// send the acks of all its messages are already queued. A batch of N requests thus costs about
// N/400 sends and N/256 receives instead of N round trips (ipvsadm and libipvs wait for each ack).
//
// Every raw syscall on the socket lives in this file.

/// A netlink socket owned by one backend. Not thread-safe: one caller at a time.
public final class NetlinkSocket {
    /// The libnl socket (struct nl_sock *).
    let handle: OpaquePointer
    /// Its file descriptor, used for the raw batched I/O.
    public let fd: Int32
    /// Subsystem named in errors.
    let subsystem: KernelSubsystem
    /// Next sequence number to hand out.
    private var nextSequence: UInt32
    /// Most requests in flight per send: their acks must fit the receive buffer (ENOBUFS otherwise).
    public private(set) var maxInFlight: Int = 128
    /// Largest datagram sent; well under the send buffer.
    public var maxDatagram: Int = 64 * 1024

    /// Receive area for recvmmsg: `slots` buffers of `slotSize` bytes.
    private let slots = 256
    private let slotSize = 8 * 1024
    private var recvArea: UnsafeMutableRawPointer
    /// Buffer for dump replies (one datagram; the kernel caps dump datagrams at 32 KiB).
    private var dumpBuffer: [UInt8] = Array(repeating: 0, count: 128 * 1024)

    /// Opens and binds a netlink socket of `netlinkProtocol` (NETLINK_GENERIC, NETLINK_ROUTE).
    public init(protocol netlinkProtocol: Int32, subsystem: KernelSubsystem) throws {
        guard let sk = nl_socket_alloc() else {
            throw KernelError(subsystem: subsystem, operation: "nl_socket_alloc", errno: ENOMEM)
        }
        let rc = nl_connect(sk, netlinkProtocol)
        if rc < 0 {
            nl_socket_free(sk)
            throw KernelError(subsystem: subsystem, operation: "nl_connect", object: "netlink protocol \(netlinkProtocol)",
                              message: NetlinkSocket.libnlMessage(rc))
        }
        handle = sk
        fd = nl_socket_get_fd(sk)
        self.subsystem = subsystem
        nextSequence = UInt32(truncatingIfNeeded: time(nil)) &* 2654435761
        recvArea = UnsafeMutableRawPointer.allocate(byteCount: slots * slotSize, alignment: 16)

        // Short acks (no copy of the request) and kernel error strings; both are best effort.
        setOption(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        setOption(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        // Room for the acks of a whole send. Root may exceed rmem_max with the FORCE variants.
        let want: Int32 = 8 << 20
        if !setOption(SOL_SOCKET, SO_RCVBUFFORCE, want) { setOption(SOL_SOCKET, SO_RCVBUF, want) }
        if !setOption(SOL_SOCKET, SO_SNDBUFFORCE, 1 << 20) { setOption(SOL_SOCKET, SO_SNDBUF, 1 << 20) }
        // An ack's skb costs about 1 KiB of receive buffer (truesize); keep a wide margin.
        let rcvbuf = Int(getOption(SOL_SOCKET, SO_RCVBUF) ?? 212_992)
        maxInFlight = max(16, min(1024, rcvbuf / 2048))
        receiveTimeout = NetlinkSocket.defaultReceiveTimeout
    }

    /// How long one receive may wait: the kernel answers a request while handling the send, so a
    /// reply that has not come by then never will, and the loop must get an error it can retry.
    public static let defaultReceiveTimeout: Duration = .seconds(10)

    /// The wait of each receive (SO_RCVTIMEO); a receive that times out throws ETIMEDOUT.
    public var receiveTimeout: Duration = .zero {
        didSet {
            let c = receiveTimeout.components
            var tv = timeval(tv_sec: Int(c.seconds), tv_usec: Int(c.attoseconds / 1_000_000_000_000))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    /// The error of a failed receive: a timeout says so, anything else carries its errno.
    private func receiveError(_ e: Int32, operation: String, call: String, message: String = "") -> KernelError {
        if e == EAGAIN || e == EWOULDBLOCK {
            return KernelError(subsystem: subsystem, operation: operation, object: call, errno: ETIMEDOUT,
                               message: "no reply from the kernel within \(receiveTimeout); state is unknown, re-observe")
        }
        return KernelError(subsystem: subsystem, operation: operation, object: call, errno: e, message: message)
    }

    deinit {
        nl_socket_free(handle)
        recvArea.deallocate()
    }

    /// Turns NETLINK_GET_STRICT_CHK (linux/netlink.h: 12, kernel 4.20+) on or off: with it, dump
    /// requests are checked strictly and may filter (an RTM_GETADDR dump of one link). False when
    /// the kernel does not know the option.
    @discardableResult
    public func setStrictCheck(_ on: Bool) -> Bool { setOption(SOL_NETLINK, 12, on ? 1 : 0) }

    /// The text of a libnl error code (negative NLE_*).
    static func libnlMessage(_ code: Int32) -> String {
        guard let p = nl_geterror(code) else { return "libnl error \(code)" }
        return "libnl: " + String(cString: p)
    }

    @discardableResult
    private func setOption(_ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var v = value
        return setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    private func getOption(_ level: Int32, _ name: Int32) -> Int32? {
        var v: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, level, name, &v, &len) == 0 ? v : nil
    }

    /// Reserves `count` consecutive sequence numbers; returns the first.
    public func reserveSequences(_ count: Int) -> UInt32 {
        let base = nextSequence
        nextSequence = nextSequence &+ UInt32(count)
        if nextSequence == 0 { nextSequence = 1 }
        return base
    }

    // MARK: - Raw I/O

    private func sendAll(_ bytes: ArraySlice<UInt8>, operation: String) throws {
        let n = bytes.withUnsafeBytes { buf -> Int in
            while true {
                let r = send(fd, buf.baseAddress, buf.count, 0)
                if r < 0 && errno == EINTR { continue }
                return r
            }
        }
        if n < 0 {
            throw KernelError(subsystem: subsystem, operation: operation, object: "send", errno: errno)
        }
        if n != bytes.count {
            throw KernelError(subsystem: subsystem, operation: operation, object: "send",
                              message: "short send: \(n) of \(bytes.count) bytes")
        }
    }

    /// Receives up to `slots` datagrams, blocking for the first; returns each datagram's bytes.
    private func receiveMany(operation: String) throws -> [ArraySlice<UInt8>] {
        var iovs = [iovec](repeating: iovec(), count: slots)
        var hdrs = [kipvs_mmsghdr](repeating: kipvs_mmsghdr(), count: slots)
        for i in 0..<slots {
            iovs[i] = iovec(iov_base: recvArea + i * slotSize, iov_len: slotSize)
        }
        let got: Int32 = iovs.withUnsafeMutableBufferPointer { iv in
            for i in 0..<slots {
                hdrs[i].msg_hdr.msg_iov = iv.baseAddress! + i
                hdrs[i].msg_hdr.msg_iovlen = 1
            }
            while true {
                let r = kipvs_recvmmsg(fd, &hdrs, UInt32(slots), kipvs_MSG_WAITFORONE)
                if r < 0 && errno == EINTR { continue }
                return r
            }
        }
        if got < 0 {
            let e = errno
            throw receiveError(e, operation: operation, call: "recvmmsg",
                               message: e == ENOBUFS ? "acks were dropped (receive buffer overrun); state is unknown, re-observe" : "")
        }
        var out: [ArraySlice<UInt8>] = []
        out.reserveCapacity(Int(got))
        for i in 0..<Int(got) {
            if hdrs[i].msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0 {
                throw KernelError(subsystem: subsystem, operation: operation, object: "recvmmsg",
                                  message: "reply truncated at \(slotSize) bytes")
            }
            let len = Int(hdrs[i].msg_len)
            let p = (recvArea + i * slotSize).assumingMemoryBound(to: UInt8.self)
            out.append(ArraySlice(UnsafeBufferPointer(start: p, count: len)))
        }
        return out
    }

    /// Receives one datagram for dumps and single replies.
    private func receiveOne(operation: String) throws -> ArraySlice<UInt8> {
        let n = dumpBuffer.withUnsafeMutableBytes { buf -> Int in
            while true {
                let r = recv(fd, buf.baseAddress, buf.count, Int32(MSG_TRUNC))
                if r < 0 && errno == EINTR { continue }
                return r
            }
        }
        if n < 0 { throw receiveError(errno, operation: operation, call: "recv") }
        if n > dumpBuffer.count {
            throw KernelError(subsystem: subsystem, operation: operation, object: "recv",
                              message: "reply of \(n) bytes truncated at \(dumpBuffer.count)")
        }
        return dumpBuffer[0..<n]
    }

    // MARK: - Pipelined requests

    /// Sends every message of `batch` (each must carry NLM_F_ACK and sequence `firstSequence + i`) and
    /// returns the errno of each (0 = success), in message order.
    ///
    /// Messages go out in datagrams of at most `maxDatagram` bytes and `maxInFlight` messages; the acks
    /// of one datagram are drained before the next is sent, so the receive buffer cannot overrun.
    /// The kernel processes messages strictly in order, so a later request may depend on an earlier one.
    public func transact(_ batch: NetlinkEncoder, firstSequence: UInt32, operation: String) throws -> [Int32] {
        let n = batch.messageCount
        var results = [Int32](repeating: -1, count: n)
        var messageTexts = [Int: String]()
        var i = 0
        while i < n {
            let start = batch.messageStarts[i]
            var j = i + 1
            while j < n && j - i < maxInFlight && batch.messageStarts[j] - start < maxDatagram { j += 1 }
            let end = j < n ? batch.messageStarts[j] : batch.bytes.count
            try sendAll(batch.bytes[start..<end], operation: operation)
            var outstanding = j - i
            while outstanding > 0 {
                for datagram in try receiveMany(operation: operation) {
                    for msg in try NetlinkMessage.parseAll(datagram) where msg.header.type == NL.NLMSG_ERROR {
                        let idx = Int(msg.header.sequence &- firstSequence)
                        guard idx >= i && idx < j && results[idx] == -1 else { continue }
                        let (code, text) = try msg.errorReply()
                        if code != 0, let tap = replyTap { tap(operation + " error ack", Array(datagram)) }
                        results[idx] = code
                        if !text.isEmpty { messageTexts[idx] = text }
                        outstanding -= 1
                    }
                }
            }
            i = j
        }
        lastExtendedAcks = messageTexts
        return results
    }

    /// Called with every datagram a dump or single request receives (debug and fixture capture).
    public var replyTap: ((_ operation: String, _ datagram: [UInt8]) -> Void)?

    /// Extended-ack texts of the last `transact`, by message index.
    public private(set) var lastExtendedAcks: [Int: String] = [:]

    /// Runs one dump request (NLM_F_DUMP, sequence `sequence`) and returns every reply message.
    /// Throws the kernel's errno on NLMSG_ERROR; `interrupted` is set when the kernel flagged
    /// NLM_F_DUMP_INTR (the table changed during the dump; the caller may retry).
    public func dump(_ request: NetlinkEncoder, sequence: UInt32, operation: String, object: String = "") throws
        -> (messages: [NetlinkMessage], interrupted: Bool)
    {
        var out: [NetlinkMessage] = []
        let interrupted = try dump(request, sequence: sequence, operation: operation, object: object) { out.append($0) }
        return (out, interrupted)
    }

    /// Runs one dump request and hands each reply message to `each` as it arrives, so that a large
    /// table (conntrack) is never held whole; returns whether the kernel flagged NLM_F_DUMP_INTR.
    /// A message's payload stays valid after `each` returns (each datagram is copied once).
    @discardableResult
    public func dump(_ request: NetlinkEncoder, sequence: UInt32, operation: String, object: String = "",
                     each: (NetlinkMessage) throws -> Void) throws -> Bool
    {
        try sendAll(request.bytes[...], operation: operation)
        var interrupted = false
        while true {
            // Copy: dumpBuffer is reused by the next receive.
            let datagram = Array(try receiveOne(operation: operation))
            replyTap?(operation, datagram)
            for msg in try NetlinkMessage.parseAll(datagram[...]) {
                guard msg.header.sequence == sequence else { continue }
                if msg.header.flags & NL.NLM_F_DUMP_INTR != 0 { interrupted = true }
                switch msg.header.type {
                case NL.NLMSG_DONE:
                    if msg.payload.count >= 4 {
                        let code = msg.payload.readHost(Int32.self, at: msg.payload.startIndex)
                        if code < 0 { throw KernelError(subsystem: subsystem, operation: operation, object: object, errno: -code) }
                    }
                    return interrupted
                case NL.NLMSG_ERROR:
                    let (code, text) = try msg.errorReply()
                    if code != 0 { throw KernelError(subsystem: subsystem, operation: operation, object: object, errno: code, message: text) }
                case NL.NLMSG_NOOP:
                    continue
                case NL.NLMSG_OVERRUN:
                    throw KernelError(subsystem: subsystem, operation: operation, object: object, message: "NLMSG_OVERRUN")
                default:
                    try each(msg)
                }
            }
        }
    }

    /// Sends one request (without NLM_F_ACK) and returns its single reply message.
    public func request(_ request: NetlinkEncoder, sequence: UInt32, operation: String, object: String = "") throws -> NetlinkMessage {
        try sendAll(request.bytes[...], operation: operation)
        while true {
            let datagram = Array(try receiveOne(operation: operation))
            replyTap?(operation, datagram)
            for msg in try NetlinkMessage.parseAll(datagram[...]) where msg.header.sequence == sequence {
                if msg.header.type == NL.NLMSG_ERROR {
                    let (code, text) = try msg.errorReply()
                    if code != 0 { throw KernelError(subsystem: subsystem, operation: operation, object: object, errno: code, message: text) }
                    continue
                }
                return msg
            }
        }
    }
}
