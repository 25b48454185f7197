import Foundation
import XCTest
import KubeModel

/// Replays the fuzzing corpus (Fuzz/corpus: seeds, hostile inputs and every crash the fuzzers
/// found, see scripts/fuzz.sh) through the loader and the object decoding, as the fuzz targets do.
final class FuzzCorpusTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")

    static func files(_ target: String) throws -> [URL] {
        let dir = corpus.appendingPathComponent(target)
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    func testManifestCorpus() throws {
        let files = try Self.files("manifest")
        XCTAssertGreaterThanOrEqual(files.count, 10)
        var refused: Set<String> = []
        for file in files {
            let text = String(decoding: try Data(contentsOf: file), as: UTF8.self)
            let r = ManifestLoader().parse(text: text, source: file.lastPathComponent)
            if !r.refusals.isEmpty {
                refused.insert(file.lastPathComponent)
                XCTAssertEqual(r.snapshot, ClusterSnapshot(), "\(file.lastPathComponent): a refused text yields nothing")
            }
        }
        for name in ["billion-laughs.yaml", "syntax-error-doc2.yaml", "syntax-error.json", "duplicate-key.yaml", "deep.yaml"] {
            XCTAssertTrue(refused.contains(name), "\(name) is refused")
        }
        for name in ["web-service.yaml", "aliases.yaml", "hostile-names.yaml", "leading-zeros.yaml", "list.json", "numbers.yaml"] {
            XCTAssertFalse(refused.contains(name), "\(name) is read")
        }
    }

    func testObjectCorpus() throws {
        let files = try Self.files("objects")
        XCTAssertGreaterThanOrEqual(files.count, 4)
        var valid = 0
        for file in files {
            let data = try Data(contentsOf: file)
            guard let kind = data.first else { continue }
            let body = data.dropFirst()
            let decoder = JSONDecoder()
            func ok<V>(_ c: Checked<V>) -> Bool { if case .ok = c { return true } else { return false } }
            switch kind % 4 {
            case 0: if let r = try? decoder.decode(ServiceResource.self, from: body), ok(r.checked()) { valid += 1 }
            case 1: if let r = try? decoder.decode(EndpointSliceResource.self, from: body), ok(r.checked()) { valid += 1 }
            case 2: if let r = try? decoder.decode(EndpointsResource.self, from: body), ok(r.checked()) { valid += 1 }
            default: if let r = try? decoder.decode(NodeResource.self, from: body), ok(r.checked()) { valid += 1 }
            }
        }
        XCTAssertGreaterThanOrEqual(valid, 4, "the seeds of each kind are valid objects")
    }
}
