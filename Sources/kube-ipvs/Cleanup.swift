import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Kernel
import KubeModel
import ProxyCore

extension KubeIPVS {
    /// `kube-ipvs cleanup`: remove everything kube-ipvs owns on this node, and nothing else.
    struct Cleanup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove everything kube-ipvs owns on this node (virtual servers, KUBE-* chains and jumps, KUBE-* ipsets, kube-ipvs0), and nothing else.",
            discussion: """
            Reads the node's IPVS services, KUBE-* ipsets, iptables (both families) and kube-ipvs0, \
            then removes, in this order: the virtual servers kube-ipvs owns (address on kube-ipvs0; \
            address, protocol and port in a KUBE-* Service set; or a NodePort: TCP/UDP on a node \
            address with the port in KUBE-NODE-PORT-TCP/-UDP), with their real servers; the jump \
            rules kube-ipvs puts in the built-in chains; the chains it writes (nat KUBE-SERVICES, \
            KUBE-POSTROUTING, KUBE-NODE-PORT, KUBE-LOAD-BALANCER, KUBE-MARK-MASQ; filter \
            KUBE-FORWARD, KUBE-NODE-PORT, KUBE-PROXY-FIREWALL, KUBE-SOURCE-RANGES-FIREWALL, \
            KUBE-IPVS-FILTER, KUBE-IPVS-OUT-FILTER); the KUBE-* and KUBE-6-* sets of kube-ipvs; \
            and the kube-ipvs0 link with its addresses.

            Nothing else changes: hand-made IPVS services, other ipsets, other chains (kubelet's \
            KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-MARK-DROP among them) and their rules, and \
            addresses on other links stay as they are. A chain a foreign rule still jumps to, or a \
            set a foreign rule still matches, is kept and named. Virtual servers inside \
            ipvs.excludeCIDRs are never deleted.

            It does not need the API server. Running it again finds nothing and exits 0. With \
            --dry-run it prints the commands as a shell script (as `sync --dry-run`) and changes \
            nothing.

            Without --dry-run it takes the node lock (/run/kube-ipvs.lock, or $KUBE_IPVS_LOCK_FILE) \
            first, waiting up to 5 s: stop `kube-ipvs run` on the node before cleaning up.

            Exit status: 0 when everything owned was removed (or nothing was there), 1 when \
            reading the node or some removal failed (the message names the object; run it again \
            once the cause is fixed) or another kube-ipvs holds the node lock.
            """
        )

        @Flag(name: .customLong("dry-run"), help: "Print the commands instead of running them.")
        var dryRun = false

        @OptionGroup var kernelOptions: KernelOptions

        @Option(name: .customLong("config"), help: "A KubeProxyConfiguration YAML file; only ipvs.excludeCIDRs is used.")
        var configFile: String?

        @Option(name: .customLong("ipvs-exclude-cidrs"), help: "Comma-separated CIDRs whose virtual servers are never deleted (ipvs.excludeCIDRs; wins over --config).")
        var excludeCIDRs: String?

        /// ipvs.excludeCIDRs from --config (the whole file is checked), replaced by --ipvs-exclude-cidrs when given.
        func loadExcludeCIDRs() throws -> [CIDR] {
            let fromFile = try configFile.map(ProxyOptions.readConfigFile)?.excludeCIDRs ?? []
            guard let excludeCIDRs else { return fromFile }
            do { return try ProxyOptions.excludeCIDRs(excludeCIDRs) } catch let e as ConfigError {
                throw ValidationError(e.description)
            }
        }

        func run() throws {
            // Only a cleanup that writes takes the node lock; it is held until the process exits.
            let lock = dryRun ? nil : try NodeLocking.take(command: "cleanup", defaultTimeout: NodeLocking.commandTimeout)
            defer { withExtendedLifetime(lock) {} }
            let exclude = try loadExcludeCIDRs()
            let families: Set<IPFamily> = [.ipv4, .ipv6]
            let flavor = kernelOptions.flavor()
            let kernel: NodeKernel
            let observed: ObservedState
            let nodeAddresses: Set<IPAddress>
            do {
                kernel = try kernelOptions.nodeKernel(families: families, flavor: flavor, sysctlNames: [])
                observed = try kernel.observe(families: families)
                nodeAddresses = try NodeAddresses.select(from: kernel, nodeIPs: [], nodePortAddresses: [], families: families).localAddresses
            } catch {
                printError("error: reading the node's state: \(error)")
                throw ExitCode.failure
            }

            let cleanup = ProxyCore.Cleanup.plan(observed: observed, nodeAddresses: nodeAddresses, excludeCIDRs: exclude)
            if dryRun {
                var title = ["kube-ipvs cleanup --dry-run: the commands that remove what kube-ipvs owns on this node (iptables \(flavor))",
                             "removes \(cleanup.summary)"]
                title += cleanup.kept.map { "kept: \($0)" }
                print(ShellRenderer.render(cleanup.plan, title: title, staleHeading: "Virtual servers kube-ipvs owns (their real servers go with them)",
                                          nothingToDo: "Nothing to clean up: kube-ipvs owns nothing on this node."),
                      terminator: "")
                return
            }
            for k in cleanup.kept { print("kept: \(k)") }
            if cleanup.plan.isEmpty {
                print("nothing to clean up: no virtual server, jump rule, chain, ipset or link of kube-ipvs on this node")
                return
            }
            do {
                let report = try kernel.apply(cleanup.plan)
                print("removed \(cleanup.summary) with \(report.requestsSent) kernel request(s) in \(FixedDecimal.format(report.elapsed.milliseconds, digits: 1)) ms")
            } catch {
                printError("error: \(error)")
                throw ExitCode.failure
            }
        }
    }
}
