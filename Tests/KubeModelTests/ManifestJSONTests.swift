import XCTest
import Yams
@testable import KubeModel

/// The fast path of manifest decoding (YAML nodes -> JSON -> JSONDecoder) must read every manifest
/// as Yams' own decoder does: same objects, same diagnostics.
final class ManifestJSONTests: XCTestCase {
    /// The loader with its fast paths and Yams alone read `text` the same way.
    func assertSameAsYams(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
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
        let node = try XCTUnwrap(Yams.compose(yaml: yaml, .basic))
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

    func testAliasesAreLeftToYams() throws {
        let node = try XCTUnwrap(Yams.compose(yaml: "a: &x {b: 1}\nc: *x\n", .basic))
        // Yams dereferences aliases while composing, or keeps an alias node: either way the
        // walk gives valid JSON or nothing.
        if let data = ManifestJSON.json(node) { XCTAssertNoThrow(try JSONSerialization.jsonObject(with: data)) }
    }

    /// Manifests with every scalar form the fields see, valid and invalid: the loader with the fast
    /// path and Yams alone give the same objects and the same diagnostics.
    func testSameResultAsYams() {
        let texts = [
            ManifestLoaderTests.seed,
            """
            apiVersion: v1
            kind: Service
            metadata: {name: quoted, namespace: ns, labels: {app: "1", tier: web}, annotations: {kube-ipvs.io/scheduler: "mh", x: "true"}}
            spec:
              type: LoadBalancer
              clusterIP: "10.0.0.5"
              clusterIPs: ["10.0.0.5"]
              ports: [{name: "80", port: "80", targetPort: "http", nodePort: 30080, protocol: TCP}]
              externalIPs: [192.0.2.1]
              loadBalancerSourceRanges: ["10.0.0.0/8"]
              externalTrafficPolicy: Local
              healthCheckNodePort: 31000
              sessionAffinity: ClientIP
              sessionAffinityConfig: {clientIP: {timeoutSeconds: "60"}}
            status: {loadBalancer: {ingress: [{ip: 198.51.100.7}, {hostname: lb.example}]}}
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
              conditions: {ready: true, serving: null, terminating: false}
              nodeName: node1
              zone: z1
              hints: {forZones: [{name: z1}]}
            - addresses: [10.244.1.3]
              conditions: {ready: false}
            ---
            kind: Service
            metadata: {name: broken, namespace: ns}
            spec: {clusterIP: 10.0.0.7, ports: [{port: eighty}]}
            ---
            kind: Service
            metadata: {name: null-ports, namespace: ns}
            spec: {clusterIP: 10.0.0.8, ports: null}
            ---
            apiVersion: v1
            kind: List
            items:
            - {apiVersion: v1, kind: Node, metadata: {name: node1, labels: {topology.kubernetes.io/zone: z1}}, spec: {podCIDR: 10.244.1.0/24}, status: {addresses: [{type: InternalIP, address: 192.168.50.2}]}}
            - {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}
            """,
        ]
        for text in texts { assertSameAsYams(text) }
    }

    /// JSON text (`kubectl get -o json`) is decoded without the YAML parser; the result is the same,
    /// including when an object is invalid (checked after decoding) or does not decode (the whole
    /// text then goes the YAML way, for the same diagnostics).
    func testJSONTextSameResultAsYams() {
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
        for text in cases { assertSameAsYams(text) }
        let bad = ManifestLoader().parse(text: cases[2])
        XCTAssertEqual(bad.diagnostics.map(\.object), ["ns/str-port"])
        XCTAssertEqual(bad.diagnostics.map(\.field), ["spec.ports[0].port"])
    }
}
