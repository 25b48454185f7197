import ArgumentParser
import Kernel
import KernelPort
import KubeModel
import ProxyCore

/// The values of `--iptables-backend`. Not CaseIterable: ArgumentParser would then append
/// "(values: ...)" to a help text that names them already.
enum IPTablesBackendChoice: String, ExpressibleByArgument {
    /// Detect the node's flavour (`IPTablesFlavor.detect()`).
    case auto
    /// x_tables through libiptc.
    case legacy
    /// nf_tables through iptables-nft-restore.
    case nft
}

/// The kernel options `run`, `sync`, `status` and `cleanup` share, and the node kernel they make.
struct KernelOptions: ParsableArguments {
    @Option(name: .customLong("iptables-backend"), help: "iptables flavour: auto (the one holding more rules, as kube-proxy's wrapper), legacy or nft.")
    var iptablesBackend: IPTablesBackendChoice = .auto

    /// The flavour to write through: the flag's, or the node's as detected.
    func flavor() -> IPTablesFlavor {
        switch iptablesBackend {
        case .auto: return IPTablesFlavor.detect()
        case .legacy: return .legacy
        case .nft: return .nft
        }
    }

    /// The node's kernel for `families`, touching only the sysctls named (read and written).
    func nodeKernel(families: Set<IPFamily>, flavor: IPTablesFlavor, sysctlNames: [String]) throws -> NodeKernel {
        try NodeKernel(sets: try IPSetBackend(), rules: IPTablesFamilies(families: families, flavor: flavor), sysctlNames: sysctlNames)
    }
}

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
