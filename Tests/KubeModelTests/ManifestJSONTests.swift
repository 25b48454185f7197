import XCTest
@testable import KubeModel

/// Manifest decoding (YAML nodes -> JSON -> JSONDecoder): scalars resolved as YAML's core schema
/// does, scalars of the wrong type coerced where their text reads as the type expected, and JSON
/// text read directly with the same result as through the YAML parser.
final class ManifestJSONTests: XCTestCase {
    /// The loader reads JSON `text` directly and through the YAML parser the same way.
    func assertSameBothWays(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        let fast = ManifestLoader().parse(text: text)
        var slowLoader = ManifestLoader()
        slowLoader.fastPath = false
        let slow = slowLoader.parse(text: text)
        XCTAssertEqual(fast.snapshot, slow.snapshot, file: file, line: line)
        XCTAssertEqual(fast.diagnostics, slow.diagnostics, file: file, line: line)
        XCTAssertEqual(fast.warnings, slow.warnings, file: file, line: line)
        XCTAssertEqual(fast.ignoredKinds, slow.ignoredKinds, file: file, line: line)
        XCTAssertFalse(fast.snapshot.services.isEmpty, file: file, line: line)
    }

    func testJSONNumbers() {
        for t in ["0", "80", "-1", "1.5", "0.25", "1e3", "1E-3", "-0.5e+2"] { XCTAssertTrue(ManifestJSON.isJSONNumber(t), t) }
        for t in ["", "-", "+1", "01", "0x10", ".5", "1.", "1e", "1_000", "10.244.0.1", "80/TCP", "1.2.3", "inf", "0o14"] {
            XCTAssertFalse(ManifestJSON.isJSONNumber(t), t)
        }
    }

    func testScalarsBecomeJSONAsKubectlReadsThem() throws {
        let yaml = """
        a: 80
        b: "80"
        c: '80'
        d: true
        e: null
        f: ~
        g:
        h: 10.244.0.1
        i: "say \\"hi\\"\\\\ \\t"
        j: [1, x, {k: v}]
        l: yes
        m: |
          two
          lines
        """
        let node = try XCTUnwrap(YAMLComposer().compose(yaml))
        let data = try XCTUnwrap(ManifestJSON.json(node))
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(obj["a"] as? Int, 80)
        XCTAssertEqual(obj["b"] as? String, "80")
        XCTAssertEqual(obj["c"] as? String, "80")
        XCTAssertEqual(obj["d"] as? Bool, true)
        XCTAssertTrue(obj["e"] is NSNull && obj["f"] is NSNull && obj["g"] is NSNull)
        XCTAssertEqual(obj["h"] as? String, "10.244.0.1")
        XCTAssertEqual(obj["i"] as? String, "say \"hi\"\\ \t")
        XCTAssertEqual((obj["j"] as? [Any])?.count, 3)
        XCTAssertEqual(obj["l"] as? String, "yes")
        XCTAssertEqual(obj["m"] as? String, "two\nlines")  // clip chomping; the text ends without a newline
        // Keys order and duplicates: JSON text keeps the document's order.
        XCTAssertTrue(String(decoding: data, as: UTF8.self).hasPrefix("{\"a\":80,\"b\":\"80\""))
    }

    func testAliasesAreWrittenExpanded() throws {
        let node = try XCTUnwrap(YAMLComposer().compose("a: &x {b: 1}\nc: *x\n"))
        let data = try XCTUnwrap(ManifestJSON.json(node))
        XCTAssertEqual(String(decoding: data, as: UTF8.self), #"{"a":{"b":1},"c":{"b":1}}"#)
    }

    /// Manifests with every scalar form the fields see, valid and invalid: scalars of the wrong type
    /// are coerced where their text reads as the type expected, the others named in a diagnostic.
    func testScalarsOfTheWrongTypeAreCoercedWhereTheyRead() throws {
        let text = """
            apiVersion: v1
            kind: Service
            metadata: {name: quoted, namespace: ns, labels: {app: "1", tier: web}, annotations: {kube-ipvs.io/scheduler: "mh", x: "true"}}
            spec:
              type: LoadBalancer
              clusterIP: "10.0.0.5"
              clusterIPs: ["10.0.0.5"]
              ports: [{name: "80", port: "80", targetPort: "http", nodePort: 0x7560, protocol: TCP}]
              externalIPs: [192.0.2.1]
              externalTrafficPolicy: Local
              healthCheckNodePort: 31000
              sessionAffinity: ClientIP
              sessionAffinityConfig: {clientIP: {timeoutSeconds: "60"}}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: plain-name, namespace: ns}
            spec: {clusterIP: 10.0.0.6, ports: [{name: 8080, port: 80}]}
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: s1, namespace: ns, labels: {kubernetes.io/service-name: quoted}}
            addressType: IPv4
            ports: [{name: "80", port: 8080, protocol: TCP}]
            endpoints:
            - addresses: ["10.244.1.2"]
              conditions: {ready: yes, serving: null, terminating: false}
              nodeName: node1
            ---
            kind: Service
            metadata: {name: broken, namespace: ns}
            spec: {clusterIP: 10.0.0.7, ports: [{port: eighty}]}
            """
        let r = ManifestLoader().parse(text: text)
        let quoted = try XCTUnwrap(r.snapshot.services.first { $0.ref.name == "quoted" })
        XCTAssertEqual(quoted.ports.map(\.name), ["80"])
        XCTAssertEqual(quoted.ports.map(\.port), [80])
        XCTAssertEqual(quoted.ports.map(\.nodePort), [30048])
        XCTAssertEqual(quoted.affinityTimeout, 60)
        let plain = try XCTUnwrap(r.snapshot.services.first { $0.ref.name == "plain-name" })
        XCTAssertEqual(plain.ports.map(\.name), ["8080"])
        XCTAssertEqual(r.snapshot.endpointSets.flatMap(\.endpoints).map(\.ready), [true])
        XCTAssertEqual(r.diagnostics.map(\.object), ["ns/broken"])
        XCTAssertEqual(r.diagnostics.map(\.field), ["spec.ports[0].port"])
    }

    /// JSON text (`kubectl get -o json`) is decoded without the YAML parser; the result is the same,
    /// including when an object is invalid (checked after decoding) or does not decode (the whole
    /// text then goes the YAML way, for the same diagnostics).
    func testJSONTextSameResultBothWays() {
        let list = { (extra: String) in """
            {"apiVersion": "v1", "kind": "List", "items": [
              {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "ns"},
               "spec": {"clusterIP": "10.0.0.5", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}},
              {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "a-1", "namespace": "ns", "labels": {"kubernetes.io/service-name": "a"}},
               "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
               "endpoints": [{"addresses": ["10.244.1.2"], "conditions": {"ready": true}, "nodeName": "node1"}]},
              {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"}, "status": {"addresses": [{"type": "InternalIP", "address": "192.168.50.2"}]}},
              {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}\(extra)
            ]}
            """ }
        let cases = [
            list(""),
            // Decodes, then fails validation: reported by the JSON path itself.
            list(#", {"kind": "Service", "metadata": {"name": "bad-ip", "namespace": "ns"}, "spec": {"clusterIP": "10.0.0.300", "ports": [{"port": 80}]}}"#),
            // Does not decode (a string port): the YAML path reads everything.
            list(#", {"kind": "Service", "metadata": {"name": "str-port", "namespace": "ns"}, "spec": {"clusterIP": "10.0.0.9", "ports": [{"port": "eighty"}]}}"#),
            // No kind.
            list(#", {"metadata": {"name": "x"}}"#),
            #"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "single"}, "spec": {"clusterIP": "10.0.0.7", "ports": [{"port": 53, "protocol": "UDP"}]}}"#,
        ]
        for text in cases { assertSameBothWays(text) }
        let bad = ManifestLoader().parse(text: cases[2])
        XCTAssertEqual(bad.diagnostics.map(\.object), ["ns/str-port"])
        XCTAssertEqual(bad.diagnostics.map(\.field), ["spec.ports[0].port"])
    }
}
