import XCTest
@testable import KubeModel

final class ManifestLoaderTests: XCTestCase {
    let loader = ManifestLoader()

    static let seed = """
    apiVersion: v1
    kind: Service
    metadata: {name: web-service}
    spec:
      clusterIP: 10.254.10.128
      ports: [{port: 80, targetPort: 8080}]
    ---
    apiVersion: v1
    kind: Endpoints
    metadata: {name: web-service}
    subsets:
    - addresses: [{ip: 10.244.1.2}, {ip: 10.244.1.3}]
      notReadyAddresses: [{ip: 10.244.1.9}]
      ports: [{port: 8080}]
    """

    func testSeedServiceAndEndpoints() {
        let r = loader.parse(text: Self.seed)
        XCTAssertEqual(r.diagnostics, [])
        let svc = try! XCTUnwrap(r.snapshot.services.first)
        XCTAssertEqual(svc.ref.description, "default/web-service")
        XCTAssertEqual(svc.clusterIPs, [IPAddress("10.254.10.128")!])
        XCTAssertEqual(svc.ports, [ServicePortInfo(name: "", proto: .tcp, port: 80, targetPort: .int(8080))])
        let eps = try! XCTUnwrap(r.snapshot.endpointSets.first)
        XCTAssertEqual(eps.service, svc.ref)
        XCTAssertEqual(eps.ports, [EndpointPortInfo(name: "", proto: .tcp, port: 8080)])
        XCTAssertEqual(eps.endpoints.map { "\($0.address) \($0.ready)" }, ["10.244.1.2 true", "10.244.1.3 true", "10.244.1.9 false"])
    }

    /// A Service keeps only the labels and annotations kube-ipvs reads: a `kubectl apply`'s copy
    /// of the whole object and the other metadata are not held per Service.
    func testOnlyTheLabelsAndAnnotationsReadAreKept() throws {
        let r = loader.parse(text: """
        apiVersion: v1
        kind: Service
        metadata:
          name: web
          labels: {app: web, service.kubernetes.io/service-proxy-name: other}
          annotations:
            kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"v1","kind":"Service"}'
            kube-ipvs.io/scheduler: wrr
            example.com/owner: team-a
        spec: {clusterIP: 10.254.10.129, ports: [{port: 80}]}
        """)
        XCTAssertEqual(r.diagnostics, [])
        let svc = try XCTUnwrap(r.snapshot.services.first)
        XCTAssertEqual(svc.labels, [serviceProxyNameLabel: "other"])
        XCTAssertEqual(svc.annotations, [schedulerAnnotation: "wrr"])
        XCTAssertEqual(svc.scheduler, "wrr")
    }

    func testEndpointSliceV1AndV1beta1() {
        let text = """
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: s1, namespace: ns, labels: {kubernetes.io/service-name: web}}
        addressType: IPv4
        ports: [{name: http, port: 8080, protocol: TCP}]
        endpoints:
        - addresses: [10.244.1.2]
          conditions: {ready: false, serving: true, terminating: true}
          nodeName: node-a
          zone: z1
          hints: {forZones: [{name: z1}]}
        ---
        apiVersion: discovery.k8s.io/v1beta1
        kind: EndpointSlice
        metadata: {name: s2, namespace: ns, labels: {kubernetes.io/service-name: web}}
        addressType: IPv4
        ports: [{name: http, port: 8080}]
        endpoints:
        - addresses: [10.244.2.2]
          topology: {kubernetes.io/hostname: node-b, topology.kubernetes.io/zone: z2}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: s3, namespace: ns, labels: {kubernetes.io/service-name: ext}}
        addressType: FQDN
        endpoints: [{addresses: [example.com]}]
        """
        let r = loader.parse(text: text)
        XCTAssertEqual(r.diagnostics, [])
        XCTAssertEqual(r.snapshot.endpointSets.count, 2, "FQDN slices are ignored")
        let a = r.snapshot.endpointSets[0].endpoints[0]
        XCTAssertEqual(a, EndpointInfo(address: IPAddress("10.244.1.2")!, ready: false, serving: true, terminating: true,
                                       nodeName: "node-a", zone: "z1", hintZones: ["z1"]))
        let b = r.snapshot.endpointSets[1].endpoints[0]
        XCTAssertEqual(b.nodeName, "node-b")
        XCTAssertEqual(b.zone, "z2")
        XCTAssertTrue(b.ready)
        XCTAssertEqual(r.snapshot.endpointSets[1].service, ObjectRef(namespace: "ns", name: "web"))
    }

    func testKindListAndJSON() {
        let json = """
        {"apiVersion": "v1", "kind": "List", "items": [
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "x"},
           "spec": {"clusterIP": "10.0.0.1", "ports": [{"port": 53, "protocol": "UDP", "name": "dns"},
                                                       {"port": 53, "protocol": "TCP", "name": "dns-tcp"}]}},
          {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}},
          {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1", "labels": {"topology.kubernetes.io/zone": "z1"}},
           "spec": {"podCIDR": "10.244.1.0/24"},
           "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.10"}, {"type": "Hostname", "address": "node1"}]}}
        ]}
        """
        let r = loader.parse(text: json)
        XCTAssertEqual(r.diagnostics, [])
        XCTAssertEqual(r.snapshot.services.map(\.ref.description), ["x/a"])
        XCTAssertEqual(r.snapshot.services[0].ports.map(\.proto), [.udp, .tcp])
        XCTAssertEqual(r.ignoredKinds, ["Deployment": 1])
        XCTAssertEqual(r.snapshot.nodes, [NodeInfo(name: "node1", labels: ["topology.kubernetes.io/zone": "z1"],
                                                   addresses: [IPAddress("192.0.2.10")!], podCIDRs: [CIDR("10.244.1.0/24")!])])
    }

    func testDirectoryIsReadInNameOrder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kube-ipvs-loader-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (file, name) in [("b.yaml", "second"), ("a.yml", "first"), ("c.json", "third")] {
            let doc = file.hasSuffix("json")
                ? "{\"kind\":\"Service\",\"metadata\":{\"name\":\"\(name)\"},\"spec\":{\"clusterIP\":\"10.0.0.3\",\"ports\":[{\"port\":1}]}}"
                : "kind: Service\nmetadata: {name: \(name)}\nspec: {clusterIP: 10.0.0.1, ports: [{port: 1}]}\n"
            try doc.write(to: dir.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        try "not a manifest".write(to: dir.appendingPathComponent("README.txt"), atomically: true, encoding: .utf8)
        let r = try loader.load(paths: [dir.path])
        XCTAssertEqual(r.snapshot.services.map(\.ref.name), ["first", "second", "third"])
        XCTAssertThrowsError(try loader.load(paths: [dir.appendingPathComponent("missing.yaml").path]))
    }

    /// One bad field per object: each yields exactly one diagnostic naming kind, object and field.
    func testBadInputsNameTheObjectAndField() {
        let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: %@, namespace: ns}\nspec: %@\n"
        let cases: [(String, String, String, String, String)] = [
            // (kind, name, spec or body, expected field, message fragment)
            ("Service", "bad-ip", "{clusterIP: 10.254.300.1, ports: [{port: 80}]}", "spec.clusterIP", "not a valid IP"),
            ("Service", "port-zero", "{clusterIP: 10.0.0.1, ports: [{port: 0}]}", "spec.ports[0].port", "out of range"),
            ("Service", "port-big", "{clusterIP: 10.0.0.1, ports: [{port: 65536}]}", "spec.ports[0].port", "out of range"),
            ("Service", "proto", "{clusterIP: 10.0.0.1, ports: [{port: 80, protocol: ICMP}]}", "spec.ports[0].protocol", "unknown protocol"),
            ("Service", "dup", "{clusterIP: 10.0.0.1, ports: [{name: a, port: 80}, {name: b, port: 80}]}", "spec.ports[1].port", "duplicate port"),
            ("Service", "dupname", "{clusterIP: 10.0.0.1, ports: [{name: a, port: 80}, {name: a, port: 81}]}", "spec.ports[1].name", "duplicate port name"),
            ("Service", "noname", "{clusterIP: 10.0.0.1, ports: [{port: 80}, {name: b, port: 81}]}", "spec.ports[0].name", "missing"),
            ("Service", "target", "{clusterIP: 10.0.0.1, ports: [{port: 80, targetPort: 70000}]}", "spec.ports[0].targetPort", "out of range"),
            ("Service", "nodeport", "{type: NodePort, clusterIP: 10.0.0.1, ports: [{port: 80, nodePort: 99999}]}", "spec.ports[0].nodePort", "out of range"),
            ("Service", "type", "{type: Magic, clusterIP: 10.0.0.1, ports: [{port: 80}]}", "spec.type", "unknown type"),
            ("Service", "affinity", "{clusterIP: 10.0.0.1, sessionAffinity: Sticky, ports: [{port: 80}]}", "spec.sessionAffinity", "unknown value"),
            ("Service", "timeout", "{clusterIP: 10.0.0.1, sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}, ports: [{port: 80}]}",
             "spec.sessionAffinityConfig.clientIP.timeoutSeconds", "out of range"),
            ("Service", "etp", "{clusterIP: 10.0.0.1, externalTrafficPolicy: Nearby, ports: [{port: 80}]}", "spec.externalTrafficPolicy", "unknown policy"),
            ("Service", "noip", "{ports: [{port: 80}]}", "spec.clusterIP", "missing"),
            ("Service", "noports", "{clusterIP: 10.0.0.1}", "spec.ports", "missing"),
            ("Service", "wrongtype", "{clusterIP: 10.0.0.1, ports: [{port: eighty}]}", "spec.ports[0].port", "wrong type"),
            ("Service", "ips-mismatch", "{clusterIP: 10.0.0.1, clusterIPs: [10.0.0.2], ports: [{port: 80}]}", "spec.clusterIPs[0]", "differs"),
        ]
        for (kind, name, body, field, fragment) in cases {
            let r = loader.parse(text: String(format: svc, name, body))
            XCTAssertEqual(r.diagnostics.count, 1, "\(name): \(r.diagnostics)")
            XCTAssertEqual(r.snapshot.services.count, 0, name)
            guard let d = r.diagnostics.first else { continue }
            XCTAssertEqual(d.kind, kind, name)
            XCTAssertEqual(d.object, "ns/\(name)", name)
            XCTAssertEqual(d.field, field, name)
            XCTAssertTrue(d.message.contains(fragment), "\(name): \(d.message)")
        }
    }

    func testBadEndpointObjects() {
        let cases: [(String, String, String)] = [
            ("kind: Endpoints\nmetadata: {name: e2}\nsubsets: [{addresses: [{ip: 10.244.1.2}], ports: [{port: 0}]}]",
             "Endpoints default/e2", "subsets[0].ports[0].port"),
            ("kind: Endpoints\nmetadata: {}\nsubsets: []", "Endpoints default/<unnamed>", "metadata.name"),
            ("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s1}\naddressType: IPv4\nendpoints: []",
             "EndpointSlice default/s1", "metadata.labels[kubernetes.io/service-name]"),
            ("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s3, labels: {kubernetes.io/service-name: a}}\naddressType: IPv5",
             "EndpointSlice default/s3", "addressType"),
            ("kind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: nope}]}", "Node n1", "status.addresses[0].address"),
        ]
        for (text, object, field) in cases {
            let r = loader.parse(text: text)
            XCTAssertEqual(r.diagnostics.count, 1, text)
            XCTAssertEqual(r.diagnostics.first.map { "\($0.kind) \($0.object)" }, object)
            XCTAssertEqual(r.diagnostics.first?.field, field)
        }
    }

    func testInvalidObjectsDoNotDisturbValidOnes() {
        var docs: [String] = []
        for i in 0..<10 { docs.append("kind: Service\nmetadata: {name: bad\(i)}\nspec: {clusterIP: 10.0.0.\(i), ports: [{port: \(70000 + i)}]}") }
        docs.append(Self.seed)
        docs.append("{{{ not yaml")
        let r = loader.parse(text: docs.joined(separator: "\n---\n"))
        // A syntax error refuses the whole text, not just the objects after it.
        XCTAssertEqual(r.refusals.map(\.document), [13], "the seed is two documents")
        XCTAssertEqual(r.snapshot, ClusterSnapshot())
        let r2 = loader.parse(text: docs.dropLast().joined(separator: "\n---\n"))
        XCTAssertEqual(r2.diagnostics.count, 10)
        XCTAssertEqual(r2.snapshot.services.map(\.ref.name), ["web-service"])
        XCTAssertEqual(Set(r2.diagnostics.map(\.object)), Set((0..<10).map { "default/bad\($0)" }))
    }

    /// A bad element of an optional list drops only that element, with a warning naming the
    /// object and the element; the rest of the object is used.
    func testBadListElementDropsOnlyThatElement() throws {
        let r = loader.parse(text: """
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: ns}
        spec:
          type: LoadBalancer
          clusterIP: 10.0.0.1
          externalIPs: [192.0.2.1, not-an-ip, 010.0.0.1]
          loadBalancerSourceRanges: [10.0.0.0/8, 10.0.0.0/40, " 192.168.000.0/24 "]
          ports: [{port: 80}]
        status: {loadBalancer: {ingress: [{ip: 203.0.113.300}, {ip: 203.0.113.7}, {hostname: lb.example}]}}
        ---
        apiVersion: v1
        kind: Endpoints
        metadata: {name: web, namespace: ns}
        subsets: [{addresses: [{ip: 10.244.1.999}, {ip: 10.244.1.2}], notReadyAddresses: [{ip: x}, {ip: 10.244.001.003}], ports: [{port: 8080}]}]
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: web-1, namespace: ns, labels: {kubernetes.io/service-name: web}}
        addressType: IPv4
        ports: [{port: 8080}]
        endpoints: [{addresses: [fd00::1]}, {addresses: []}, {addresses: [10.244.2.2]}, {addresses: [10.244.2.044]}]
        """)
        XCTAssertEqual(r.diagnostics, [])
        let svc = try XCTUnwrap(r.snapshot.services.first)
        XCTAssertEqual(svc.externalIPs.map(\.description), ["192.0.2.1", "10.0.0.1"])
        XCTAssertEqual(svc.loadBalancerSourceRanges.map(\.description), ["10.0.0.0/8", "192.168.0.0/24"])
        XCTAssertEqual(svc.loadBalancerIPs.map(\.description), ["203.0.113.7"])
        XCTAssertEqual(r.snapshot.endpointSets.count, 2)
        XCTAssertEqual(r.snapshot.endpointSets[0].endpoints.map { "\($0.address) \($0.ready)" }, ["10.244.1.2 true", "10.244.1.3 false"])
        XCTAssertEqual(r.snapshot.endpointSets[1].endpoints.map(\.address.description), ["10.244.2.2", "10.244.2.44"])
        XCTAssertEqual(r.warnings.map { "\($0.kind) \($0.object) \($0.field)" }, [
            "Service ns/web spec.externalIPs[1]",
            "Service ns/web status.loadBalancer.ingress[0].ip",
            "Service ns/web spec.loadBalancerSourceRanges[1]",
            "Endpoints ns/web subsets[0].addresses[0].ip",
            "Endpoints ns/web subsets[0].notReadyAddresses[0].ip",
            "EndpointSlice ns/web-1 endpoints[0].addresses[0]",
            "EndpointSlice ns/web-1 endpoints[1].addresses",
        ])
        XCTAssertEqual(r.warnings[0].description, "Service ns/web: spec.externalIPs[1]: \"not-an-ip\" is not a valid IP address; ignored")
    }

    func testDiagnosticText() {
        let d = Diagnostic(kind: "Service", object: "ns/a", field: "spec.ports[0].port", message: "0 is out of range (1-65535)")
        XCTAssertEqual(d.description, "Service ns/a: spec.ports[0].port: 0 is out of range (1-65535)")
    }
}

/// The per-Service scheduler annotations: valid values reach the model, invalid ones are reported
/// naming the annotation and ignored, and the Service itself is still loaded.
final class SchedulerAnnotationTests: XCTestCase {
    private func load(_ annotations: String) -> ManifestLoader.Result {
        ManifestLoader().parse(text: """
        apiVersion: v1
        kind: Service
        metadata:
          name: s
          namespace: apps
          annotations: {\(annotations)}
        spec:
          clusterIP: 10.96.0.1
          ports: [{port: 80}]
        """)
    }

    func testValidSchedulerAndFlags() {
        let r = load("kube-ipvs.io/scheduler: sh, kube-ipvs.io/scheduler-flags: 'sh-fallback, sh-port'")
        XCTAssertEqual(r.snapshot.services.first?.scheduler, "sh")
        XCTAssertEqual(r.snapshot.services.first?.schedulerFlags, ["sh-fallback", "sh-port"])
        XCTAssertEqual(r.warnings, [])
        XCTAssertEqual(r.diagnostics, [])
    }

    func testFlagsOfAnotherSchedulerAreIgnored() {
        let r = load("kube-ipvs.io/scheduler: mh, kube-ipvs.io/scheduler-flags: sh-port")
        XCTAssertEqual(r.snapshot.services.count, 1, "the Service is still programmed")
        XCTAssertEqual(r.snapshot.services.first?.scheduler, "mh")
        XCTAssertNil(r.snapshot.services.first?.schedulerFlags)
        XCTAssertEqual(r.warnings.map(\.field), ["metadata.annotations[kube-ipvs.io/scheduler-flags]"])
        XCTAssertTrue(r.warnings.first?.message.contains("\"sh-port\" needs the sh scheduler") ?? false)
    }

    func testUnknownSchedulerAndFlagWithoutScheduler() {
        let r = load("kube-ipvs.io/scheduler: fastest, kube-ipvs.io/scheduler-flags: flag-9")
        XCTAssertNil(r.snapshot.services.first?.scheduler)
        XCTAssertEqual(r.warnings.map(\.field), ["metadata.annotations[kube-ipvs.io/scheduler]",
                                                 "metadata.annotations[kube-ipvs.io/scheduler-flags]"])
        XCTAssertEqual(r.diagnostics, [])
    }
}
