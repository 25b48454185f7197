import KernelPort
import KubeModel
import ProxyCore
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Node tuning at start: read back, decide (NodeTuning), write what differs
//
// kube-proxy tunes the node once when it starts, not at every sync: conntrack sizing and timeouts
// and conn_reuse_mode (`run`, `run --init-only`, `sync`), and its own oom_score_adj (`run` only).
// A failed write is fatal, naming the sysctl, as upstream's start-up; the one exception is a
// read-only /sys when the hashsize has to grow (a container runtime's read-only sysfs), a warning
// as in kube-proxy 1.20 to 1.35, since the table still works, only with longer bucket chains.

/// What one node tuning did.
public struct NodeTuningReport: Sendable, Hashable {
    /// `name=value (was old)` for each value written.
    public var written: [String] = []
    /// Writes skipped with a warning (a read-only /sys).
    public var warnings: [String] = []
    public init() {}
}

/// Reads and writes node tuning under `root` (a fake /proc and /sys in tests).
public struct NodeTuner: Sendable {
    /// Module and sysctl access (its `root` is this tuner's).
    public var prerequisites: Prerequisites
    /// The kernel release to use instead of /proc/sys/kernel/osrelease (tests of older kernels).
    public var kernelRelease: String?

    public init(prerequisites: Prerequisites = Prerequisites(), kernelRelease: String? = nil) {
        self.prerequisites = prerequisites; self.kernelRelease = kernelRelease
    }

    var root: String { prerequisites.root }

    /// The node's values that node tuning decides on.
    public func observe() -> NodeTuningState {
        let release = kernelRelease ?? prerequisites.readFile(root + "/proc/sys/kernel/osrelease")
        return NodeTuningState(cpus: onlineCPUs(), kernel: release.flatMap { KernelVersion(release: $0) },
                               sysctls: prerequisites.readSysctls(NodeTuning.sysctlNames),
                               hashsize: prerequisites.readModuleParameter(NodeTuning.hashsizeModule, NodeTuning.hashsizeParameter))
    }

    /// The node's online CPUs from /sys/devices/system/cpu/online (the machine's, where the
    /// process's own count follows its cpuset), else the C library's count of online CPUs.
    public func onlineCPUs() -> Int {
        if let text = prerequisites.readFile(root + "/sys/devices/system/cpu/online"), let n = Self.countCPUList(text), n > 0 { return n }
        return Swift.max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// The number of CPUs in a kernel CPU list (`0-3,8,10-11` -> 7); nil when malformed.
    public static func countCPUList(_ text: String) -> Int? {
        var total = 0
        for item in text.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == " " }) {
            let ends = item.split(separator: "-", omittingEmptySubsequences: false)
            // CPU numbers are small; more than 7 digits is not a CPU list.
            guard ends.count <= 2, ends.allSatisfy({ !$0.isEmpty && $0.count <= 7 }),
                  let a = Int(ends[0]), let b = Int(ends[ends.count - 1]), a <= b else { return nil }
            total += b - a + 1
        }
        return total
    }

    /// Whether `plan` writes a sysctl or parameter of nf_conntrack.
    public func needsConntrackModule(_ plan: NodeTuningPlan) -> Bool {
        plan.operations.contains {
            switch $0.operation {
            case .setSysctl(let name, _): return name.hasPrefix("net.netfilter.nf_conntrack")
            case .setModuleParameter(let module, _, _): return module == NodeTuning.hashsizeModule
            default: return false
            }
        }
    }

    /// Loads nf_conntrack when `plan` writes one of its sysctls or parameters (they exist only
    /// once it is loaded), then makes each write in order. Throws the first failure.
    public func apply(_ plan: NodeTuningPlan, state: NodeTuningState) throws -> NodeTuningReport {
        var report = NodeTuningReport()
        if needsConntrackModule(plan) { try prerequisites.loadModule(NodeTuning.hashsizeModule) }
        for op in plan.operations {
            switch op.operation {
            case .setSysctl(let name, let value):
                try prerequisites.writeSysctl(name, value)
                report.written.append("\(name)=\(value) (was \(state.sysctls[name] ?? "unknown"))")
            case .setModuleParameter(let module, let parameter, let value):
                let path = prerequisites.moduleParameterPath(module, parameter)
                do {
                    try prerequisites.writeModuleParameter(module, parameter, value)
                    report.written.append("\(path.dropFirst(root.count))=\(value) (was \(state.hashsize ?? "unknown"))")
                } catch let e as KernelError where e.errno == EROFS {
                    report.warnings.append("/sys is read-only: cannot raise \(path.dropFirst(root.count)) to \(value); "
                                           + "conntrack lookups may slow down as the table fills (\(e))")
                }
            default:
                continue
            }
        }
        return report
    }

    // MARK: - oom_score_adj

    /// This process's oom_score_adj file.
    public var oomScoreAdjPath: String { root + "/proc/self/oom_score_adj" }

    /// This process's oom_score_adj; nil when unreadable.
    public func oomScoreAdj() -> Int32? {
        prerequisites.readFile(oomScoreAdjPath).flatMap { text in
            let t = text.split(whereSeparator: { $0 == "\n" || $0 == " " }).first.map(String.init) ?? ""
            return t.count <= 6 ? Int32(t) : nil
        }
    }

    /// Sets this process's oom_score_adj to `value` unless it already is; whether it wrote, and the
    /// value before. Lowering it needs CAP_SYS_RESOURCE (EACCES without).
    @discardableResult
    public func setOOMScoreAdj(_ value: Int32) throws -> (written: Bool, was: Int32?) {
        guard (-1000...1000).contains(value) else { throw ConfigError("oomScoreAdj", "\(value) is not within [-1000, 1000]") }
        let old = oomScoreAdj()
        if old == value { return (false, old) }
        let fd = open(oomScoreAdjPath, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw KernelError(subsystem: .sysctl, operation: "open", object: oomScoreAdjPath, errno: errno) }
        defer { close(fd) }
        let bytes = Array("\(value)\n".utf8)
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n != bytes.count {
            throw KernelError(subsystem: .sysctl, operation: "write", object: "\(oomScoreAdjPath)=\(value)", errno: n < 0 ? errno : EIO)
        }
        return (true, old)
    }
}
