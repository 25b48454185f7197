import ArgumentParser
import Daemon
import NIOConcurrencyHelpers
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// kube-ipvs: a Kubernetes Service proxy for IPVS (kube-proxy's IPVS mode, as a daemon of its own).
@main
struct KubeIPVS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kube-ipvs",
        abstract: "A Kubernetes Service proxy that programs IPVS, ipsets and a fixed set of iptables chains.",
        discussion: """
        kube-ipvs does the job of kube-proxy in IPVS mode. `run` is the per-node daemon: it watches \
        the API server and keeps the node in step. `sync` programs this node once for the \
        Services and endpoints in manifests, changing only the difference from what the kernel \
        holds; `sync --dry-run` prints, as a shell script, exactly what it would do. `status` shows \
        the node's virtual servers, the Service each serves and the drift; `cleanup` removes \
        everything kube-ipvs owns on the node, and nothing else.
        """,
        version: "0.1.0",
        subcommands: [Run.self, Sync.self, Status.self, Cleanup.self, KubeProxyFlagTable.self]
    )

    /// Parses the command line after rewriting kube-proxy's syntax (`KubeProxyArgv`), so that
    /// kube-ipvs runs with a kube-proxy DaemonSet's command and arguments unchanged.
    static func main() async {
        // First, on the main thread before any other starts: a thread that allocated before it
        // would keep an arena of its own (MallocTuning).
        MallocTuning.configure()
        let argv: KubeProxyArgv
        do { argv = try KubeProxyArgv.rewrite(CommandLine.arguments) } catch {
            exit(withError: ValidationError(error.description))
        }
        KubeProxyArgv.pending.set(argv.warnings)
        do {
            var command = try parseAsRoot(argv.arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Exit status when some input objects were invalid and skipped (the rest was handled).
let partialFailureExitCode: Int32 = 3

extension KubeProxyArgv {
    /// The warnings of the ignored kube-proxy flags, for `run` to log once logging is set up.
    static let pending = WarningBox()

    /// Holds the warnings between the rewrite in `main` and `run`.
    final class WarningBox: @unchecked Sendable {
        private let lock = NIOLock()
        private var lines: [String] = []
        func set(_ l: [String]) { lock.lock(); lines = l; lock.unlock() }
        /// The lines, once: a second call returns none.
        func take() -> [String] { lock.lock(); defer { lines = []; lock.unlock() }; return lines }
    }
}
