import ArgumentParser
import NIOConcurrencyHelpers
import Daemon
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Kernel
import KernelPort
import KubeClient
import KubeModel
import Logging
import ProxyCore
import Reconciler
import ServiceLifecycle

/// Log levels of `--log-level`.
extension Logger.Level: @retroactive ExpressibleByArgument {}

extension KubeIPVS {
    /// `kube-ipvs run`: the per-node daemon.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Watch the API server and keep this node's IPVS, ipsets and KUBE-* chains in step (the DaemonSet's command).",
            discussion: """
            Lists and watches Services, EndpointSlices (discovery.k8s.io/v1, or v1beta1 on older \
            servers; core/v1 Endpoints with --endpoints-source=endpoints) and this node's Node \
            object. Nothing is programmed until every first list has arrived. Changes are \
            coalesced and applied at most once per minSyncPeriod, planning only the Services that \
            changed; every syncPeriod the kernel is read again and everything is planned, which \
            repairs changes made by others. TCP real servers of removed endpoints are drained \
            (weight 0) and deleted once they have no connections; UDP ones are deleted at once, \
            with the conntrack entries that still point at them.

            Serves /healthz and /livez on the healthz bind address and Prometheus /metrics on the \
            metrics bind address, and for every LoadBalancer Service with externalTrafficPolicy \
            Local its healthCheckNodePort (200 with the count of ready endpoints on this node, 503 \
            when there is none). SIGTERM and SIGINT stop the daemon and leave the kernel state as \
            it is; the next start applies only what changed meanwhile.

            The node's addresses (NodePort addresses, externalIPs already local) are read at every \
            sync; with --dry-run, the Node object's InternalIP and ExternalIP addresses stand in \
            (the node's own with --against-node).

            API access: --kubeconfig, else clientConnection.kubeconfig of --config, else the \
            in-cluster service account (KUBERNETES_SERVICE_HOST/PORT, token re-read on rotation).

            With --dry-run nothing is written to the kernel: each sync is printed as shell \
            commands, planned against an in-memory copy of an empty node (or of this node's state \
            at start with --against-node), and the health-check node ports answer 503.

            At start, as kube-proxy: its own oom_score_adj (oomScoreAdj), the conntrack table \
            size and timeouts and conn_reuse_mode on 4.1-5.8 kernels, each written only when it \
            differs; a failed conntrack write stops it. --init-only does the node preparation of the \
            DaemonSet's privileged init container (modules, sysctls, that tuning) and exits.

            One writer per node: run, sync and cleanup take the node lock (/run/kube-ipvs.lock, or \
            $KUBE_IPVS_LOCK_FILE). run waits up to 60 s for it ($KUBE_IPVS_LOCK_TIMEOUT), then \
            exits with status 1 naming the holder's pid; --dry-run takes no lock.

            kube-proxy's command line works unchanged (run as `kube-proxy`, or `kube-ipvs` followed \
            by kube-proxy's flags, is `kube-ipvs run`; with --cleanup, `kube-ipvs cleanup`): \
            `--flag value`, `--flag=value`, `--bool`, `--bool=false`, `-v=2` and `-v 2`. \
            --proxy-mode ipvs (or empty) is accepted with a warning, any other mode is an error. \
            These kube-proxy flags are accepted, each with one warning line saying why it has no \
            effect: \(KubeProxyFlags.ignoredList). docs/migration.md lists every kube-proxy flag.
            """
        )

        @OptionGroup var proxy: ProxyOptions

        @OptionGroup var kubeProxy: KubeProxyOptions

        @Option(name: .customLong("kubeconfig"), help: "A kubeconfig file (default: clientConnection.kubeconfig, else in-cluster).")
        var kubeconfig: String?

        @Option(name: .customLong("context"), help: "The kubeconfig context to use (default: its current-context).")
        var context: String?

        @Option(name: .customLong("endpoints-source"), help: "Where endpoints come from: endpointslices or endpoints (core/v1, the legacy API).")
        var endpointsSource: String = EndpointsSourceKind.endpointSlices.rawValue

        @Option(name: .customLong("healthz-bind-address"), help: "Address and port of /healthz and /livez (healthzBindAddress; default 0.0.0.0:10256).")
        var healthzBindAddress: String?

        @Option(name: .customLong("metrics-bind-address"), help: "Address and port of /metrics (metricsBindAddress; default 127.0.0.1:10249).")
        var metricsBindAddress: String?

        @Option(name: .customLong("ipvs-sync-period"), help: "Longest time between full resyncs, e.g. 30s (syncPeriod).")
        var syncPeriod: String?

        @Option(name: .customLong("ipvs-min-sync-period"), help: "Shortest time between syncs, e.g. 1s (minSyncPeriod).")
        var minSyncPeriod: String?

        @OptionGroup var kernelOptions: KernelOptions

        @Flag(name: .customLong("dry-run"), help: "Write nothing to the kernel; print each sync as shell commands.")
        var dryRun = false

        @Flag(name: .customLong("against-node"), help: "With --dry-run: start from this node's kernel state instead of an empty node.")
        var againstNode = false

        @Flag(name: .customLong("init-only"), help: "Prepare the node (modules, sysctls, conntrack tuning) as the privileged init container must, then exit.")
        var initOnly = false

        @Option(name: .customLong("v"), help: "klog-style verbosity: 0-3 info, 4-5 debug, 6 and more trace (default 2).")
        var verbosity: Int?

        @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (wins over --v).")
        var logLevel: Logger.Level?

        func validate() throws {
            if EndpointsSourceKind(rawValue: endpointsSource) == nil {
                throw ValidationError("--endpoints-source: \"\(endpointsSource)\" is not endpointslices or endpoints")
            }
            if againstNode && !dryRun { throw ValidationError("--against-node goes with --dry-run.") }
        }

        private func loadConfig() throws -> ProxyConfig {
            var c = try proxy.load()
            do {
                try kubeProxy.apply(to: &c)
                c.healthzBindAddress = try KubeProxyOptions.bindAddress(healthzBindAddress ?? c.healthzBindAddress, portFlag: kubeProxy.healthzPort,
                                                                        defaultPort: 10256, flag: "--healthz-port")
                c.metricsBindAddress = try KubeProxyOptions.bindAddress(metricsBindAddress ?? c.metricsBindAddress, portFlag: kubeProxy.metricsPort,
                                                                        defaultPort: 10249, flag: "--metrics-port")
            } catch let e as ConfigError {
                throw ValidationError(e.description)
            }
            if let v = verbosity { c.logVerbosity = v }
            if let v = kubeconfig, !v.isEmpty { c.kubeconfig = v }
            if let v = syncPeriod {
                guard let d = GoDuration.parse(v), d > 0 else { throw ValidationError("--ipvs-sync-period: \"\(v)\" is not a positive duration (like 30s)") }
                c.syncPeriod = d
            }
            if let v = minSyncPeriod {
                guard let d = GoDuration.parse(v), d >= 0 else { throw ValidationError("--ipvs-min-sync-period: \"\(v)\" is not a duration (like 1s)") }
                c.minSyncPeriod = d
            }
            return c
        }

        private func loadKubeConfig(_ config: ProxyConfig) throws -> KubeConfig {
            do {
                // An empty --kubeconfig is kube-proxy's default: none (in-cluster, or --master alone).
                let path = [kubeconfig, config.kubeconfig].compactMap { $0 }.first { !$0.isEmpty }
                if let master = config.master {
                    // As upstream: the kubeconfig with its server replaced, or (none given) the
                    // server alone, without credentials.
                    var k = try path.map { try KubeConfig.load(kubeconfigPath: $0, context: context) } ?? KubeConfig(server: "")
                    k.server = try Self.masterURL(master, secure: path != nil)
                    return k
                }
                if let path {
                    return try KubeConfig.load(kubeconfigPath: path, context: context)
                }
                return try KubeConfig.inCluster()
            } catch let e as KubeConfigError {
                throw ValidationError("\(e)")
            }
        }

        /// `--master`'s URL; without a scheme, https with a kubeconfig's credentials, else http (client-go's default).
        static func masterURL(_ text: String, secure: Bool) throws -> String {
            let url = text.contains("://") ? text : (secure ? "https://" : "http://") + text
            guard let u = URL(string: url), let scheme = u.scheme?.lowercased(), scheme == "https" || scheme == "http",
                  let host = u.host, !host.isEmpty else {
                throw ValidationError("--master: \"\(text)\" is not an http(s) URL with a host")
            }
            return url.hasSuffix("/") ? String(url.dropLast()) : url
        }

        private func level(_ config: ProxyConfig) -> Logger.Level {
            if let logLevel { return logLevel }
            switch config.logVerbosity ?? 2 {
            case ...3: return .info
            case 4...5: return .debug
            default: return .trace
            }
        }

        func run() async throws {
            let fileLimit = OpenFileLimit.raiseToHard()
            // The --config file as read, before it is parsed: a change after this restarts the daemon.
            let configContent = proxy.configFile.flatMap(ConfigFileWatcher.snapshot)
            let config = try loadConfig()
            let level = self.level(config)
            let json = config.logFormat == "json"
            LoggingSystem.bootstrap { label in
                if json { return JSONLogHandler(label: label, level: level) }
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = level
                return h
            }
            let logger = Logger(label: "kube-ipvs")
            for w in KubeProxyArgv.pending.take() { logger.warning("\(w)") }
            let flagGates = (try? KubeProxyOptions.featureGates(kubeProxy.featureGates ?? "")) ?? [:]
            for (gate, on) in flagGates.sorted(by: { $0.key < $1.key }) {
                logger.warning("feature gate \(gate)=\(on) has no effect: kube-ipvs has one fixed feature set (docs/migration.md)")
            }
            if let path = kubeProxy.writeConfigTo {
                // As kube-proxy: write the configuration it would run with, then exit; nothing else starts.
                do { try Data(config.kubeProxyConfigurationYAML().utf8).write(to: URL(fileURLWithPath: path)) } catch {
                    logger.error("--write-config-to \(path): cannot write the file: \(error)")
                    throw ExitCode.failure
                }
                logger.info("wrote the configuration to \(path)")
                return
            }
            // --init-only needs no API access: the init container has none of the daemon's settings for it.
            if initOnly { return try NodeTuningStep.initOnly(config: config, nodeName: proxy.nodeName(config), dryRun: dryRun, logger: logger) }
            let kube = try loadKubeConfig(config)
            if let l = fileLimit, l.after != l.before { logger.info("open file limit (RLIMIT_NOFILE) raised from \(l.before) to \(l.after)") }
            // One writer per node: the daemon holds the node lock for its whole life (a dry-run writes
            // nothing and takes none). Waiting covers a rolling update's old pod still stopping.
            let lock = dryRun ? nil : try NodeLocking.take(command: "run", defaultTimeout: NodeLocking.runTimeout) { logger.warning("\($0)") }
            defer { withExtendedLifetime(lock) {} }
            try NodeTuningStep.runStart(config: config, dryRun: dryRun, againstNode: againstNode, logger: logger)
            let nodeName = proxy.nodeName(config)
            let settings = DaemonSettings(config: config, nodeName: nodeName, kubeConfig: kube,
                                          endpointsSource: EndpointsSourceKind(rawValue: endpointsSource)!)

            let makeKernel: @Sendable () throws -> ProxyLoop.Kernel
            if dryRun {
                let start: ObservedState
                let againstNode = self.againstNode
                if againstNode {
                    start = try ProxyDaemon.nodeKernel(config: config, flavor: kernelOptions.flavor()).observe(families: ProxyLoop.families(for: config))
                } else {
                    start = .emptyNode
                }
                let counter = Counter()
                makeKernel = {
                    // Against the node: its own addresses (read-only); else the Node object's.
                    let addresses: NodeAddressSource? = againstNode ? try LinkAddressSource() : nil
                    return InMemoryKernel(state: start, addresses: addresses) { plan in
                        let n = counter.next()
                        let title = ["kube-ipvs run --dry-run: sync \(n) of node \(nodeName)"]
                        StandardStream.output(ShellRenderer.render(plan, title: title))
                    }
                }
            } else {
                let flavor = kernelOptions.flavor()
                logger.info("iptables flavour: \(flavor)")
                if let w = Prerequisites().bridgeNetfilterWarning() { logger.warning("\(w)") }
                makeKernel = { try ProxyDaemon.nodeKernel(config: config, flavor: flavor) }
            }

            // Health and metrics: bad addresses fail here, naming the setting; a busy port is retried.
            let health = ProxyHealth(syncPeriod: config.syncPeriod)
            let metrics = ProxyMetrics(families: ProxyLoop.families(for: config))
            let healthChecks = ServiceHealthServers(logger: logger, health: health)
            // An empty address disables that server, as kube-proxy's "Set empty to disable".
            let healthServer: HTTPServer?, metricsServer: HTTPServer?
            do {
                healthServer = config.healthzBindAddress.isEmpty ? nil : try HTTPServer.healthServer(bind: config.healthzBindAddress, setting: healthzBindAddress == nil ? "healthzBindAddress" : "--healthz-bind-address",
                                                           health: health, metrics: metrics, logger: logger)
                let configz = config.configzJSON()
                metricsServer = config.metricsBindAddress.isEmpty ? nil : try HTTPServer.metricsServer(bind: config.metricsBindAddress, setting: metricsBindAddress == nil ? "metricsBindAddress" : "--metrics-bind-address",
                                                             metrics: metrics, configz: { configz }, logger: logger)
            } catch let e as HTTPServerError {
                throw ValidationError("\(e)")
            }

            var clientOptions = APIClient.Options()
            clientOptions.rateLimit = (qps: Double(config.clientQPS), burst: Int(config.clientBurst))
            clientOptions.encoding = APIEncoding(contentType: config.contentType)
            if level <= .trace { clientOptions.trace = { logger.trace("\($0)") } }
            let daemon = ProxyDaemon(settings: settings, logger: logger,
                                     hooks: Self.hooks(health: health, metrics: metrics, healthChecks: healthChecks, config: config, dryRun: dryRun),
                                     clientOptions: clientOptions, makeKernel: makeKernel)
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: daemon), .init(service: healthChecks)]
                + [healthServer, metricsServer].compactMap { $0.map { .init(service: KeepServing($0, logger: logger, hardFail: config.bindAddressHardFail)) } }
            // As kube-proxy: a changed --config file ends the process, so that its restart reads it.
            if let path = proxy.configFile, let configContent {
                services.append(.init(service: ConfigFileWatcher(path: path, content: configContent, logger: logger)))
            }
            let group = ServiceGroup(configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
            try await group.run()
        }
    }
}

extension KubeIPVS.Run {
    /// The daemon's reporting. With --dry-run the health-check node ports answer as if no endpoint
    /// were local (503): nothing is programmed, so no load balancer may send traffic here.
    static func hooks(health: ProxyHealth, metrics: ProxyMetrics, healthChecks: ServiceHealthServers,
                      config: ProxyConfig, dryRun: Bool) -> DaemonHooks {
        guard dryRun else { return .reporting(to: health, metrics: metrics, healthChecks: healthChecks, config: config) }
        var hooks = DaemonHooks.reporting(to: health, metrics: metrics, healthChecks: nil, config: config)
        let report = hooks.syncFinished
        hooks.syncFinished = { result, now in
            if !result.reap, let local = result.localEndpoints {
                let none = local.healthChecks.mapValues { HealthCheckNodePort(port: $0.port, localEndpoints: 0) }
                healthChecks.update(none, hosts: ServiceHealthServers.hosts(config: config, nodeAddresses: result.nodeAddresses))
            }
            report(result, now)
        }
        return hooks
    }
}

/// Numbers the dry-run's syncs.
private final class Counter: @unchecked Sendable {
    private let lock = NIOLock()
    private var n = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
}
