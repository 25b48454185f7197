import Foundation
@testable import KubeClient
import KubeModel
import XCTest

/// Replays the corpora of the kubeconfig and watch-event fuzz targets (Fuzz/kubeconfig/corpus,
/// Fuzz/watch-event/corpus: seeds, hostile inputs and every crash found) as the targets do:
/// `ok-*` inputs must be read, `bad-*` ones refused with a clean error, and none may crash.
final class FuzzCorpusReplayTests: XCTestCase {
    static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func files(_ target: String) throws -> [URL] {
        let dir = fuzz.appendingPathComponent(target).appendingPathComponent("corpus")
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// The field each refused kubeconfig names (empty: the whole file).
    static let refusedFields: [String: String] = [
        "bad-empty.yaml": "", "bad-not-mapping.yaml": "", "bad-syntax.yaml": "", "bad-not-utf8.yaml": "",
        "bad-kind.yaml": "kind", "bad-no-current-context.yaml": "current-context",
        "bad-context-missing.yaml": "current-context", "bad-clusters-not-list.yaml": "clusters",
        "bad-server-url.yaml": "clusters[c].cluster.server", "bad-server-type.yaml": "clusters[c].cluster.server",
        "bad-ca-data.yaml": "clusters[c].cluster.certificate-authority-data",
        "bad-ca-not-pem.yaml": "clusters[c].cluster.certificate-authority-data",
        "bad-ca-device.yaml": "clusters[c].cluster.certificate-authority",
        "bad-ca-relative.yaml": "clusters[c].cluster.certificate-authority",
        "bad-insecure-value.yaml": "clusters[c].cluster.insecure-skip-tls-verify",
        "bad-exec.yaml": "users[u].user.exec", "bad-half-basic.yaml": "users[u].user.password",
        "bad-key-without-cert.yaml": "users[u].user.client-certificate",
        "bad-entry-not-mapping.yaml": "clusters[0]", "bad-anchors.yaml": "clusters[c].cluster.proxy-url",
    ]

    func testKubeconfigCorpus() throws {
        let files = try Self.files("kubeconfig")
        XCTAssertGreaterThanOrEqual(files.count, 20)
        var refused: [String: String] = [:]
        for file in files {
            let name = file.lastPathComponent
            do {
                let config = try KubeConfig.load(kubeconfigPath: file.path)
                XCTAssertTrue(name.hasPrefix("ok-"), "\(name) was read: \(config.server)")
            } catch let e as KubeConfigError {
                XCTAssertTrue(name.hasPrefix("bad-"), "\(name): \(e)")
                XCTAssertEqual(e.file, file.path, "\(name): the error names the file")
                XCTAssertFalse(e.message.isEmpty, name)
                refused[name] = e.field
            } catch {
                XCTFail("\(name): \(type(of: error)) instead of KubeConfigError: \(error)")
            }
        }
        for (name, field) in Self.refusedFields {
            XCTAssertEqual(refused[name], field, "\(name): the field named")
        }
        XCTAssertEqual(Set(refused.keys), Set(files.map(\.lastPathComponent).filter { $0.hasPrefix("bad-") }))
    }

    /// A device where a certificate should be: refused as unreadable, not read without end.
    func testDeviceFileIsRefused() throws {
        let file = Self.fuzz.appendingPathComponent("kubeconfig/corpus/bad-ca-device.yaml").path
        XCTAssertThrowsError(try KubeConfig.load(kubeconfigPath: file)) { e in
            XCTAssertEqual((e as? KubeConfigError)?.message, "cannot read: /dev/zero")
        }
    }

    func testWatchEventCorpus() throws {
        let files = try Self.files("watch-event")
        XCTAssertGreaterThanOrEqual(files.count, 10)
        for file in files {
            let name = file.lastPathComponent
            let bytes = Array(try Data(contentsOf: file))
            guard let kind = bytes.first else { continue }
            let body = Array(bytes.dropFirst())
            let outcome: (events: Int, errors: [String])
            switch kind {
            case UInt8(ascii: "s"): outcome = try Self.replay(ServiceResource.self, body)
            case UInt8(ascii: "e"): outcome = try Self.replay(EndpointSliceResource.self, body)
            case UInt8(ascii: "n"): outcome = try Self.replay(NodeResource.self, body)
            default: outcome = try Self.replay(EndpointsResource.self, body)
            }
            if name.hasPrefix("ok-") {
                XCTAssertEqual(outcome.errors, [], name)
                XCTAssertGreaterThan(outcome.events, 0, name)
            } else {
                XCTAssertFalse(outcome.errors.isEmpty, "\(name) decoded without an error")
                for e in outcome.errors { XCTAssertFalse(e.isEmpty, name) }
            }
        }
    }

    /// As the fuzz target: the body split into lines in 7-byte chunks, each line decoded.
    static func replay<T: KubeObject>(_ type: T.Type, _ body: [UInt8]) throws -> (events: Int, errors: [String]) {
        var splitter = LineSplitter(maximumLineLength: 1 << 20)
        var lines: [[UInt8]] = []
        var start = 0
        while start < body.count {
            let end = min(start + 7, body.count)
            lines += try splitter.append(body[start..<end])
            start = end
        }
        if let last = splitter.finish() { lines.append(last) }
        var events = 0
        var errors: [String] = []
        for line in lines {
            do {
                _ = try JSONDecoder().decode(WatchLine<T>.self, from: Data(line)).event
                events += 1
            } catch {
                errors.append(ListBodyDecoder.describe(error))
            }
        }
        return (events, errors)
    }
}
