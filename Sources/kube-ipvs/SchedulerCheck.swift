import Kernel
import KubeModel
import ProxyCore

/// Which IPVS schedulers the node lacks, asked the way the daemon asks, for the one-shot commands.
enum SchedulerCheck {
    /// The schedulers of `services` the kernel lacks; `load` lets modprobe load them (`sync`),
    /// else it only asks (`modprobe -n`: dry-runs and `status` change nothing).
    static func unavailable(_ services: [ServiceInfo], config: ProxyConfig, load: Bool) -> Set<String> {
        Prerequisites().missingSchedulers(DesiredStateIndex.schedulersInUse(config: config, annotated: services.compactMap(\.scheduler)), load: load)
    }

    /// One warning line per Service served with a fallback scheduler.
    static func warnFallbacks(_ services: [ServiceInfo], config: ProxyConfig, node: NodeContext) {
        for svc in services {
            if let f = DesiredStateBuilder.schedulerFallback(service: svc, config: config, node: node) {
                printError("warning: Service \(svc.ref): \(f)")
            }
        }
    }
}
