#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel

/// Rewrites a command line written for kube-proxy (Go pflag syntax) into one for kube-ipvs's
/// parser, before parsing. pflag takes `--flag value`, `--flag=value`, bare booleans and
/// `--bool=false`, klog's `-v=2` / `-v 2`, and repeated list flags that accumulate; the
/// ArgumentParser options take one spelling, so every kube-proxy flag is rewritten to
/// `--name=value` (booleans to `--name` or nothing) and the ones without effect are taken out
/// with a warning each.
struct KubeProxyArgv: Equatable {
    /// The arguments for ArgumentParser (without the program name).
    var arguments: [String]
    /// One line per ignored flag, for the log once it is set up.
    var warnings: [String] = []

    /// A kube-proxy command line that cannot be run, named as pflag would (`--proxy-mode=iptables: ...`).
    struct Failure: Error, Equatable, CustomStringConvertible {
        var description: String
    }

    /// The subcommands whose kube-proxy flags are rewritten; anything else is left to the parser.
    private static let subcommands: Set<String> = ["run", "sync", "status", "cleanup"]

    /// Rewrites `argv` (program name first). Run as `kube-proxy` (argv[0]'s basename), or with a
    /// kube-proxy flag where the subcommand would be, it is `run` (`cleanup` with --cleanup).
    static func rewrite(_ argv: [String]) throws(Failure) -> KubeProxyArgv {
        let program = URL(fileURLWithPath: argv.first ?? "kube-ipvs").lastPathComponent
        let args = Array(argv.dropFirst())
        if program == "kube-proxy" { return try kubeProxy(args) }
        guard let first = args.first else { return KubeProxyArgv(arguments: args) }
        if first.hasPrefix("-"), let (flag, _, _) = split(first), flag.name != "version" { return try kubeProxy(args) }
        guard subcommands.contains(first) else { return KubeProxyArgv(arguments: args) }
        if first == "run" { return try kubeProxy(Array(args.dropFirst())) }
        // sync, status, cleanup: only the syntax of the kube-proxy flags they share is rewritten.
        let parsed = try parse(Array(args.dropFirst()), strict: false)
        return KubeProxyArgv(arguments: [first] + parsed.render(keeping: nil))
    }

    /// A kube-proxy command line: `run` with every flag, or `cleanup` with its own when --cleanup is true.
    private static func kubeProxy(_ args: [String]) throws(Failure) -> KubeProxyArgv {
        let parsed = try parse(args, strict: true)
        if parsed.version { return KubeProxyArgv(arguments: ["--version"]) }
        // --write-config-to wins over --cleanup, as in kube-proxy (it writes and exits first).
        if parsed.cleanup, !parsed.items.contains(where: { if case .flag(let f, _) = $0 { return f.name == "write-config-to" }; return false }) {
            // cleanup reads only these; the rest configure the daemon, which --cleanup does not start.
            return KubeProxyArgv(arguments: ["cleanup"] + parsed.render(keeping: ["config", "ipvs-exclude-cidrs"]))
        }
        return KubeProxyArgv(arguments: ["run"] + parsed.render(keeping: nil), warnings: parsed.warnings)
    }

    /// One argument in order: a kube-proxy flag with its value, or anything else as written.
    private enum Item { case flag(KubeProxyFlag, String), other(String) }

    private struct Parsed {
        var items: [Item] = []
        var warnings: [String] = []
        var cleanup = false
        var version = false

        /// The arguments for the parser; with `keeping`, kube-proxy flags outside it are dropped.
        func render(keeping: Set<String>?) -> [String] {
            // pflag's list flags accumulate; the ArgumentParser option takes one comma-separated value.
            var lists: [String: [String]] = [:]
            for case .flag(let f, let v) in items where f.type.accumulates { lists[f.name, default: []].append(v) }
            // Any other flag given twice: the last one counts, as with pflag.
            var last: [String: Int] = [:]
            for (i, item) in items.enumerated() { if case .flag(let f, _) = item { last[f.name] = i } }
            var out: [String] = []
            var listed: Set<String> = []
            for (i, item) in items.enumerated() {
                switch item {
                case .other(let a): out.append(a)
                case .flag(let f, let v):
                    guard f.effect == .implemented, keeping?.contains(f.name) ?? true else { continue }
                    if !f.type.accumulates, last[f.name] != i { continue }
                    if f.type.isBool {
                        // `--x=false` is the default of every kube-proxy boolean; left out, a
                        // config file's value stands, as upstream ignores flags beside --config.
                        if KubeProxyArgv.goBool(v) == true { out.append("--\(f.name)") }
                    } else if f.type.accumulates {
                        if listed.insert(f.name).inserted { out.append("--\(f.name)=" + lists[f.name]!.joined(separator: ",")) }
                    } else {
                        out.append("--\(f.name)=\(v)")
                    }
                }
            }
            return out
        }
    }

    /// Splits `-v=2`, `--name`, `--name=value` into the known flag, its inline value and whether
    /// it was klog's one-dash `-v` (which may carry its value glued on: `-v2`).
    private static func split(_ arg: String) -> (KubeProxyFlag, String?, Bool)? {
        if arg.hasPrefix("--") {
            let body = arg.dropFirst(2)
            let name = body.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let n = name.first, !n.isEmpty, let flag = KubeProxyFlags.lookup(String(n)) else { return nil }
            return (flag, name.count > 1 ? String(name[1]) : nil, false)
        }
        // pflag's one-dash form is for one-letter shorthands; kube-proxy's only one is klog's -v.
        guard arg.hasPrefix("-v"), let flag = KubeProxyFlags.byName["v"] else { return nil }
        let rest = arg.dropFirst(2)
        if rest.isEmpty { return (flag, nil, true) }
        if rest.hasPrefix("=") { return (flag, String(rest.dropFirst()), true) }
        guard rest.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return (flag, String(rest), true)
    }

    /// Reads the arguments as pflag would. `strict` (run): ignored flags are taken out with a
    /// warning and `--cleanup`, `--version`, `--proxy-mode` are acted on; otherwise (sync, status,
    /// cleanup) ignored flags are left for the parser to refuse.
    private static func parse(_ args: [String], strict: Bool) throws(Failure) -> Parsed {
        var p = Parsed()
        var warned: Set<String> = []
        var i = 0
        while i < args.count {
            let arg = args[i]
            i += 1
            if arg == "--" { p.items += args[(i - 1)...].map { .other($0) }; break }
            guard let (flag, inline, _) = split(arg) else { p.items.append(.other(arg)); continue }
            var value: String
            if let inline {
                value = inline
            } else if flag.type.isBool {
                value = "true"
            } else {
                // pflag takes the next argument as the value whatever it looks like (`--oom-score-adj -999`).
                guard i < args.count else { throw Failure(description: "flag needs an argument: --\(flag.name)") }
                value = args[i]
                i += 1
            }
            if let problem = check(flag, value) { throw Failure(description: "invalid argument \"\(value)\" for \"--\(flag.name)\" flag: \(problem)") }
            if !strict, flag.effect != .implemented {
                // Left as written, for the parser to refuse: sync, status and cleanup do not take it.
                p.items.append(.other(arg))
                if inline == nil && !flag.type.isBool { p.items.append(.other(value)) }
                continue
            }
            switch flag.effect {
            case .implemented:
                p.items.append(.flag(flag, value))
            case .ignored(let why):
                if warned.insert(flag.name).inserted { p.warnings.append("flag --\(flag.name)=\(value) has no effect: \(why)") }
            case .special:
                switch flag.name {
                case "cleanup": p.cleanup = goBool(value) ?? false
                case "version": p.version = value == "raw" || goBool(value) == true
                case "proxy-mode":
                    guard value.isEmpty || value == "ipvs" else {
                        throw Failure(description: "--proxy-mode=\(value): kube-ipvs implements only the ipvs proxy mode")
                    }
                    if warned.insert(flag.name).inserted { p.warnings.append("flag --proxy-mode=\(value) has no effect: kube-ipvs always runs in IPVS mode") }
                default: break
                }
            }
        }
        return p
    }

    /// Go's strconv.ParseBool, which pflag's booleans use.
    static func goBool(_ s: String) -> Bool? {
        switch s {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False": return false
        default: return nil
        }
    }

    /// Why `value` is not of the flag's type, as pflag would refuse it; nil when it is. Implemented
    /// flags are checked again, with their ranges, when the configuration is built.
    private static func check(_ flag: KubeProxyFlag, _ value: String) -> String? {
        switch flag.type {
        case .bool:
            if flag.name == "version" && value == "raw" { return nil }
            return goBool(value) == nil ? "not true or false" : nil
        case .int32:
            return Int32(value) == nil ? "not a 32-bit integer" : nil
        case .float32:
            return Float(value).map { $0.isFinite } == true ? nil : "not a number"
        case .duration:
            return flag.effect == .implemented || GoDuration.parse(value) != nil ? nil : "not a duration (like 30s, 1m0s)"
        case .mapStringBool:
            for pair in value.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { return "missing bool value for \(pair.trimmingWhitespace())" }
                guard goBool(kv[1].trimmingWhitespace()) != nil else { return "invalid value of \(kv[0]): \(kv[1])" }
            }
            return nil
        case .string, .ip, .ipPort, .stringList, .portRange, .level:
            return nil
        }
    }
}
