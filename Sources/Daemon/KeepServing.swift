import Logging
import ServiceLifecycle

// MARK: - An HTTP endpoint whose port may be busy for a while
//
// kube-proxy's bindAddressHardFail. false (the default): a health or metrics server that cannot
// listen is logged and retried every 5 s, and the proxy itself keeps working; this matters when
// kube-ipvs replaces kube-proxy on a node, as for a moment both may want port 10256. true: the
// failure is fatal and the process exits (the DaemonSet restarts it), as upstream's server does.

/// Runs `server`, retrying its bind every `retryInterval` seconds while it fails, or failing at
/// once when `hardFail` is set.
public struct KeepServing: Service {
    public let server: HTTPServer
    public let logger: Logger
    public let retryInterval: Double
    /// bindAddressHardFail: a server that cannot listen ends the daemon instead of retrying.
    public let hardFail: Bool

    public init(_ server: HTTPServer, logger: Logger, retryInterval: Double = 5, hardFail: Bool = false) {
        self.server = server; self.logger = logger; self.retryInterval = retryInterval; self.hardFail = hardFail
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await server.run()
                return
            } catch let e as HTTPServerError {
                guard case .bindFailed = e.reason else { throw e }
                if hardFail {
                    logger.critical("\(e); exiting, as bindAddressHardFail is set")
                    throw e
                }
                logger.error("\(e); retrying in \(retryInterval)s")
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(retryInterval)) }
                } catch {
                    return
                }
            }
        }
    }
}
