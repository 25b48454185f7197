import Foundation
import KernelPort
import KubeClient
import KubeModel
import XCTest
@testable import Daemon
@testable import Reconciler

/// docs/metrics.md lists exactly the metrics /metrics exposes: no undocumented metric, no stale row.
final class MetricsDocsTests: XCTestCase {
    /// The metric names in the first column of the tables under "## /metrics".
    func documentedNames() throws -> Set<String> {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/metrics.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        guard let start = text.range(of: "\n## /metrics\n") else { throw XCTSkip("no /metrics section") }
        var names: Set<String> = []
        for line in text[start.upperBound...].split(separator: "\n") {
            if line.hasPrefix("## ") { break }
            guard line.hasPrefix("| `"), let end = line.dropFirst(3).firstIndex(of: "`") else { continue }
            names.insert(String(line[line.index(line.startIndex, offsetBy: 3)..<end]))
        }
        return names
    }

    /// Every metric, lazily created ones included, after one event of each kind.
    func exposedNames() throws -> Set<String> {
        let m = ProxyMetrics(families: [.ipv4, .ipv6])
        var failed = SyncResult(full: true, operations: [:], elapsed: .milliseconds(1), servicesRecomputed: 0, error: "x", oldestChange: nil)
        failed.kernelErrors = [KernelError(subsystem: .iptables, operation: "iptables-restore", object: "IPv4 nat")]
        m.syncFinished(failed, at: 1)
        m.invalidObject(resource: "Service")
        m.healthProbe(.healthz, code: 200)
        m.healthProbe(.livez, code: 200)
        m.restClient.observe(APIRequestEvent(verb: "GET", host: "h:1", kind: .result(code: 200)))
        m.restClient.observe(APIRequestEvent(verb: "GET", host: "h:1", kind: .latency(seconds: 0.1)))
        return Set(try Exposition(m.render()).types.keys)
    }

    func testDocsListExactlyTheExposedMetrics() throws {
        let documented = try documentedNames(), exposed = try exposedNames()
        XCTAssertEqual(exposed.subtracting(documented), [], "exposed but not in docs/metrics.md")
        XCTAssertEqual(documented.subtracting(exposed), [], "in docs/metrics.md but not exposed")
        XCTAssertGreaterThan(documented.count, 25)
    }
}
