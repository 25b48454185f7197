import ArgumentParser

extension KubeIPVS {
    /// `kube-ipvs kube-proxy-flags` (hidden): the kube-proxy flag table as tab-separated lines,
    /// which the tests compare with docs/migration.md.
    struct KubeProxyFlagTable: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kube-proxy-flags",
            abstract: "Print every kube-proxy flag and what kube-ipvs does with it (name, effect, versions, note).",
            shouldDisplay: false)

        func run() {
            for f in KubeProxyFlags.all {
                let effect: String
                switch f.effect {
                case .implemented: effect = "implemented"
                case .special: effect = "special"
                case .ignored(let why): effect = "ignored: " + why
                }
                print(["--" + f.name, effect, f.versions ?? "", f.note].joined(separator: "\t"))
            }
        }
    }
}
