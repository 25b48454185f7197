import XCTest
import KubeModel
@testable import ProxyCore

/// Health-check counts, the no-local-endpoints metric and the programmed families.
final class LocalEndpointsTests: XCTestCase {
    let ref = ObjectRef(namespace: "shop", name: "front")

    func service(type: ServiceType = .loadBalancer, ips: [String] = ["10.96.0.10"], etp: TrafficPolicy = .local,
                 itp: TrafficPolicy = .cluster, hc: UInt16? = 31000, externalIPs: [String] = [],
                 ports: [ServicePortInfo] = [ServicePortInfo(name: "http", proto: .tcp, port: 80)], labels: [String: String] = [:]) -> ServiceInfo {
        ServiceInfo(ref: ref, type: type, clusterIPs: ips.map { IPAddress($0)! }, ports: ports,
                    externalIPs: externalIPs.map { IPAddress($0)! }, externalTrafficPolicy: etp, internalTrafficPolicy: itp,
                    healthCheckNodePort: hc, labels: labels)
    }

    func ep(_ ip: String, node: String?, ready: Bool = true, serving: Bool = true, terminating: Bool = false) -> EndpointInfo {
        EndpointInfo(address: IPAddress(ip)!, ready: ready, serving: serving, terminating: terminating, nodeName: node)
    }

    func set(_ eps: [EndpointInfo], ports: [EndpointPortInfo] = [EndpointPortInfo(name: "http", proto: .tcp, port: 8080)]) -> EndpointSetInfo {
        EndpointSetInfo(source: ObjectRef(namespace: "shop", name: "front-abc"), service: ref, ports: ports, endpoints: eps)
    }

    func status(_ svc: ServiceInfo, _ sets: [EndpointSetInfo]) -> LocalEndpointStatus? {
        LocalEndpoints.status(service: svc, endpoints: sets, nodeName: "node1")
    }

    // MARK: - Health check

    func testReadyLocalEndpointsAreCountedByDistinctIP() {
        let two = EndpointPortInfo(name: "https", proto: .tcp, port: 8443)
        let svc = service(ports: [ServicePortInfo(name: "http", proto: .tcp, port: 80), ServicePortInfo(name: "https", proto: .tcp, port: 443)])
        let sets = [
            set([ep("10.244.1.2", node: "node1"), ep("10.244.1.3", node: "node1"), ep("10.244.2.2", node: "node2")]),
            // The same pod in a slice for the other port counts once.
            set([ep("10.244.1.2", node: "node1")], ports: [two]),
            // Not ready (terminating but serving) on this node: traffic may still go there, but the
            // load balancer must see the node as draining, as upstream (LocalReadyEndpoints).
            set([ep("10.244.1.9", node: "node1", ready: false, serving: true, terminating: true)]),
            // A slice whose ports match no Service port is not the Service's.
            set([ep("10.244.1.7", node: "node1")], ports: [EndpointPortInfo(name: "metrics", proto: .tcp, port: 9090)]),
            // Another family than the primary cluster IP's.
            set([ep("fd00::7", node: "node1")]),
        ]
        XCTAssertEqual(status(svc, sets), LocalEndpointStatus(healthCheckNodePort: 31000, readyLocalEndpoints: 2))
        XCTAssertEqual(LocalEndpointSummary([ref: status(svc, sets)!]).healthChecks, [ref: HealthCheckNodePort(port: 31000, localEndpoints: 2)])
    }

    func testWhoGetsAHealthCheck() {
        let local = [set([ep("10.244.1.2", node: "node1")])]
        XCTAssertEqual(status(service(), local)?.healthCheckNodePort, 31000)
        XCTAssertEqual(status(service(), [])?.healthCheckNodePort, 31000, "served (503) while there is no endpoint at all")
        XCTAssertNil(status(service(type: .nodePort), local), "only LoadBalancer Services (NeedsHealthCheck)")
        XCTAssertNil(status(service(etp: .cluster), local), "only externalTrafficPolicy Local")
        XCTAssertNil(status(service(hc: nil), local), "no port allocated")
        XCTAssertNil(status(service(labels: ["service.kubernetes.io/service-proxy-name": "other"]), local), "another proxy's")
        XCTAssertNil(status(service(type: .clusterIP, etp: .cluster), local), "most Services report nothing")
    }

    // MARK: - kubeproxy_sync_proxy_rules_no_local_endpoints_total

    func testNoLocalEndpointsTable() {
        let remote = [set([ep("10.244.2.2", node: "node2")])]
        let mine = [set([ep("10.244.1.2", node: "node1"), ep("10.244.2.2", node: "node2")])]
        let localTerminating = [set([ep("10.244.1.2", node: "node1", ready: false, terminating: true), ep("10.244.2.2", node: "node2")])]
        let notServing = [set([ep("10.244.1.2", node: "node1", ready: false, serving: false, terminating: true), ep("10.244.2.2", node: "node2")])]
        struct Case { var name: String; var svc: ServiceInfo; var sets: [EndpointSetInfo]; var intl: Bool; var external: Bool }
        let cases: [Case] = [
            Case(name: "ETP Local LB, endpoints elsewhere only", svc: service(hc: nil), sets: remote, intl: false, external: true),
            Case(name: "ETP Local NodePort", svc: service(type: .nodePort, hc: nil), sets: remote, intl: false, external: true),
            Case(name: "ETP Local ClusterIP with externalIPs", svc: service(type: .clusterIP, hc: nil, externalIPs: ["192.0.2.1"]),
                 sets: remote, intl: false, external: true),
            Case(name: "ETP Local on a plain ClusterIP does not apply", svc: service(type: .clusterIP, hc: nil), sets: remote,
                 intl: false, external: false),
            Case(name: "ITP Local", svc: service(type: .clusterIP, etp: .cluster, itp: .local, hc: nil), sets: remote, intl: true, external: false),
            Case(name: "both Local", svc: service(itp: .local, hc: nil), sets: remote, intl: true, external: true),
            Case(name: "a local endpoint", svc: service(itp: .local, hc: nil), sets: mine, intl: false, external: false),
            // Upstream's CategorizeEndpoints: a local serving+terminating endpoint is a local endpoint.
            Case(name: "local terminating", svc: service(itp: .local, hc: nil), sets: localTerminating, intl: false, external: false),
            Case(name: "local not serving", svc: service(itp: .local, hc: nil), sets: notServing, intl: true, external: true),
            // No endpoint anywhere: traffic is dropped for want of endpoints, not of local ones.
            Case(name: "no endpoints at all", svc: service(itp: .local, hc: nil), sets: [], intl: false, external: false),
            Case(name: "Cluster policies", svc: service(etp: .cluster, hc: nil), sets: remote, intl: false, external: false),
        ]
        for c in cases {
            let s = status(c.svc, c.sets)
            XCTAssertEqual(s?.noLocalInternal ?? false, c.intl, c.name)
            XCTAssertEqual(s?.noLocalExternal ?? false, c.external, c.name)
        }
    }

    /// One port without a local endpoint is enough (upstream inserts the Service per port).
    func testOnePortWithoutLocalEndpointCounts() {
        let svc = service(type: .clusterIP, etp: .cluster, itp: .local, hc: nil,
                          ports: [ServicePortInfo(name: "http", proto: .tcp, port: 80), ServicePortInfo(name: "dns", proto: .udp, port: 53)])
        let sets = [set([ep("10.244.1.2", node: "node1")]),
                    set([ep("10.244.2.2", node: "node2")], ports: [EndpointPortInfo(name: "dns", proto: .udp, port: 53)])]
        XCTAssertEqual(status(svc, sets)?.noLocalInternal, true)
    }

    /// The metric's ip_family: a dual-stack Service counts in each family where it lacks local
    /// endpoints, as each of upstream's per-family proxiers counts it.
    func testNoLocalEndpointsPerFamily() {
        let dual = service(type: .clusterIP, ips: ["10.96.0.11", "fd00:96::11"], etp: .cluster, itp: .local, hc: nil)
        let v4local = [set([ep("10.244.1.2", node: "node1"), ep("fd00:244::2", node: "node2")])]
        XCTAssertEqual(status(dual, v4local)?.noLocalFamilies, [.ipv6])
        let remote = [set([ep("10.244.2.2", node: "node2"), ep("fd00:244::2", node: "node2")])]
        XCTAssertEqual(status(dual, remote)?.noLocalFamilies, [.ipv4, .ipv6])
        let a = ObjectRef(namespace: "a", name: "a"), b = ObjectRef(namespace: "b", name: "b")
        let sum = LocalEndpointSummary([a: status(dual, v4local)!, b: status(dual, remote)!])
        XCTAssertEqual(sum.noLocalInternal, 2)
        XCTAssertEqual(sum.noLocalInternalByFamily, [.ipv4: 1, .ipv6: 2])
        XCTAssertEqual(sum.noLocalExternalByFamily, [:])
    }

    func testSummaryCounts() {
        let a = ObjectRef(namespace: "a", name: "a"), b = ObjectRef(namespace: "b", name: "b"), c = ObjectRef(namespace: "c", name: "c")
        let sum = LocalEndpointSummary([
            a: LocalEndpointStatus(noLocalInternal: true, noLocalExternal: true),
            b: LocalEndpointStatus(noLocalExternal: true),
            c: LocalEndpointStatus(healthCheckNodePort: 30000, readyLocalEndpoints: 3),
        ])
        XCTAssertEqual(sum.noLocalInternal, 1)
        XCTAssertEqual(sum.noLocalExternal, 2)
        XCTAssertEqual(sum.healthChecks, [c: HealthCheckNodePort(port: 30000, localEndpoints: 3)])
    }

    /// The public wrapper returns the builder's choice: ready endpoints, else serving+terminating
    /// ones, for the cluster and for this node separately.
    func testChosenIsTheBuildersChoice() {
        let port = ServicePortInfo(name: "http", proto: .tcp, port: 80)
        let node = NodeContext(name: "node1")
        func names(_ eps: [EndpointInfo]) -> [String] { eps.map(\.address.description) }
        let terminating = [set([ep("10.244.1.2", node: "node1", ready: false, terminating: true), ep("10.244.2.2", node: "node2", ready: false, terminating: true)])]
        var c = LocalEndpoints.chosen(port: port, family: .ipv4, sets: terminating, node: node)
        XCTAssertEqual(names(c.cluster), ["10.244.1.2", "10.244.2.2"])
        XCTAssertEqual(names(c.local), ["10.244.1.2"])
        let withReady = [set(terminating[0].endpoints + [ep("10.244.3.3", node: "node3")])]
        c = LocalEndpoints.chosen(port: port, family: .ipv4, sets: withReady, node: node)
        XCTAssertEqual(names(c.cluster), ["10.244.3.3"])
        XCTAssertEqual(names(c.local), ["10.244.1.2"], "this node's serving+terminating one, as upstream")
        XCTAssertEqual(c.ports[IPAddress("10.244.3.3")!], 8080)
    }

    // MARK: - Families

    func testProgrammedFamilies() {
        var cidr4 = ProxyConfig(); cidr4.clusterCIDRs = [CIDR("10.244.0.0/16")!]
        var cidr6 = ProxyConfig(); cidr6.clusterCIDRs = [CIDR("fd00:244::/56")!]
        let v4svc = service(type: .clusterIP, ips: ["10.96.0.10"], etp: .cluster, hc: nil)
        let v6svc = service(type: .clusterIP, ips: ["fd00:96::10"], etp: .cluster, hc: nil)
        let dual = service(type: .clusterIP, ips: ["10.96.0.11", "fd00:96::11"], etp: .cluster, hc: nil)
        let otherProxy = service(type: .clusterIP, ips: ["fd00:96::12"], etp: .cluster, hc: nil,
                                 labels: ["service.kubernetes.io/service-proxy-name": "x"])
        XCTAssertEqual(ProxyFamilies.families(config: ProxyConfig(), services: []), [.ipv4])
        XCTAssertEqual(ProxyFamilies.families(config: cidr4, services: [v4svc]), [.ipv4])
        XCTAssertEqual(ProxyFamilies.families(config: cidr6, services: []), [.ipv4, .ipv6])
        XCTAssertEqual(ProxyFamilies.families(config: cidr4, services: [v4svc, v6svc]), [.ipv4, .ipv6])
        XCTAssertEqual(ProxyFamilies.families(config: ProxyConfig(), services: [dual]), [.ipv4, .ipv6])
        XCTAssertEqual(ProxyFamilies.families(config: cidr4, services: [otherProxy]), [.ipv4], "a Service kube-ipvs leaves alone")
    }

    /// `sync` builds with DesiredStateBuilder.build, the daemon with ProxyFamilies: they must agree.
    func testBuilderAgreesWithProxyFamilies() {
        var cidr4 = ProxyConfig(); cidr4.clusterCIDRs = [CIDR("10.244.0.0/16")!]
        var cidr6 = ProxyConfig(); cidr6.clusterCIDRs = [CIDR("fd00:244::/56")!]
        let snaps: [[ServiceInfo]] = [
            [],
            [service(type: .clusterIP, ips: ["10.96.0.10"], etp: .cluster, hc: nil)],
            [service(type: .clusterIP, ips: ["fd00:96::10"], etp: .cluster, hc: nil)],
            [service(type: .clusterIP, ips: ["10.96.0.11", "fd00:96::11"], etp: .cluster, hc: nil)],
        ]
        for config in [ProxyConfig(), cidr4, cidr6] {
            for services in snaps {
                let built = DesiredStateBuilder.build(snapshot: ClusterSnapshot(services: services), config: config, node: NodeContext(name: "n"))
                XCTAssertEqual(Set(built.families.keys), ProxyFamilies.families(config: config, services: services), "\(config.clusterCIDRs) \(services.map(\.clusterIPs))")
            }
        }
    }
}
