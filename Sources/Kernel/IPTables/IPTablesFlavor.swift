// MARK: - Which iptables: legacy (x_tables, libiptc) or nf_tables (iptables-nft)
//
// Rules written through one flavour are invisible to the other, and their relative order with
// the node's other rules is only defined within one flavour, so kube-ipvs must use the flavour the
// node already uses. Detection follows kubernetes-sigs/iptables-wrappers (pkg/xtables/detect.go,
// which kube-proxy images use as their `iptables`), then the older wrapper's rule count:
//   1. kubelet's marker chains (KUBE-IPTABLES-HINT or KUBE-KUBELET-CANARY in mangle) in
//      iptables-nft-save / ip6tables-nft-save -t mangle  -> nft;
//   2. the same chains in iptables-legacy-save / ip6tables-legacy-save (all tables: `-t mangle`
//      would make the legacy kernel create that table)  -> legacy;
//   3. otherwise the flavour holding more rules (`-A` lines, IPv4 + IPv6);
//   4. a tie (e.g. a bare node) -> nft, upstream's default and Debian/RHEL's default alternative.
// (The pre-1.17 shell wrapper chose legacy on a tie; the current wrapper never counts and
// defaults to nft.) The choice can be forced (`IPTablesFlavor(flag:)`).

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

    /// Detects the node's flavour by running the save tools (read-only; no table is created).
    public static func detect() -> IPTablesFlavor {
        func save(_ tool: String, _ args: [String] = []) -> String {
            (try? ExternalCommand.run(tool, args))?.stdout ?? ""
        }
        let nftMangle = save("iptables-nft-save", ["-t", "mangle"]) + save("ip6tables-nft-save", ["-t", "mangle"])
        if hasKubeletChains(nftMangle) { return .nft }
        let legacyAll = save("iptables-legacy-save") + save("ip6tables-legacy-save")
        if hasKubeletChains(legacyAll) { return .legacy }
        let nftAll = save("iptables-nft-save") + save("ip6tables-nft-save")
        return decide(nftMangle: nftMangle, legacyAll: legacyAll, nftAll: nftAll)
    }

    /// The decision of `detect()` on captured save outputs (pure, for tests).
    public static func decide(nftMangle: String, legacyAll: String, nftAll: String) -> IPTablesFlavor {
        if hasKubeletChains(nftMangle) { return .nft }
        if hasKubeletChains(legacyAll) { return .legacy }
        return ruleCount(legacyAll) > ruleCount(nftAll) ? .legacy : .nft
    }

    /// Whether save output declares kubelet's marker chains.
    public static func hasKubeletChains(_ save: String) -> Bool {
        save.split(separator: "\n").contains { $0.hasPrefix(":KUBE-IPTABLES-HINT ") || $0.hasPrefix(":KUBE-KUBELET-CANARY ") }
    }

    /// Number of rules (`-A` lines) in save output.
    public static func ruleCount(_ save: String) -> Int {
        save.split(separator: "\n").filter { $0.hasPrefix("-") }.count
    }
}
