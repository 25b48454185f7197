import KubeModel

// MARK: - Which iptables: legacy (x_tables, libiptc) or nf_tables (iptables-nft)
//
// Rules written through one flavour are invisible to the other, and their relative order with
// the node's other rules is only defined within one flavour, so kube-ipvs must use the flavour the
// node already uses. A flavour's tools are `iptables-legacy-save`/`-restore` or
// `iptables-nft-save`/`-restore`, or the plain `iptables-save`/`-restore` when `iptables -V` says
// they are of that flavour ("(legacy)", "(nf_tables)"; no mode: iptables before 1.8, legacy).
// Older distributions ship only the plain names. Detection:
//   0. a flavour whose IPv4 save and restore tools are not installed is never chosen: when only
//      one flavour has them, that one; when neither has, legacy (libiptc writes without tools);
//   then, as kubernetes-sigs/iptables-wrappers (pkg/xtables/detect.go, which kube-proxy images use
//   as their `iptables`) and the older wrapper's rule count:
//   1. kubelet's marker chains (KUBE-IPTABLES-HINT or KUBE-KUBELET-CANARY in mangle) in the nft
//      save output of the mangle table (IPv4 + IPv6)  -> nft;
//   2. the same chains in the legacy save output of all tables (`-t mangle` would make the legacy
//      kernel create that table)  -> legacy;
//   3. otherwise the flavour holding more rules (`-A` lines, IPv4 + IPv6);
//   4. a tie (e.g. a bare node) -> the plain `iptables`'s flavour (the node's default
//      alternative), else nft, upstream's default and Debian/RHEL's default alternative.
// The choice can be forced (`IPTablesFlavor(flag:)`).

/// The iptables flavour kube-ipvs writes through.
public enum IPTablesFlavor: String, Sendable, Hashable, CaseIterable {
    /// x_tables through libiptc (what `iptables-legacy` uses).
    case legacy
    /// nf_tables through `iptables-nft-restore` (what `iptables-nft` uses).
    case nft

    /// Parses a flag value: `legacy`, `nft`, or `auto` (nil: detect).
    public init?(flag: String) {
        switch flag.lowercased() {
        case "legacy", "iptables-legacy": self = .legacy
        case "nft", "nf_tables", "iptables-nft": self = .nft
        default: return nil
        }
    }

    /// Detects the node's flavour by running the save tools found by `tools` (read-only; no table
    /// is created).
    public static func detect(tools: IPTablesTools = .system) -> IPTablesFlavor {
        let usable = allCases.filter { tools.isUsable($0) }
        if usable.count < 2 { return usable.first ?? .legacy }
        func save(_ flavor: IPTablesFlavor, _ args: [String] = []) -> String {
            IPFamily.allCases.map { family in
                tools.tool("save", family: family, flavor: flavor).flatMap { tools.output($0, args) } ?? ""
            }.joined()
        }
        let nftMangle = save(.nft, ["-t", "mangle"])
        if hasKubeletChains(nftMangle) { return .nft }
        let legacyAll = save(.legacy)
        if hasKubeletChains(legacyAll) { return .legacy }
        return decide(nftMangle: nftMangle, legacyAll: legacyAll, nftAll: save(.nft), onTie: tools.plainFlavor(.ipv4) ?? .nft)
    }

    /// The decision of `detect()` on captured save outputs when both flavours are usable (pure, for tests).
    public static func decide(nftMangle: String, legacyAll: String, nftAll: String, onTie: IPTablesFlavor = .nft) -> IPTablesFlavor {
        if hasKubeletChains(nftMangle) { return .nft }
        if hasKubeletChains(legacyAll) { return .legacy }
        let legacy = ruleCount(legacyAll), nft = ruleCount(nftAll)
        return legacy == nft ? onTie : legacy > nft ? .legacy : .nft
    }

    /// Whether save output declares kubelet's marker chains.
    public static func hasKubeletChains(_ save: String) -> Bool {
        save.split(separator: "\n").contains { $0.hasPrefix(":KUBE-IPTABLES-HINT ") || $0.hasPrefix(":KUBE-KUBELET-CANARY ") }
    }

    /// Number of rules (`-A` lines) in save output.
    public static func ruleCount(_ save: String) -> Int {
        save.split(separator: "\n").filter { $0.hasPrefix("-") }.count
    }

    /// The flavour `iptables -V` reports: `(nf_tables)` nft, `(legacy)` or no mode legacy
    /// (iptables before 1.8 had only x_tables); nil when the output is not a version line.
    public static func flavor(versionOutput: String) -> IPTablesFlavor? {
        guard let line = versionOutput.split(separator: "\n").first, line.contains(" v") else { return nil }
        if line.contains("(nf_tables)") { return .nft }
        return .legacy
    }
}

/// Where the xtables tools are looked up, and running them; injectable so that detection can be
/// tested with fake tools in a temporary directory.
public struct IPTablesTools: Sendable {
    /// Directories searched, in order (a daemon's PATH may lack the sbin directories).
    public var searchPath: [String]

    /// Tools in `searchPath` only.
    public init(searchPath: [String]) { self.searchPath = searchPath }

    /// The node's tools, in the system directories.
    public static let system = IPTablesTools(searchPath: ExternalCommand.searchPath)

    /// Whether an executable `tool` is in `searchPath`.
    public func isInstalled(_ tool: String) -> Bool { ExternalCommand.locate(tool, in: searchPath) != nil }

    /// Standard output of `tool args`, whatever its exit status; nil when it could not be run.
    public func output(_ tool: String, _ args: [String]) -> String? {
        (try? ExternalCommand.run(tool, args, searchPath: searchPath))?.stdout
    }

    /// The flavour of the plain `iptables` (`ip6tables`) of `family`, from its `-V`; nil when it is
    /// not installed or does not answer with a version.
    public func plainFlavor(_ family: IPFamily) -> IPTablesFlavor? {
        let tool = family == .ipv4 ? "iptables" : "ip6tables"
        guard isInstalled(tool), let out = output(tool, ["-V"]) else { return nil }
        return IPTablesFlavor.flavor(versionOutput: out)
    }

    /// The tool that does `verb` (`save`, `restore`) for `family` in `flavor`: `iptables-nft-save`,
    /// `ip6tables-legacy-restore`, ..., else the plain `iptables-save` etc. when the plain
    /// `iptables` is of `flavor`; nil when there is neither.
    public func tool(_ verb: String, family: IPFamily, flavor: IPTablesFlavor) -> String? {
        let base = family == .ipv4 ? "iptables" : "ip6tables"
        let named = "\(base)-\(flavor.rawValue)-\(verb)"
        if isInstalled(named) { return named }
        let plain = "\(base)-\(verb)"
        if isInstalled(plain), plainFlavor(family) == flavor { return plain }
        return nil
    }

    /// Whether `flavor`'s IPv4 save and restore tools are installed (under either name).
    public func isUsable(_ flavor: IPTablesFlavor) -> Bool {
        tool("save", family: .ipv4, flavor: flavor) != nil && tool("restore", family: .ipv4, flavor: flavor) != nil
    }
}
