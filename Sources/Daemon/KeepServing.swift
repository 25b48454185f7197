import Logging
import ServiceLifecycle

// MARK: - An HTTP endpoint whose port may be busy for a while
//
// kube-proxy's default (bindAddressHardFail: false): a health or metrics address that cannot be
// bound is logged and retried every 5 s; the proxy itself keeps working. This matters when
// kube-ipvs replaces kube-proxy on a node: for a moment both may want port 10256.

/// Runs `server`, retrying its bind every `retryInterval` seconds while it fails.
public struct KeepServing: Service {
    public let server: HTTPServer
    public let logger: Logger
    public let retryInterval: Double

    public init(_ server: HTTPServer, logger: Logger, retryInterval: Double = 5) {
        self.server = server; self.logger = logger; self.retryInterval = retryInterval
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await server.run()
                return
            } catch let e as HTTPServerError {
                guard case .bindFailed = e.reason else { throw e }
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
