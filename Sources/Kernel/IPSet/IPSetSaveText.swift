import KubeModel
import ProxyCore

// MARK: - `ipset save` text -> ObservedSet
//
// The backend reads sets through libipset in save mode, which prints exactly what `ipset save`
// prints (the `create` line with every option the kernel reports, then one `add` line per member
// in the canonical member text IPSetEntry builds). Parsing is pure so that it is tested on
// captured output (Tests/KernelTests/Fixtures/ipset-save-*.txt).

/// Parses `ipset save` text.
public enum IPSetSaveText {
    /// The family a KUBE-* set belongs to: its `family` option, else (bitmap:port has none) the name.
    public static func family(ofSet name: String, familyOption: String?) -> IPFamily {
        switch familyOption {
        case "inet6": return .ipv6
        case "inet": return .ipv4
        default: return name.hasPrefix("KUBE-6-") ? .ipv6 : .ipv4
        }
    }

    /// Sets in `text` whose name starts with `prefix`; sets of unknown types are skipped.
    ///
    /// The comment of a known KUBE-* set is filled from `KubeSet` (the kernel does not store it:
    /// kube-ipvs, like kube-proxy, creates sets without the `comment` extension).
    public static func parse(_ text: String, prefix: String = "KUBE-") -> [String: ObservedSet] {
        var sets: [String: ObservedSet] = [:]
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 3 else { continue }
            let name = String(words[1])
            guard name.hasPrefix(prefix) else { continue }
            switch words[0] {
            case "create":
                guard let type = IPSetType(rawValue: String(words[2])) else { continue }
                var options: [String: String] = [:]
                var i = 3
                while i + 1 < words.count {
                    options[String(words[i])] = String(words[i + 1]); i += 2
                }
                let family = family(ofSet: name, familyOption: options["family"])
                var spec = IPSetSpec(name: name, type: type, family: family, comment: comment(ofSet: name))
                if let h = options["hashsize"].flatMap({ Int($0) }) { spec.hashSize = h }
                if let m = options["maxelem"].flatMap({ Int($0) }) { spec.maxElements = m }
                if let r = options["range"] {
                    let ends = r.split(separator: "-").compactMap { Int($0) }
                    if ends.count == 2, ends[0] <= ends[1] { spec.portRange = ends[0]...ends[1] }
                }
                sets[name] = ObservedSet(spec: spec)
            case "add":
                sets[name]?.entries.insert(String(words[2]))
            default:
                continue
            }
        }
        return sets
    }

    /// The upstream comment of a KUBE-* set name, "" for names kube-ipvs does not know.
    public static func comment(ofSet name: String) -> String {
        for set in KubeSet.allCases {
            for f in IPFamily.allCases where set.setName(for: f) == name { return set.comment }
        }
        return ""
    }
}
