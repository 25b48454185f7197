// MARK: - Health-check node ports (externalTrafficPolicy: Local LoadBalancer Services)
//
// kube-proxy's ServiceHealthServer (pkg/proxy/healthcheck/service_health.go): for every
// LoadBalancer Service with externalTrafficPolicy Local, the cloud load balancer probes
// spec.healthCheckNodePort on each node and sends traffic only to nodes that answer 200, that is,
// nodes with a ready endpoint of the Service and a healthy proxy. Any path answers:
//
//   200 (or 503 when localEndpoints is 0 or the proxy is unhealthy)
//   Content-Type: application/json
//   X-Content-Type-Options: nosniff
//   X-Load-Balancing-Endpoint-Weight: <localEndpoints>
//   {
//   	"service": {
//   		"namespace": "ns",
//   		"name": "n"
//   	},
//   	"localEndpoints": 1,
//   	"serviceProxyHealthy": true
//   }
//
// (the body is upstream's tab-indented text). After each sync the loop hands over the ports and
// counts (`update`); a Service that appears gets a listener, one that goes away or changes port
// loses it. A port that cannot be bound is logged with the Service's name and retried every
// `retryInterval` seconds; the daemon carries on. Listeners are on every address (`:port`), as
// upstream's default; with nodePortAddresses set, on the node's NodePort addresses instead.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel
import Logging
import NIOCore
import NIOPosix
import ProxyCore
import ServiceLifecycle
import Synchronization

/// The health-check node port listeners, as a swift-service-lifecycle `Service`; thread-safe.
public final class ServiceHealthServers: Service, Sendable {
    /// What one listener does now.
    public enum ListenerState: Sendable, Equatable {
        /// Bound; the ports actually bound (one per host).
        case listening([Int])
        /// Binding failed; retried after `retryInterval`.
        case retrying(String)
    }

    /// Seconds between attempts to bind a port that failed.
    public let retryInterval: Double
    private let logger: Logger
    private let health: ProxyHealth
    private let group: any EventLoopGroup
    private let now: @Sendable () -> Double

    private struct Listener {
        var port: UInt16
        /// Tells this listener from an earlier one of the same Service that is still closing.
        var generation: Int
        var task: Task<Void, Never>
    }
    private struct State {
        var counts: [ObjectRef: Int] = [:]
        var listeners: [ObjectRef: Listener] = [:]
        var states: [ObjectRef: ListenerState] = [:]
        var hosts: [String] = [""]
        var generation = 0
        var stopped = false
    }
    private let state = Mutex(State())

    /// - Parameters:
    ///   - health: whose `isHealthy` is the answers' `serviceProxyHealthy`.
    ///   - now: the wall clock in seconds since the epoch (for `health`).
    public init(logger: Logger, health: ProxyHealth, retryInterval: Double = 5,
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.logger = logger; self.health = health; self.retryInterval = retryInterval
        self.group = eventLoopGroup; self.now = now
    }

    // MARK: - Inputs

    /// Makes `checks` the set served: listeners start for new Services, stop for Services gone,
    /// restart for a changed port or when `hosts` changes; counts are updated in place.
    /// `hosts`: addresses to listen on, `""` for every address.
    public func update(_ checks: [ObjectRef: HealthCheckNodePort], hosts: [String] = [""]) {
        var stopping: [Task<Void, Never>] = []
        var starting: [(ObjectRef, UInt16)] = []
        state.withLock { s in
            guard !s.stopped else { return }
            s.counts = checks.mapValues(\.localEndpoints)
            let hostsChanged = s.hosts != hosts
            s.hosts = hosts
            for (ref, l) in s.listeners where hostsChanged || checks[ref]?.port != l.port {
                stopping.append(l.task)
                s.listeners[ref] = nil
                s.states[ref] = nil
            }
            for (ref, c) in checks where s.listeners[ref] == nil { starting.append((ref, c.port)) }
        }
        for t in stopping { t.cancel() }
        for (ref, port) in starting.sorted(by: { $0.0 < $1.0 }) {
            state.withLock { s in
                guard !s.stopped, s.listeners[ref] == nil else { return }
                s.generation += 1
                let generation = s.generation
                // Stored before the task can report (it takes this lock), so no report is dropped.
                let task = Task { await self.serve(ref, port: port, hosts: hosts, generation: generation) }
                s.listeners[ref] = Listener(port: port, generation: generation, task: task)
            }
        }
    }

    /// Where the listeners listen: every address (`""`) by default, as upstream; when
    /// nodePortAddresses is set (CIDRs or `primary`), the node's NodePort addresses, as upstream's
    /// health server listens on the node IPs matching nodePortAddresses.
    public static func hosts(config: ProxyConfig, nodeAddresses: NodeAddressSelection) -> [String] {
        config.nodePortAddresses.isEmpty ? [""] : nodeAddresses.nodePortAddresses.map(\.description)
    }

    /// The state of each Service's listener (tests, status).
    public var listenerStates: [ObjectRef: ListenerState] { state.withLock { $0.states } }

    /// The `localEndpoints` currently reported for `ref` (nil when it has no health check).
    public func localEndpoints(_ ref: ObjectRef) -> Int? { state.withLock { $0.counts[ref] } }

    // MARK: - Serving

    /// Waits until graceful shutdown or cancellation, then closes every listener.
    public func run() async throws {
        try? await gracefulShutdown()
        await stop()
    }

    /// Closes every listener and accepts no more; returns once they are closed.
    public func stop() async {
        let tasks = state.withLock { s -> [Task<Void, Never>] in
            s.stopped = true
            let t = s.listeners.values.map(\.task)
            s.listeners = [:]
            s.states = [:]
            return t
        }
        for t in tasks { t.cancel() }
        for t in tasks { await t.value }
    }

    /// The answer for Service `ref`.
    func response(for ref: ObjectRef) -> HTTPResponse {
        let count = state.withLock { $0.counts[ref] } ?? 0
        let healthy = health.isHealthy(now: now())
        return HTTPResponse(status: count > 0 && healthy ? 200 : 503, contentType: "application/json",
                            text: Self.body(ref, localEndpoints: count, healthy: healthy),
                            headers: ["X-Load-Balancing-Endpoint-Weight": String(count)])
    }

    /// Upstream's body, byte for byte (the dedented, tab-indented template of service_health.go).
    static func body(_ ref: ObjectRef, localEndpoints: Int, healthy: Bool) -> String {
        "{\n\t\"service\": {\n\t\t\"namespace\": \(GoJSON.string(ref.namespace)),\n\t\t\"name\": \(GoJSON.string(ref.name))\n\t},\n"
            + "\t\"localEndpoints\": \(localEndpoints),\n\t\"serviceProxyHealthy\": \(healthy)\n}"
    }

    private func setState(_ ref: ObjectRef, generation: Int, _ value: ListenerState) {
        state.withLock { s in
            // Only the current listener of `ref` reports (a cancelled one may still be finishing).
            if s.listeners[ref]?.generation == generation { s.states[ref] = value }
        }
    }

    /// Binds `port` on every host and serves until cancelled; retries while binding fails.
    private func serve(_ ref: ObjectRef, port: UInt16, hosts: [String], generation: Int) async {
        let setting = "healthCheckNodePort of Service \(ref)"
        if hosts.isEmpty {
            logger.warning("\(setting): no node address matches nodePortAddresses; not listening on port \(port)")
            setState(ref, generation: generation, .listening([]))
            return
        }
        while !Task.isCancelled {
            let servers = hosts.map { host in
                HTTPServer(address: BindAddress(host: host, port: Int(port)), setting: setting, logger: logger,
                           eventLoopGroup: group) { _ in self.response(for: ref) }
            }
            do {
                var bound: [Int] = []
                for s in servers { bound.append(try await s.start()) }
                setState(ref, generation: generation, .listening(bound))
                try await withThrowingDiscardingTaskGroup { g in
                    for s in servers { g.addTask { try await s.run() } }
                }
                return  // cancelled: every server has closed its socket
            } catch {
                // Close what did bind before retrying (upstream's closeAll).
                for s in servers { await s.close() }
                if Task.isCancelled { return }
                let message = (error as? HTTPServerError)?.description ?? "\(setting): \(error)"
                logger.error("\(message); retrying in \(retryInterval)s")
                setState(ref, generation: generation, .retrying(message))
                try? await Task.sleep(for: .seconds(retryInterval))
            }
        }
    }
}
