import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Kernel

/// How the commands that change the node take the node lock (`NodeLock`).
enum NodeLocking {
    /// The environment variable that overrides how long a command waits for the lock, in seconds.
    static let timeoutVariable = "KUBE_IPVS_LOCK_TIMEOUT"
    /// `run`: a rolling update starts the new pod while the old one may still be stopping (it has
    /// terminationGracePeriodSeconds, 30 s in deploy/, to exit), so wait longer than that.
    static let runTimeout = 60.0
    /// `sync` and `cleanup`, run by hand or by a script right after stopping the daemon.
    static let commandTimeout = 5.0

    /// The wait: `$KUBE_IPVS_LOCK_TIMEOUT` when set (0-3600 seconds), else `defaultTimeout`.
    static func timeout(environment: [String: String], defaultTimeout: Double) throws -> Double {
        guard let text = environment[timeoutVariable], !text.isEmpty else { return defaultTimeout }
        guard let v = Double(text), v.isFinite, (0...3600).contains(v) else {
            throw ValidationError("\(timeoutVariable): \"\(text)\" is not a number of seconds from 0 to 3600")
        }
        return v
    }

    /// Takes the node lock for `command` (`run`, `sync`, `cleanup`), waiting up to its timeout;
    /// `waiting` reports once that another process holds it. On failure the message (naming the
    /// holder's pid) is printed on standard error and the command exits with status 1.
    static func take(command: String, defaultTimeout: Double,
                     waiting: ((String) -> Void)? = nil) throws -> NodeLock {
        let env = ProcessInfo.processInfo.environment
        let path = NodeLock.configuredPath(environment: env)
        let timeout = try self.timeout(environment: env, defaultTimeout: defaultTimeout)
        let report = waiting ?? { printError("kube-ipvs \(command): \($0)") }
        do {
            return try NodeLock.acquire(path: path, holder: "kube-ipvs \(command)", timeout: timeout) { holder in
                report("the node lock \(path) is held by \(holder); waiting up to \(NodeLock.seconds(timeout)) s")
            }
        } catch let e as NodeLockError {
            printError("error: \(e)")
            throw ExitCode.failure
        }
    }
}
