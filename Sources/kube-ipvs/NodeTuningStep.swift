import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Kernel
import KernelPort
import KubeModel
import Logging
import ProxyCore

/// Node tuning as the commands do it (docs/kernel.md, "Node tuning"): `run` at start (conntrack,
/// conn_reuse_mode, its own oom_score_adj), `run --init-only` (the modules and sysctls of the
/// daemon's plan, then the same tuning, no oom_score_adj), `sync` (the tuning, no oom_score_adj).
enum NodeTuningStep {
    /// Environment for tests: a directory standing in for /proc and /sys (the CPU count, kernel
    /// release and conntrack values are read there), so that a dry-run's output does not depend on
    /// the machine that prints it.
    static let rootVariable = "KUBE_IPVS_NODE_ROOT"

    /// The tuner of this process.
    static func tuner() -> NodeTuner {
        let root = ProcessInfo.processInfo.environment[rootVariable] ?? ""
        return NodeTuner(prerequisites: Prerequisites(root: root))
    }

    /// The tuning `config` needs. With `readsNode` false (a dry-run for an empty node) the current
    /// values are unknown and every value is written; the CPU count and kernel are still this
    /// machine's. A timeout out of range is a validation error naming its field.
    static func plan(config: ProxyConfig, readsNode: Bool, tuner: NodeTuner = tuner()) throws -> (NodeTuningPlan, NodeTuningState) {
        var state = tuner.observe()
        if !readsNode { state.sysctls = [:]; state.hashsize = nil }
        do { return (try NodeTuning.plan(config: config, state: state), state) } catch let e as ConfigError {
            throw ValidationError(e.description)
        }
    }

    /// `plan` with the tuning's operations after its leading modprobes (the conntrack sysctls
    /// exist once nf_conntrack is loaded), for the dry-run's printout.
    static func merged(_ plan: Plan, _ tuning: NodeTuningPlan) -> Plan {
        var ops = plan.operations
        let at = ops.firstIndex { if case .loadModule = $0.operation { return false }; return true } ?? ops.count
        ops.insert(contentsOf: tuning.operations, at: at)
        return Plan(operations: ops)
    }

    /// Decides and writes the tuning; each write and warning goes to `log`. A failed write throws
    /// (exit status 1 for the command), naming the sysctl, as kube-proxy's start-up.
    static func apply(config: ProxyConfig, log: (Logger.Level, String) -> Void) throws {
        let tuner = tuner()
        var (plan, state) = try self.plan(config: config, readsNode: true, tuner: tuner)
        if tuner.needsConntrackModule(plan), !tuner.prerequisites.isLoaded(NodeTuning.hashsizeModule) {
            // Its sysctls appear with the module: load it and read them, so that only what differs is written.
            try? tuner.prerequisites.loadModule(NodeTuning.hashsizeModule)
            (plan, state) = try self.plan(config: config, readsNode: true, tuner: tuner)
        }
        for e in plan.errors { log(.error, e) }
        for n in plan.notes { log(.debug, n) }
        do {
            let report = try tuner.apply(plan, state: state)
            for w in report.written { log(.info, "node tuning: set \(w)") }
            for w in report.warnings { log(.warning, w) }
        } catch {
            log(.error, "could not set conntrack parameters from kube-proxy configuration: \(error)")
            throw ExitCode.failure
        }
    }

    /// `run`'s start: oom_score_adj of this process, then the node tuning. With --dry-run the
    /// tuning is printed as shell commands and the oom_score_adj change logged, nothing written.
    static func runStart(config: ProxyConfig, dryRun: Bool, againstNode: Bool, logger: Logger) throws {
        let tuner = tuner()
        if dryRun {
            let (plan, _) = try self.plan(config: config, readsNode: againstNode, tuner: tuner)
            for e in plan.errors { logger.error("\(e)") }
            if let v = config.oomScoreAdj {
                logger.info("--dry-run: would set oom_score_adj of this process to \(v) (now \(tuner.oomScoreAdj().map(String.init) ?? "unknown"))")
            }
            let title = ["kube-ipvs run --dry-run: node tuning at start (conntrack, conn_reuse_mode)"]
            StandardStream.output(ShellRenderer.render(Plan(operations: plan.operations), title: title))
            return
        }
        if let v = config.oomScoreAdj {
            // As upstream: a failure (no CAP_SYS_RESOURCE to lower it) is logged, not fatal.
            do {
                let r = try tuner.setOOMScoreAdj(v)
                if r.written { logger.info("oom_score_adj of this process set to \(v) (was \(r.was.map(String.init) ?? "unknown"))") }
            } catch let e as ConfigError {
                throw ValidationError(e.description)
            } catch {
                logger.warning("could not set oom_score_adj to \(v): \(error)")
            }
        }
        try apply(config: config) { level, line in logger.log(level: level, "\(line)") }
    }

    /// `run --init-only`: what must run with full root privileges, then exit (the DaemonSet's
    /// privileged init container): the modules and sysctls of the daemon's plan for an empty
    /// node, then the node tuning. With --dry-run, printed instead.
    static func initOnly(config: ProxyConfig, nodeName: String, dryRun: Bool, logger: Logger) throws {
        let prerequisites = tuner().prerequisites
        let desired = DesiredStateBuilder.build(snapshot: ClusterSnapshot(), config: config, node: NodeContext(name: nodeName))
        let loaded = dryRun ? [] : prerequisites.loadedModules()
        let modules = desired.modules.filter { !loaded.contains(Prerequisites.normalise($0)) }.map { PlannedOperation(.loadModule($0)) }
        let sysctls = desired.sysctls.filter { dryRun || prerequisites.readSysctl($0.name) != $0.value }
            .map { PlannedOperation(.setSysctl(name: $0.name, value: $0.value)) }
        if dryRun {
            // The order of the writes below: modules, node tuning, the daemon's sysctls.
            let (tuning, _) = try plan(config: config, readsNode: false)
            let title = ["kube-ipvs run --init-only --dry-run: the node preparation of an empty node \(nodeName)"]
            let all = merged(Plan(operations: modules + sysctls), tuning)
            StandardStream.output(ShellRenderer.render(all, title: title))
            return
        }
        func prepare(_ ops: [PlannedOperation]) throws {
            do { _ = try prerequisites.apply(ops.map(\.operation)) } catch {
                logger.error("init-only: \(error)")
                throw ExitCode.failure
            }
            for op in ops { logger.info("init-only: \(ShellRenderer.command(op.operation))") }
        }
        try prepare(modules)
        try apply(config: config) { level, line in logger.log(level: level, "init-only: \(line)") }
        try prepare(sysctls)
        logger.info("init-only: node prepared (\(modules.count) module(s) loaded, \(sysctls.count) daemon sysctl(s) set)")
    }
}
