import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Kernel
import KernelPort
import KubeModel
import ProxyCore

/// Output formats of `sync --dry-run`.
enum PlanOutput: String, ExpressibleByArgument, CaseIterable {
    case shell, json
}

extension KubeIPVS {
    /// `kube-ipvs sync`: program the node once for the objects in manifests, and exit.
    struct Sync: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Program the node once for the Services and endpoints in manifests, then exit.",
            discussion: """
            Reads Service, Endpoints (core/v1), EndpointSlice (discovery.k8s.io v1 and v1beta1) and \
            Node objects from YAML or JSON files: multi-document files, `kind: List` and directories. \
            An invalid object is reported on standard error, naming its kind, namespace/name and \
            field, and skipped; the others still count. A file that is not valid YAML or JSON (or \
            whose aliases expand far beyond its size) is refused whole, naming the file, document \
            and line: nothing is applied and the exit status is 1.

            Without --dry-run it reads the node's IPVS services, KUBE-* ipsets, KUBE-* chains and \
            kube-ipvs0 addresses, plans the difference and applies it, then prints a summary \
            (operations per kind and elapsed time). Only state kube-ipvs owns is changed. Before \
            that it tunes the node as kube-proxy's start does (conntrack table size and timeouts, \
            conn_reuse_mode on 4.1-5.8 kernels), writing only values that differ.

            With --dry-run nothing is changed: the plan against an empty node is printed as a POSIX \
            shell script (or JSON with --output json); with --against-node as well, the plan is \
            made against this node's actual state, so only the commands it still needs are printed.

            The node's addresses (NodePort addresses, externalIPs already local) are read from the \
            kernel, read-only; with --dry-run alone, from this node's Node object in the manifests \
            (its InternalIP and ExternalIP addresses), if there is one.

            Without --dry-run it takes the node lock (/run/kube-ipvs.lock, or $KUBE_IPVS_LOCK_FILE) \
            first, waiting up to 5 s, so that it never runs beside `kube-ipvs run` or another sync.

            Exit status: 0 when every object was valid, \(partialFailureExitCode) when some were \
            skipped, 1 on other errors (unreadable file, bad configuration, the node lock held).
            """
        )

        @Option(name: [.customShort("f"), .customLong("filename")], help: "A manifest file or directory (repeatable).")
        var filenames: [String] = []

        @Flag(name: .customLong("dry-run"), help: "Print the plan instead of applying it.")
        var dryRun = false

        @Flag(name: .customLong("against-node"), help: "With --dry-run: plan against this node's kernel state instead of an empty node.")
        var againstNode = false

        @Option(name: .customLong("output"), help: "Dry-run output format: shell or json.")
        var output: PlanOutput = .shell

        @OptionGroup var kernelOptions: KernelOptions

        @Flag(name: .customLong("timings"), help: "Print how long each phase took on standard error: load (manifests), addresses, build, observe, plan, then apply or render.")
        var timings = false

        @OptionGroup var proxy: ProxyOptions

        func validate() throws {
            if filenames.isEmpty { throw ValidationError("Give at least one manifest with -f FILE|DIR.") }
            if againstNode && !dryRun { throw ValidationError("--against-node goes with --dry-run.") }
        }

        func run() throws {
            // Only a sync that writes takes the node lock; it is held until the process exits.
            let lock = dryRun ? nil : try NodeLocking.take(command: "sync", defaultTimeout: NodeLocking.commandTimeout)
            defer { withExtendedLifetime(lock) {} }
            // --timings: wall-clock time of each phase, printed on standard error at the end (or
            // when the apply fails); the benchmarks of docs/benchmarks.md read it.
            let clock = ContinuousClock()
            var phases: [(String, Duration)] = []
            var mark = clock.now
            func lap(_ name: String) { let t = clock.now; phases.append((name, t - mark)); mark = t }
            func printTimings() {
                guard timings else { return }
                let parts = phases.map { "\($0.0) \(FixedDecimal.format($0.1.milliseconds, digits: 1)) ms" }
                printError("timings: " + parts.joined(separator: ", "))
            }
            defer { printTimings() }
            let config = try proxy.load()
            let loaded = try loadManifests(filenames)
            for d in loaded.diagnostics { printError("error: \(d); skipped") }
            for w in loaded.warnings { printError("warning: \(w)") }
            lap("load")

            let nodeName = proxy.nodeName(config)
            let nodeInfo = loaded.snapshot.nodes.first { $0.name == nodeName }
            // The builder applies the same rule, so these are also the desired state's families.
            let families = ProxyFamilies.families(config: config, services: loaded.snapshot.services)
            let readsNode = !dryRun || againstNode

            // The node's addresses (NodePort addresses, externalIPs already local): read from the
            // kernel, read-only; for a plain --dry-run, the Node object's InternalIP and ExternalIP
            // addresses when a manifest holds this node's Node. (NodeInfo keeps them in status order;
            // kubelet writes InternalIPs first, which is the order `primary` needs.)
            let nodeIPs = nodeInfo?.addresses ?? []
            let selection: NodeAddressSelection
            do {
                selection = try NodeAddresses.select(from: readsNode ? try LinkAddressSource() : nil, nodeIPs: nodeIPs,
                                                     nodePortAddresses: config.nodePortAddresses, families: families)
            } catch {
                printError("error: reading the node's addresses: \(error)")
                throw ExitCode.failure
            }
            // A Service whose scheduler the kernel lacks is served with the configured one, as the
            // daemon does; a plain dry-run plans for an empty node and asks nothing.
            let missing = readsNode ? SchedulerCheck.unavailable(loaded.snapshot.services, config: config, load: !dryRun) : []
            let node = NodeContext(name: nodeName, node: nodeInfo, hostIPs: nodeIPs, addresses: selection, unavailableSchedulers: missing)
            SchedulerCheck.warnFallbacks(loaded.snapshot.services, config: config, node: node)
            lap("addresses")
            let desired = DesiredStateBuilder.build(snapshot: loaded.snapshot, config: config, node: node)
            lap("build")

            var kernel: NodeKernel? = nil
            var observed = ObservedState.emptyNode
            if readsNode {
                let flavor = kernelOptions.flavor()
                do {
                    kernel = try kernelOptions.nodeKernel(families: families, flavor: flavor, sysctlNames: desired.sysctls.map(\.name))
                    observed = try kernel!.observe(families: families)
                } catch {
                    printError("error: reading the node's state: \(error)")
                    throw ExitCode.failure
                }
            }
            lap("observe")
            let plan = Planner.plan(desired: desired, observed: observed)
            // kube-proxy's start-up tuning of the node (conntrack, conn_reuse_mode), decided from
            // the node's values when it is read; printed with the plan, or written before it.
            let (tuning, _) = try NodeTuningStep.plan(config: config, readsNode: readsNode)
            lap("plan")

            if !dryRun, let kernel {
                try NodeTuningStep.apply(config: config) { _, line in printError(line) }
                do {
                    let report = try kernel.apply(plan)
                    lap("apply")
                    print("applied \(ShellRenderer.summary(plan)) with \(report.requestsSent) kernel request(s) in \(FixedDecimal.format(report.elapsed.milliseconds, digits: 1)) ms")
                } catch {
                    // ApplyFailure's text says what was applied and which operations failed.
                    printError("error: \(error)")
                    throw ExitCode.failure
                }
                if !loaded.diagnostics.isEmpty { throw ExitCode(partialFailureExitCode) }
                return
            }

            defer { lap("render") }
            switch output {
            case .shell:
                let counts = desired.counts
                let title = [
                    againstNode ? "kube-ipvs sync --dry-run --against-node: the commands node \(nodeName) still needs"
                        : "kube-ipvs sync --dry-run: the commands that program an empty node \(nodeName)",
                    "\(loaded.snapshot.services.count) Service(s), \(counts.virtualServers) virtual server(s), \(counts.realServers) real server(s); \(loaded.diagnostics.count) object(s) skipped",
                ]
                print(ShellRenderer.render(NodeTuningStep.merged(plan, tuning), title: title), terminator: "")
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                let doc = PlanDocument(plan: NodeTuningStep.merged(plan, tuning), errors: loaded.diagnostics.map(\.description))
                print(String(decoding: try encoder.encode(doc), as: UTF8.self))
            }
            if !loaded.diagnostics.isEmpty { throw ExitCode(partialFailureExitCode) }
        }
    }
}

/// The manifests of `sync` and `status`. Text refused as a whole (a syntax error, an alias bomb,
/// too large) fails the command before the node is read or changed: a desired state missing the
/// refused text's Services would make sync delete their virtual servers.
func loadManifests(_ paths: [String]) throws -> ManifestLoader.Result {
    do { return try ManifestLoader().load(paths: paths) } catch ManifestError.refused(let refusals) {
        for r in refusals { printError("error: \(r)") }
        printError("error: the manifests were refused; nothing was done")
        throw ExitCode.failure
    } catch let e as ManifestError {
        throw ValidationError(e.description)
    }
}

func printError(_ line: String) {
    StandardStream.error(line + "\n")
}
