import ArgumentParser
import Foundation
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
            field, and skipped; the others still count.

            With --dry-run nothing is changed: the plan against an empty node is printed as a POSIX \
            shell script (or JSON with --output json).

            Exit status: 0 when every object was valid, \(partialFailureExitCode) when some were \
            skipped, 1 on other errors (unreadable file, bad configuration).
            """
        )

        @Option(name: [.customShort("f"), .customLong("filename")], help: "A manifest file or directory (repeatable).")
        var filenames: [String] = []

        @Flag(name: .customLong("dry-run"), help: "Print the plan instead of applying it.")
        var dryRun = false

        @Option(name: .customLong("output"), help: "Dry-run output format: shell or json.")
        var output: PlanOutput = .shell

        @OptionGroup var proxy: ProxyOptions

        func validate() throws {
            if filenames.isEmpty { throw ValidationError("Give at least one manifest with -f FILE|DIR.") }
            if !dryRun {
                throw ValidationError("Applying to the kernel needs the kernel backends, which this build does not have yet; use --dry-run.")
            }
        }

        func run() throws {
            let config = try proxy.load()
            let loaded: ManifestLoader.Result
            do { loaded = try ManifestLoader().load(paths: filenames) } catch let e as ManifestError {
                throw ValidationError(e.description)
            }
            for d in loaded.diagnostics { printError("error: \(d); skipped") }

            let nodeName = proxy.nodeName(config)
            let nodeInfo = loaded.snapshot.nodes.first { $0.name == nodeName }
            let node = NodeContext(name: nodeName, zone: nodeInfo?.zone, podCIDRs: nodeInfo?.podCIDRs ?? [])
            let desired = DesiredStateBuilder.build(snapshot: loaded.snapshot, config: config, node: node)
            let plan = Planner.plan(desired: desired, observed: .emptyNode)

            switch output {
            case .shell:
                let counts = desired.counts
                let title = [
                    "kube-ipvs sync --dry-run: the commands that program an empty node \(nodeName)",
                    "\(loaded.snapshot.services.count) Service(s), \(counts.virtualServers) virtual server(s), \(counts.realServers) real server(s); \(loaded.diagnostics.count) object(s) skipped",
                ]
                print(ShellRenderer.render(plan, title: title), terminator: "")
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                let doc = PlanDocument(plan: plan, errors: loaded.diagnostics.map(\.description))
                print(String(decoding: try encoder.encode(doc), as: UTF8.self))
            }
            if !loaded.diagnostics.isEmpty { throw ExitCode(partialFailureExitCode) }
        }
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
