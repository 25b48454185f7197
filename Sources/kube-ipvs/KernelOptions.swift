import ArgumentParser
import Kernel
import KubeModel

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

    /// The node's kernel for `families`, touching only the sysctls named (read and written). A
    /// one-shot command waits up to `IPTablesBackend.commandLockWait` for the xtables lock.
    func nodeKernel(families: Set<IPFamily>, flavor: IPTablesFlavor, sysctlNames: [String]) throws -> NodeKernel {
        try NodeKernel(sets: try IPSetBackend(),
                       rules: IPTablesFamilies(families: families, flavor: flavor, lockWait: IPTablesBackend.commandLockWait),
                       sysctlNames: sysctlNames)
    }
}
