import Foundation
import KubeClient
import KubeFakeAPI
import KubeModel
import TestSupport
import XCTest

// MARK: - Objects, files and clients for the KubeClient tests

/// A Service as the API server would send it.
func serviceJSON(_ name: String, namespace: String = "default", clusterIP: String = "10.96.0.10", port: Int = 80) -> Data {
    Data("""
    {"apiVersion":"v1","kind":"Service","metadata":{"name":"\(name)","namespace":"\(namespace)","uid":"u-\(name)"},
     "spec":{"type":"ClusterIP","clusterIP":"\(clusterIP)","ports":[{"name":"http","protocol":"TCP","port":\(port),"targetPort":8080}]},
     "status":{"loadBalancer":{}}}
    """.utf8)
}

func nodeJSON(_ name: String, address: String) -> Data {
    Data("""
    {"apiVersion":"v1","kind":"Node","metadata":{"name":"\(name)","labels":{"kubernetes.io/hostname":"\(name)"}},
     "spec":{"podCIDR":"10.244.1.0/24"},"status":{"addresses":[{"type":"InternalIP","address":"\(address)"}]}}
    """.utf8)
}

func sliceJSON(_ name: String, service: String, address: String) -> Data {
    Data("""
    {"apiVersion":"discovery.k8s.io/v1beta1","kind":"EndpointSlice","metadata":{"name":"\(name)","namespace":"default",
     "labels":{"kubernetes.io/service-name":"\(service)"}},"addressType":"IPv4",
     "endpoints":[{"addresses":["\(address)"],"conditions":{"ready":true},"topology":{"kubernetes.io/hostname":"n1"}}],
     "ports":[{"name":"http","port":8080,"protocol":"TCP"}]}
    """.utf8)
}

/// A fresh temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> String {
    let dir = NSTemporaryDirectory() + "kubeclient-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

func write(_ text: String, to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

/// Client options for tests: short timeouts.
func fastOptions(requestTimeout: Double = 2, tokenRecheck: Double = 60) -> APIClient.Options {
    var o = APIClient.Options()
    o.requestTimeout = requestTimeout
    o.connectTimeout = 2
    o.tokenRecheckInterval = tokenRecheck
    return o
}

/// Reflector options for tests: quick retries without jitter, diagnostics collected.
func fastReflectorOptions(_ diagnostics: DiagnosticLog? = nil, idle: Double? = nil) -> ReflectorOptions {
    var o = ReflectorOptions()
    o.backoff = Backoff(initial: 0.05, maximum: 0.2, factor: 2, jitter: 0)
    o.pageSize = 2
    o.watchIdleTimeout = idle
    o.healthyWatchDuration = 5
    if let diagnostics { o.onDiagnostic = { d in diagnostics.append(d) } }
    return o
}

/// Diagnostics a reflector reported, as text.
final class DiagnosticLog: Sendable {
    private let lines = Locked<[String]>([])
    func append(_ d: ReflectorDiagnostic) { lines.mutate { $0.append(d.description) } }
    var all: [String] { lines.value }
}

/// Records reflector events as short strings: `replaced[a,b]`, `added a@105`, ...
actor EventLog {
    private(set) var events: [String] = []

    func record<T: KubeObject>(_ e: ReflectorEvent<T>) {
        func id(_ o: T) -> String {
            "\(o.metadata?.name ?? "?")@\(o.metadata?.resourceVersion ?? "?")"
        }
        switch e {
        case .replaced(let items): events.append("replaced[\(items.map { $0.metadata?.name ?? "?" }.joined(separator: ","))]")
        case .added(let o): events.append("added \(id(o))")
        case .modified(let o): events.append("modified \(id(o))")
        case .deleted(let o): events.append("deleted \(id(o))")
        }
    }

    /// Waits until `condition` holds on the events (polling), failing after `timeout` seconds.
    func wait(timeout: Double = 10, file: StaticString = #filePath, line: UInt = #line,
              _ condition: @Sendable ([String]) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition(events) {
            if Date() > deadline {
                XCTFail("timed out; events so far: \(events)", file: file, line: line)
                throw CancellationError()
            }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }
}

/// Runs a reflector in a task, recording its events; cancel the returned task to stop it.
func startReflector<T: KubeObject>(_ reflector: Reflector<T>, into log: EventLog) -> Task<Void, Never> {
    Task { await reflector.run { e in await log.record(e) } }
}

/// Watch requests seen by the fake server for `path`, in order.
func watchRequests(_ fake: FakeKubeAPI, _ path: String) -> [FakeRequest] {
    fake.requests.filter { $0.path == path && $0.isWatch }
}

func listRequests(_ fake: FakeKubeAPI, _ path: String) -> [FakeRequest] {
    fake.requests.filter { $0.path == path && !$0.isWatch }
}
