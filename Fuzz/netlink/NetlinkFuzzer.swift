import Kernel

// libFuzzer target: bytes as a netlink datagram from the kernel, split into messages and each
// decoded as every reply kube-ipvs reads (errors and acks, IPVS services, destinations, timeouts
// and info, links, addresses, conntrack entries). A decoder may refuse a message with an error;
// it must never trap or read out of bounds, whatever the kernel (or a corrupted buffer) sends.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNetlink(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let messages = try? NetlinkMessage.parseAll(bytes[...]) else { return 0 }
    for msg in messages {
        _ = try? msg.errorReply()
        _ = try? IPVSReply.service(msg)
        _ = try? IPVSReply.dest(msg, serviceFamily: .ipv4)
        _ = try? IPVSReply.dest(msg, serviceFamily: .ipv6)
        _ = try? IPVSReply.timeouts(msg)
        _ = try? IPVSReply.info(msg)
        _ = try? LinkMessages.decode(msg)
        _ = try? AddressMessages.decode(msg)
        _ = try? ConntrackMessages.decode(msg)
    }
    return 0
}
