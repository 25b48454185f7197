import ArgumentParser

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
        subcommands: [Run.self, Sync.self, Status.self, Cleanup.self]
    )
}

/// Exit status when some input objects were invalid and skipped (the rest was handled).
let partialFailureExitCode: Int32 = 3
