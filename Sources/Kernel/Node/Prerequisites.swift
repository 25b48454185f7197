import ProxyCore
import KernelPort
import KubeModel
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Kernel modules and sysctls (docs/spec.md §2)
//
// Modules: known-loaded ones come from /proc/modules plus /sys/module (built-ins with parameters,
// such as a built-in ip_vs, appear only there). A missing one is loaded with one `modprobe NAME`
// exec: this runs at start-up only, and the kernel's own request_module does the same.
// Sysctls are read and written through /proc/sys; no exec.

/// Module and sysctl checks; `root` lets tests point it at a fake /proc and /sys.
public struct Prerequisites: Sendable {
    /// Path prefix for /proc and /sys ("" on a real node).
    public var root: String
    /// The modprobe program.
    public var modprobe: String
    /// How long one modprobe may run before it is killed and reported.
    public var commandTimeout: Duration

    public init(root: String = "", modprobe: String = "modprobe", commandTimeout: Duration = externalCommandTimeout) {
        self.root = root; self.modprobe = modprobe; self.commandTimeout = commandTimeout
    }

    /// The sysctls of docs/spec.md §2, dotted; strictARP adds the two ARP ones.
    public static func specSysctls(strictARP: Bool = false) -> [String] {
        // net.ipv6.conf.all.forwarding is desired only on nodes that program IPv6; reading it
        // everywhere costs one file read, and a node without IPv6 simply has no such file.
        var names = ["net.ipv4.vs.conntrack", "net.ipv4.vs.expire_nodest_conn", "net.ipv4.vs.expire_quiescent_template", "net.ipv4.ip_forward",
                     "net.ipv6.conf.all.forwarding"]
        if strictARP { names += ["net.ipv4.conf.all.arp_ignore", "net.ipv4.conf.all.arp_announce"] }
        return names
    }

    /// Upstream's start-up warning: without br_netfilter (or with bridge-nf-call-iptables off), a pod
    /// reaching another pod on the same bridge through a Service VIP gets the reply straight across
    /// the bridge, untranslated, and drops it. kube-ipvs does not load the module or set the sysctl
    /// (the node's network setup owns them, as kubeadm's preflight does); it says so. nil when fine.
    public func bridgeNetfilterWarning() -> String? {
        if readSysctl("net.bridge.bridge-nf-call-iptables") == "1" { return nil }
        return "missing br_netfilter module or net.bridge.bridge-nf-call-iptables is not 1: pods behind a Linux bridge "
            + "may not reach Services whose endpoints are on the same bridge (load br_netfilter and set the sysctl, as kubeadm requires)"
    }

    // MARK: - Modules

    /// Modules loaded or built in, with `-` normalised to `_` as the kernel names them.
    public func loadedModules() -> Set<String> {
        var names = Set<String>()
        if let text = readFile(root + "/proc/modules") {
            for line in text.split(separator: "\n") {
                if let name = line.split(separator: " ", maxSplits: 1).first { names.insert(String(name)) }
            }
        }
        names.formUnion(listDirectory(root + "/sys/module"))
        names.formUnion(builtinModules())
        return names
    }

    /// Modules built into the running kernel (modules.builtin of `uname -r`); a built-in module
    /// without parameters has no /sys/module entry.
    public func builtinModules() -> Set<String> {
        var u = utsname()
        guard uname(&u) == 0 else { return [] }
        let release = withUnsafePointer(to: u.release) { p in
            p.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: u.release)) { String(cString: $0) }
        }
        var out = Set<String>()
        for dir in ["/lib/modules/", "/usr/lib/modules/"] {
            guard let text = readFile(root + dir + release + "/modules.builtin") else { continue }
            for line in text.split(separator: "\n") {
                // kernel/net/netfilter/ipvs/ip_vs_rr.ko -> ip_vs_rr
                guard let file = line.split(separator: "/").last else { continue }
                let base = file.hasSuffix(".ko") ? file.dropLast(3) : file
                out.insert(Prerequisites.normalise(String(base)))
            }
            break
        }
        return out
    }

    /// Whether `name` is loaded or built in.
    public func isLoaded(_ name: String) -> Bool {
        let n = Prerequisites.normalise(name)
        return loadedModules().contains(n)
    }

    /// `ip_vs-rr` -> `ip_vs_rr`.
    public static func normalise(_ name: String) -> String { name.replacingAll("-", with: "_") }

    /// Loads `name` unless already present. A failure names the module and carries modprobe's exit status and output.
    public func loadModule(_ name: String) throws {
        if isLoaded(name) { return }
        let status: Int32, output: String
        do {
            (status, output) = try run(modprobe, ["--", name])
        } catch let e as KernelError {
            let why = e.errno == ETIMEDOUT ? "\(e.message)" : "\(modprobe) could not be run"
            throw KernelError(subsystem: .module, operation: "modprobe", object: name, errno: e.errno,
                              message: "required kernel module \(name) is not loaded and \(why)")
        }
        if status != 0 || !isLoaded(name) {
            let detail = output.trimmed(of: " \n")
            throw KernelError(subsystem: .module, operation: "modprobe", object: name, errno: status == 0 ? ENOENT : 0,
                              message: "required kernel module \(name) could not be loaded (modprobe exit status \(status))"
                                  + (detail.isEmpty ? "" : ": \(detail)"))
        }
    }

    /// Of the IPVS schedulers `names`, those the kernel lacks, checked as upstream kube-proxy does:
    /// ip_vs_<name> loaded (/proc/modules, /sys/module) or built in (modules.builtin), else one
    /// `modprobe -- ip_vs_<name>` that must load it. With `load` false, `modprobe -n` only asks
    /// whether it could (read-only: `status`, `run --dry-run --against-node`). Without a modprobe
    /// to run, nothing is known missing (the kernel may still load the module by itself).
    public func missingSchedulers(_ names: Set<String>, load: Bool = true) -> Set<String> {
        let loaded = loadedModules()
        var missing = Set<String>()
        for name in names.sorted() {
            let module = Prerequisites.normalise("ip_vs_" + name)
            if loaded.contains(module) { continue }
            do {
                let (status, _) = try run(modprobe, (load ? [] : ["-n"]) + ["--", module])
                if status != 0 || (load && !isLoaded(module)) { missing.insert(name) }
            } catch let e as KernelError where e.errno == ENOENT {
                continue  // no modprobe installed
            } catch {
                missing.insert(name)  // a modprobe that hangs or cannot start
            }
        }
        return missing
    }

    // MARK: - Sysctls

    /// `/proc/sys/net/ipv4/vs/conntrack` for `net.ipv4.vs.conntrack` (a name with `/` is taken as a path).
    public func sysctlPath(_ name: String) -> String {
        root + "/proc/sys/" + (name.contains("/") ? name : name.replacingAll(".", with: "/"))
    }

    /// The current value, trimmed; nil when the sysctl does not exist (its module not loaded).
    public func readSysctl(_ name: String) -> String? {
        readFile(sysctlPath(name))?.trimmed(of: " \t\n")
    }

    /// Current values of `names`; missing sysctls are left out.
    public func readSysctls(_ names: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for n in names { if let v = readSysctl(n) { out[n] = v } }
        return out
    }

    /// Writes a sysctl (`sysctl -w name=value`).
    public func writeSysctl(_ name: String, _ value: String) throws {
        try writeText(sysctlPath(name), value, object: "\(name) (\(sysctlPath(name)))", valueObject: "\(name)=\(value)")
    }

    /// Writes `value` and a newline to an existing file; errors name `object` (open) or `valueObject` (write).
    private func writeText(_ path: String, _ value: String, object: String, valueObject: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw KernelError(subsystem: .sysctl, operation: "open", object: object, errno: errno) }
        defer { close(fd) }
        let bytes = Array((value + "\n").utf8)
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n != bytes.count {
            throw KernelError(subsystem: .sysctl, operation: "write", object: valueObject, errno: n < 0 ? errno : EIO)
        }
    }

    /// `/sys/module/nf_conntrack/parameters/hashsize` for (`nf_conntrack`, `hashsize`).
    public func moduleParameterPath(_ module: String, _ parameter: String) -> String {
        root + "/sys/module/\(module)/parameters/\(parameter)"
    }

    /// A module parameter's value, trimmed; nil when the module is not loaded.
    public func readModuleParameter(_ module: String, _ parameter: String) -> String? {
        readFile(moduleParameterPath(module, parameter))?.trimmed(of: " \t\n")
    }

    /// Writes a module parameter; the error names it and carries the errno (EROFS: /sys mounted
    /// read-only; EOPNOTSUPP: nf_conntrack's hashsize written from outside the initial netns).
    public func writeModuleParameter(_ module: String, _ parameter: String, _ value: String) throws {
        let path = moduleParameterPath(module, parameter)
        try writeText(path, value, object: path, valueObject: "\(path)=\(value)")
    }

    /// Applies `loadModule`, `setSysctl` and `setModuleParameter` operations, in order; others are ignored. Every one is
    /// attempted: a module or sysctl that fails is one error of the batch (thrown at the end), and
    /// what depends on it fails on its own later (an IPVS request without ip_vs).
    public func apply(_ ops: [Operation]) throws -> ApplyResult {
        var result = ApplyResult()
        var failed: [KernelError] = []
        for op in ops {
            switch op {
            case .loadModule(let name):
                result.requestsSent += 1
                do { try loadModule(name); result.applied += 1 } catch let e as KernelError { failed.append(e) }
            case .setSysctl(let name, let value):
                result.requestsSent += 1
                do { try writeSysctl(name, value); result.applied += 1 } catch let e as KernelError { failed.append(e) }
            case .setModuleParameter(let module, let parameter, let value):
                result.requestsSent += 1
                do { try writeModuleParameter(module, parameter, value); result.applied += 1 } catch let e as KernelError { failed.append(e) }
            default:
                continue
            }
        }
        if !failed.isEmpty { throw KernelBatchError(errors: failed, partial: result) }
        return result
    }

    // MARK: - Plumbing

    func readFile(_ path: String) -> String? {
        BoundedFile.read(path).map { String(decoding: $0, as: UTF8.self) }
    }

    func listDirectory(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) { p in
                p.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// Runs a program, returning its exit status and its output (stdout, then stderr).
    func run(_ program: String, _ args: [String]) throws -> (Int32, String) {
        let o = try ExternalCommand.run(program, args, subsystem: .module, timeout: commandTimeout)
        return (o.status, o.stdout + o.stderr)
    }
}

fileprivate extension String {
    /// Drops leading and trailing characters that are in `set`.
    func trimmed(of set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }

    func replacingAll(_ a: String, with b: String) -> String {
        split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b)
    }
}
