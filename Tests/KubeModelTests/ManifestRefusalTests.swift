import Foundation
import XCTest
@testable import KubeModel

/// Text that is not YAML or JSON, nests too deep, expands through aliases far beyond its size or is
/// too large is refused whole: nothing of it reaches the snapshot (a sync would otherwise delete
/// the virtual servers of the Services it could not read).
final class ManifestRefusalTests: XCTestCase {
    let loader = ManifestLoader()

    static func service(_ name: String, _ ip: String) -> String {
        "apiVersion: v1\nkind: Service\nmetadata: {name: \(name)}\nspec: {clusterIP: \(ip), ports: [{port: 80}]}"
    }

    func testYAMLSyntaxErrorInDocumentTwoRefusesAllThree() throws {
        let text = [
            Self.service("a", "10.0.0.1"),
            "apiVersion: v1\nkind: Service\nmetadata: {name: b]\nspec: {clusterIP: 10.0.0.2, ports: [{port: 80}]}",
            Self.service("c", "10.0.0.3"),
        ].joined(separator: "\n---\n")
        let r = loader.parse(text: text, source: "three.yaml")
        XCTAssertEqual(r.snapshot, ClusterSnapshot(), "nothing of a refused text is used")
        XCTAssertEqual(r.refusals.count, 1, "\(r.refusals)")
        let refusal = try XCTUnwrap(r.refusals.first)
        XCTAssertEqual(refusal.source, "three.yaml")
        XCTAssertEqual(refusal.document, 2)
        XCTAssertEqual(refusal.line, 8, "\(refusal)")
        XCTAssertTrue(refusal.description.hasPrefix("three.yaml: document 2, line 8: not valid YAML or JSON: "), refusal.description)
    }

    func testJSONSyntaxErrorNamesTheLine() throws {
        let text = """
        {"apiVersion": "v1", "kind": "List", "items": [
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"clusterIP": "10.0.0.1", "ports": [{"port": 80}]}},
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"} "spec": {"clusterIP": "10.0.0.2", "ports": [{"port": 80}]}}
        ]}
        """
        let r = loader.parse(text: text, source: "list.json")
        XCTAssertEqual(r.snapshot, ClusterSnapshot())
        let refusal = try XCTUnwrap(r.refusals.first)
        XCTAssertEqual(refusal.document, 1)
        XCTAssertEqual(refusal.line, 3, "\(refusal)")
    }

    func testDuplicateKeyIsRefusedNamingItsDocument() throws {
        let text = Self.service("a", "10.0.0.1") + "\n---\n" + "kind: Service\nkind: Service\nmetadata: {name: b}\n"
        let r = loader.parse(text: text, source: "dup.yaml")
        XCTAssertEqual(r.snapshot, ClusterSnapshot())
        let refusal = try XCTUnwrap(r.refusals.first)
        XCTAssertEqual(refusal.document, 2, "\(refusal)")
        XCTAssertTrue(refusal.message.contains("duplicate key \"kind\""), refusal.message)
    }

    func testLoadThrowsWhenAnyFileOfADirectoryIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kube-ipvs-refusal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.service("a", "10.0.0.1").write(to: dir.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try "kind: Service\nmetadata: [name: b\n".write(to: dir.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try loader.load(paths: [dir.path])) { error in
            guard case ManifestError.refused(let list) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(list.map(\.source), [dir.appendingPathComponent("b.yaml").path])
            XCTAssertEqual(list.first?.document, 1)
            XCTAssertEqual(list.first?.line, 3)
        }
    }

    /// The billion laughs: ten levels of ten aliases each, 10^9 scalars once expanded.
    static let billionLaughs = """
    apiVersion: v1
    kind: Service
    metadata:
      name: lol
      annotations:
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
        i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]
    spec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}
    """

    func testAliasBombIsRefused() throws {
        let r = loader.parse(text: Self.billionLaughs, source: "bomb.yaml")
        XCTAssertEqual(r.snapshot, ClusterSnapshot())
        let refusal = try XCTUnwrap(r.refusals.first)
        XCTAssertEqual(refusal.document, 1)
        XCTAssertTrue(refusal.message.contains("aliases expand to more than"), refusal.message)
        XCTAssertTrue(refusal.message.contains("alias bomb"), refusal.message)
    }

    func testModestAliasesStillLoad() throws {
        let text = """
        apiVersion: v1
        kind: Service
        metadata: {name: a, labels: &labels {app: web, service.kubernetes.io/service-proxy-name: other}}
        spec: {clusterIP: 10.0.0.1, ports: &ports [{name: http, port: 80}, {name: https, port: 443}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: b, labels: *labels}
        spec: {clusterIP: 10.0.0.2, ports: *ports}
        """
        let r = loader.parse(text: text)
        XCTAssertEqual(r.refusals, [])
        XCTAssertEqual(r.snapshot.services.map(\.ref.name), ["a", "b"])
        XCTAssertEqual(r.snapshot.services[1].ports.map(\.port), [80, 443])
        // Only the label kube-ipvs reads is kept: it came through the alias.
        XCTAssertEqual(r.snapshot.services[1].labels, [serviceProxyNameLabel: "other"])
    }

    func testUndefinedAliasIsRefused() throws {
        let r = loader.parse(text: Self.service("a", "10.0.0.1") + "\n---\nkind: Service\nmetadata: *nothing\n")
        let refusal = try XCTUnwrap(r.refusals.first)
        XCTAssertEqual(refusal.document, 2)
        XCTAssertEqual(refusal.line, 7)
    }

    func testDeepNestingIsRefused() throws {
        let depth = 500  // below libyaml's own limit (1000), which refuses deeper text too
        let text = "kind: Service\nmetadata: {name: deep}\nspec: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
        let r = loader.parse(text: text, source: "deep.yaml")
        XCTAssertEqual(r.snapshot, ClusterSnapshot())
        let refusal = try XCTUnwrap(r.refusals.first)
        XCTAssertTrue(refusal.message.contains("nested deeper than \(ManifestLimits.maxDepth) levels"), refusal.message)
        XCTAssertEqual(refusal.line, 3)
        // The deepest nesting allowed still loads (as an object that does not decode).
        let ok = "kind: Node\nmetadata: {name: n, labels: {}}\nspec: " + String(repeating: "[", count: ManifestLimits.maxDepth - 1)
            + String(repeating: "]", count: ManifestLimits.maxDepth - 1) + "\n"
        XCTAssertEqual(loader.parse(text: ok).refusals, [])
    }

    func testTooLargeTextIsRefused() throws {
        var small = ManifestLoader()
        small.maxTextBytes = 64
        let text = Self.service("a", "10.0.0.1")
        XCTAssertGreaterThan(text.utf8.count, 64)
        let r = small.parse(text: text, source: "big.yaml")
        XCTAssertEqual(r.snapshot, ClusterSnapshot())
        XCTAssertEqual(r.refusals.map(\.description), ["big.yaml: larger than 64 bytes, the most one manifest file may hold"])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kube-ipvs-big-\(UUID().uuidString).yaml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        XCTAssertThrowsError(try small.load(paths: [file.path])) { error in
            guard case ManifestError.refused(let list) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(list.first?.message, "larger than 64 bytes, the most one manifest file may hold")
        }
    }
}
