import Kernel
import KernelPort
import KubeModel
import ProxyCore

/// The node's addresses, read and selected the same way by every command.
enum NodeAddresses {
    /// Reads every address of the node's links from `source` (read-only) or, without a source,
    /// takes `nodeIPs` (the Node object's InternalIP and ExternalIP addresses, in status order)
    /// as the node's addresses; then selects the NodePort and local addresses of `families`.
    static func select(from source: NodeAddressSource?, nodeIPs: [IPAddress], nodePortAddresses: [String],
                       families: Set<IPFamily>) throws -> NodeAddressSelection {
        var addresses = nodeIPs.map { InterfaceAddress(interface: "", address: $0, prefixLength: $0.family.hostPrefix) }
        var ipvsInterface = dummyLinkName
        if let source {
            addresses = try source.interfaceAddresses() ?? []
            ipvsInterface = source.ipvsInterfaceName
        }
        return NodeAddressSelection.select(addresses: addresses, ipvsInterface: ipvsInterface,
                                           nodePortAddresses: nodePortAddresses, nodeIPs: nodeIPs, families: families)
    }
}
