import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Kernel
import KubeClient
import KubeModel
import ProxyCore

/// Output formats of `status`.
enum StatusOutput: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

extension KubeIPVS {
    /// `kube-ipvs status`: the node's virtual servers, the Service each serves, and the drift.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the node's virtual servers and real servers (as ipvsadm -Ln), the Service each serves, and the drift from the desired state.",
            discussion: """
            Lists every IPVS virtual server of the node with its scheduler, flags, persistence and \
            real servers (forward method, weight, ActiveConn, InActConn), each labelled with the \
            Service port that wants it (namespace/name:port), or "stale" (owned, no Service wants \
            it: sync deletes it), "excluded" (stale but inside ipvs.excludeCIDRs), "not owned" \
            (made by someone else), or "missing" (wanted, not in the kernel). Then the drift: the \
            operations `sync` would apply, counted by kind and listed; none means the node is in \
            step.

            The desired state comes from the same inputs as `sync`: -f manifests, and/or one list \
            of Services, EndpointSlices and this Node from the API server with --kubeconfig. \
            Without either, the virtual servers are labelled "owned" or "not owned" only and the \
            drift is unknown. Nothing is changed.

            Exit status: 0, or \(partialFailureExitCode) when some input objects were invalid and \
            skipped; 1 on other errors.
            """
        )

        @Option(name: [.customShort("f"), .customLong("filename")], help: "A manifest file or directory (repeatable), as for sync.")
        var filenames: [String] = []

        @Option(name: .customLong("kubeconfig"), help: "Read Services, EndpointSlices and this Node once from the API server of this kubeconfig.")
        var kubeconfig: String?

        @Option(name: .customLong("context"), help: "The kubeconfig context to use (default: its current-context).")
        var context: String?

        @Option(name: .customLong("output"), help: "text (ipvsadm -Ln layout with labels) or json.")
        var output: StatusOutput = .text

        @OptionGroup var kernelOptions: KernelOptions

        @OptionGroup var proxy: ProxyOptions

        func validate() throws {
            if context != nil && kubeconfig == nil { throw ValidationError("--context goes with --kubeconfig.") }
        }

        func run() async throws {
            let config = try proxy.load()
            let nodeName = proxy.nodeName(config)

            // Inputs: manifests and/or one list from the API server.
            var snapshot = ClusterSnapshot()
            var diagnostics: [Diagnostic] = []
            var sources: [String] = []
            if !filenames.isEmpty {
                let loaded = try loadManifests(filenames)
                for w in loaded.warnings { printError("warning: \(w)") }
                snapshot = loaded.snapshot
                diagnostics += loaded.diagnostics
                sources.append("manifests")
            }
            if let kubeconfig {
                let kube: KubeConfig
                do { kube = try KubeConfig.load(kubeconfigPath: kubeconfig, context: context) } catch let e as KubeConfigError {
                    throw ValidationError("\(e)")
                }
                do {
                    let listed = try await APISnapshot.list(kube, nodeName: nodeName)
                    snapshot.services += listed.snapshot.services
                    snapshot.endpointSets += listed.snapshot.endpointSets
                    snapshot.nodes += listed.snapshot.nodes
                    diagnostics += listed.diagnostics
                } catch {
                    printError("error: reading the API server of \(kubeconfig): \(error)")
                    throw ExitCode.failure
                }
                sources.append("kubeconfig")
            }
            for d in diagnostics { printError("error: \(d); skipped") }
            let hasSource = !sources.isEmpty

            // The kernel, read-only.
            let families: Set<IPFamily> = hasSource ? ProxyFamilies.families(config: config, services: snapshot.services) : [.ipv4, .ipv6]
            let flavor = kernelOptions.flavor()
            let observed: ObservedState
            let selection: NodeAddressSelection
            var desired: DesiredState?
            do {
                // Its addresses, and (with a source) the desired state for them.
                let nodeInfo = snapshot.nodes.first { $0.name == nodeName }
                let nodeIPs = hasSource ? nodeInfo?.addresses ?? [] : []
                selection = try NodeAddresses.select(from: try LinkAddressSource(), nodeIPs: nodeIPs,
                                                     nodePortAddresses: hasSource ? config.nodePortAddresses : [], families: families)
                if hasSource {
                    // Read-only probe (`modprobe -n`): Services whose scheduler the kernel lacks show their fallback.
                    let node = NodeContext(name: nodeName, node: nodeInfo, hostIPs: nodeIPs, addresses: selection,
                                           unavailableSchedulers: SchedulerCheck.unavailable(snapshot.services, config: config, load: false))
                    SchedulerCheck.warnFallbacks(snapshot.services, config: config, node: node)
                    desired = DesiredStateBuilder.build(snapshot: snapshot, config: config, node: node)
                }
                let kernel = try kernelOptions.nodeKernel(families: families, flavor: flavor, sysctlNames: desired?.sysctls.map(\.name) ?? [])
                observed = try kernel.observe(families: families)
            } catch {
                printError("error: reading the node's state: \(error)")
                throw ExitCode.failure
            }
            let status = NodeStatus.build(observed: observed, desired: desired, services: hasSource ? snapshot.services.count : nil,
                                          nodeAddresses: selection.localAddresses)

            switch output {
            case .text:
                let title = "kube-ipvs status of node \(nodeName): \(status.virtualServers.count) virtual server(s); desired state from "
                    + (hasSource ? sources.joined(separator: " and ") + " (\(snapshot.services.count) Service(s))" : "nothing")
                print(status.text(title: title), terminator: "")
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                let doc = NodeStatusDocument(status: status, node: nodeName, source: hasSource ? sources.joined(separator: "+") : "none",
                                             errors: diagnostics.map(\.description))
                print(String(decoding: try encoder.encode(doc), as: UTF8.self))
            }
            if !diagnostics.isEmpty { throw ExitCode(partialFailureExitCode) }
        }
    }
}

/// One list of Services, EndpointSlices and this Node from the API server, as `run` lists them at start.
enum APISnapshot {
    static func list(_ kube: KubeConfig, nodeName: String) async throws -> (snapshot: ClusterSnapshot, diagnostics: [Diagnostic]) {
        let client = try APIClient(config: kube)
        do {
            let result = try await list(client, nodeName: nodeName)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private static func list(_ client: APIClient, nodeName: String) async throws -> (snapshot: ClusterSnapshot, diagnostics: [Diagnostic]) {
        var snapshot = ClusterSnapshot()
        var diagnostics: [Diagnostic] = []
        func accept<V>(_ c: Checked<V>) -> V? {
            switch c {
            case .ok(let v): return v
            case .ignored: return nil
            case .invalid(let d): diagnostics.append(d); return nil
            }
        }
        let selector = ResourceKind.kubeProxyLabelSelector
        for s in try await client.list(ServiceResource.self, ResourceKind.services.withLabelSelector(selector)).items {
            if let v = accept(s.checked()) { snapshot.services.append(v) }
        }
        let version = try await client.preferredEndpointSliceVersion()
        for e in try await client.list(EndpointSliceResource.self, ResourceKind.endpointSlices(version: version).withLabelSelector(selector)).items {
            if let v = accept(e.checked()) { snapshot.endpointSets.append(v) }
        }
        for n in try await client.list(NodeResource.self, .node(named: nodeName)).items {
            if let v = accept(n.checked()) { snapshot.nodes.append(v) }
        }
        return (snapshot, diagnostics)
    }
}
