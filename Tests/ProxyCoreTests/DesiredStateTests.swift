import XCTest
import KubeModel
@testable import ProxyCore

final class DesiredStateTests: XCTestCase {
    func testSeedWebService() throws {
        let d = Fx.desired(Fx.seedSnapshot())
        let v4 = d.family(.ipv4)
        let vs = try XCTUnwrap(v4.virtualServers[Fx.vsKey("10.254.10.128", 80)])
        XCTAssertEqual(vs.server.scheduler, "rr")
        XCTAssertEqual(vs.server.flags, [])
        XCTAssertEqual(vs.owner, "default/web-service")
        XCTAssertEqual(vs.servicePort, "default/web-service:80")
        XCTAssertEqual(vs.realServers.map(\.key.description), ["10.244.1.2:8080", "10.244.1.3:8080"])
        XCTAssertTrue(vs.realServers.allSatisfy { $0.weight == 1 && $0.forwarding == .masquerade })
        XCTAssertEqual(v4.boundAddresses, [Fx.ip("10.254.10.128"): "default/web-service"])
        XCTAssertEqual(Set(v4.sets["KUBE-CLUSTER-IP"]!.entries.keys), ["10.254.10.128,tcp:80"])
        XCTAssertEqual(Set(v4.sets["KUBE-IPVS-IPS"]!.entries.keys), ["10.254.10.128"])
        XCTAssertEqual(v4.sets.count, 17, "every set of spec §4 exists")
        XCTAssertNil(d.families[.ipv6])
        XCTAssertEqual(d.modules, ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"])
        XCTAssertEqual(d.sysctls.map { "\($0.name)=\($0.value)" },
                       ["net.ipv4.vs.conntrack=1", "net.ipv4.vs.expire_nodest_conn=1", "net.ipv4.vs.expire_quiescent_template=1", "net.ipv4.ip_forward=1"])
        let services = try XCTUnwrap(v4.tables[.nat]?.chain("KUBE-SERVICES"))
        XCTAssertEqual(services.rules, [
            "-s 127.0.0.0/8 -j RETURN",
            "! -s 10.244.0.0/16 -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ",
            "-m addrtype --dst-type LOCAL -j KUBE-NODE-PORT",
            "-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT",
        ])
    }

    func testSetRulesOnlyForNonEmptySets() throws {
        let empty = Fx.desired(ClusterSnapshot())
        let nat = try XCTUnwrap(empty.family(.ipv4).tables[.nat])
        XCTAssertEqual(nat.chain("KUBE-SERVICES")?.rules, ["-s 127.0.0.0/8 -j RETURN", "-m addrtype --dst-type LOCAL -j KUBE-NODE-PORT"])
        XCTAssertFalse(nat.chains.flatMap(\.rules).contains { $0.contains("KUBE-CLUSTER-IP") })
        XCTAssertEqual(nat.chains.map(\.name), ["KUBE-SERVICES", "KUBE-POSTROUTING", "KUBE-NODE-PORT", "KUBE-LOAD-BALANCER", "KUBE-MARK-MASQ"])
        let filter = try XCTUnwrap(empty.family(.ipv4).tables[.filter])
        XCTAssertEqual(filter.chains.map(\.name), ["KUBE-FORWARD", "KUBE-NODE-PORT", "KUBE-PROXY-FIREWALL",
                                                   "KUBE-SOURCE-RANGES-FIREWALL", "KUBE-IPVS-FILTER", "KUBE-IPVS-OUT-FILTER"])
        XCTAssertEqual(nat.jumps.count + filter.jumps.count, 9)
    }

    func testMasqueradeRuleForms() throws {
        func clusterRule(_ config: ProxyConfig) -> String? {
            Fx.desired(Fx.seedSnapshot(), config: config).family(.ipv4).tables[.nat]?.chain("KUBE-SERVICES")?.rules
                .first { $0.contains("KUBE-MARK-MASQ") }
        }
        var all = ProxyConfig(); all.masqueradeAll = true; all.clusterCIDRs = [CIDR("10.244.0.0/16")!]
        XCTAssertEqual(clusterRule(all)?.hasPrefix("-m comment"), true)
        XCTAssertEqual(clusterRule(all)?.hasSuffix("KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ"), true)
        XCTAssertEqual(clusterRule(ProxyConfig())?.hasSuffix("KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ"), true)
        var bridge = ProxyConfig(); bridge.detectLocalMode = .bridgeInterface; bridge.bridgeInterface = "cbr0"
        XCTAssertEqual(clusterRule(bridge)?.hasPrefix("! -i cbr0 -m comment"), true)
        var prefix = ProxyConfig(); prefix.detectLocalMode = .interfaceNamePrefix; prefix.interfaceNamePrefix = "veth"
        XCTAssertEqual(clusterRule(prefix)?.hasPrefix("! -i veth+ -m comment"), true)
        var bit = Fx.seedConfig; bit.masqueradeBit = 15
        let mm = Fx.desired(Fx.seedSnapshot(), config: bit).family(.ipv4).tables[.nat]?.chain("KUBE-MARK-MASQ")?.rules
        XCTAssertEqual(mm, ["-j MARK --set-xmark 0x8000/0x8000"])
    }

    func testSeveralPortsProtocolsAffinityAndScheduler() throws {
        let svc = Fx.service("dns", ns: "kube-system", ip: "10.254.0.10", ports: [
            ServicePortInfo(name: "dns", proto: .udp, port: 53), ServicePortInfo(name: "dns-tcp", proto: .tcp, port: 53),
            ServicePortInfo(name: "sctp", proto: .sctp, port: 9999),
        ], affinity: 600)
        let ref = svc.ref
        let sets = [
            EndpointSetInfo(source: ref, service: ref, ports: [
                EndpointPortInfo(name: "dns", proto: .udp, port: 5353), EndpointPortInfo(name: "dns-tcp", proto: .tcp, port: 5353),
                EndpointPortInfo(name: "sctp", proto: .sctp, port: 9998),
            ], endpoints: [Fx.ep("10.244.0.5")]),
        ]
        var config = Fx.seedConfig
        config.scheduler = "mh"
        let d = Fx.desired(ClusterSnapshot(services: [svc], endpointSets: sets), config: config)
        let v4 = d.family(.ipv4)
        XCTAssertEqual(v4.virtualServers.count, 3)
        for (proto, port, rsPort) in [(L4Protocol.udp, UInt16(53), UInt16(5353)), (.tcp, 53, 5353), (.sctp, 9999, 9998)] {
            let vs = try XCTUnwrap(v4.virtualServers[Fx.vsKey("10.254.0.10", port, proto)])
            XCTAssertEqual(vs.server.scheduler, "mh")
            XCTAssertEqual(vs.server.flags, [.persistent, .sched2])
            XCTAssertEqual(vs.server.timeout, 600)
            XCTAssertEqual(vs.realServers.map(\.key.port), [rsPort])
        }
        XCTAssertEqual(Set(v4.sets["KUBE-CLUSTER-IP"]!.entries.keys),
                       ["10.254.0.10,udp:53", "10.254.0.10,tcp:53", "10.254.0.10,sctp:9999"])
        XCTAssertEqual(v4.boundAddresses.count, 1)
        XCTAssertTrue(d.modules.contains("ip_vs_mh"))
    }

    func testEndpointChoice() throws {
        func rs(_ eps: [EndpointInfo], itp: TrafficPolicy = .cluster) -> [String] {
            let svc = Fx.service("s", ip: "10.0.0.1", itp: itp)
            let d = Fx.desired(ClusterSnapshot(services: [svc], endpointSets: [Fx.endpoints("s", eps)]))
            return d.family(.ipv4).virtualServers[Fx.vsKey("10.0.0.1", 80)]!.realServers.map { $0.key.address.description }
        }
        // Ready ones win; not-ready ones are left out.
        XCTAssertEqual(rs([Fx.ep("10.244.0.1"), Fx.ep("10.244.0.2", ready: false, serving: false)]), ["10.244.0.1"])
        // None ready: serving and terminating ones are used.
        XCTAssertEqual(rs([Fx.ep("10.244.0.1", ready: false, serving: true, terminating: true),
                           Fx.ep("10.244.0.2", ready: false, serving: false, terminating: true)]), ["10.244.0.1"])
        XCTAssertEqual(rs([Fx.ep("10.244.0.1", ready: true), Fx.ep("10.244.0.2", ready: false, serving: true, terminating: true)]), ["10.244.0.1"])
        // internalTrafficPolicy=Local: only endpoints on this node.
        XCTAssertEqual(rs([Fx.ep("10.244.0.1", node: "node1"), Fx.ep("10.244.0.2", node: "node2")], itp: .local), ["10.244.0.1"])
        XCTAssertEqual(rs([Fx.ep("10.244.0.2", node: "node2")], itp: .local), [])
        // Duplicates across slices collapse.
        XCTAssertEqual(rs([Fx.ep("10.244.0.1"), Fx.ep("10.244.0.1")]), ["10.244.0.1"])
    }

    /// internalTrafficPolicy Local with no endpoint on this node: a port reachable from outside the
    /// cluster falls back to the cluster's endpoints on its cluster IP (upstream's CategorizeEndpoints
    /// gives cluster endpoints to such ports, and its IPVS syncEndpoint uses them when no local one
    /// exists); a ClusterIP-only port gets no real server.
    func testInternalLocalWithoutLocalEndpointsFallsBackOnlyWhenExternallyAccessible() {
        let node = NodeContext(name: "node1", nodePortAddresses: [Fx.ip("192.168.1.10")])
        func rs(type: ServiceType, nodePort: UInt16? = nil, externalIPs: [String] = [], lbIPs: [String] = [],
                etp: TrafficPolicy = .cluster, eps: [EndpointInfo]) -> (cluster: [String], external: [String]?) {
            let svc = ServiceInfo(ref: ObjectRef(namespace: "default", name: "s"), type: type, clusterIPs: [Fx.ip("10.0.0.1")],
                                  ports: [ServicePortInfo(name: "", proto: .tcp, port: 80, nodePort: nodePort)],
                                  externalIPs: externalIPs.map(Fx.ip), loadBalancerIPs: lbIPs.map(Fx.ip),
                                  externalTrafficPolicy: etp, internalTrafficPolicy: .local)
            let v4 = Fx.desired(ClusterSnapshot(services: [svc], endpointSets: [Fx.endpoints("s", eps)]), node: node).family(.ipv4)
            let names = { (k: VirtualServerKey) in v4.virtualServers[k]?.realServers.map { $0.key.address.description } }
            let ext = nodePort.map { Fx.vsKey("192.168.1.10", $0) } ?? (externalIPs + lbIPs).first.map { Fx.vsKey($0, 80) }
            return (names(Fx.vsKey("10.0.0.1", 80))!, ext.flatMap(names))
        }
        let remote = [Fx.ep("10.244.2.1", node: "node2"), Fx.ep("10.244.2.2", node: "node2")]
        let mixed = [Fx.ep("10.244.1.1", node: "node1"), Fx.ep("10.244.2.1", node: "node2")]
        // ClusterIP only: none, in both.
        XCTAssertEqual(rs(type: .clusterIP, eps: remote).cluster, [])
        // NodePort, ITP Local and ETP Local, all endpoints remote: both fall back to the cluster's.
        let np = rs(type: .nodePort, nodePort: 30080, etp: .local, eps: remote)
        XCTAssertEqual(np.cluster, ["10.244.2.1", "10.244.2.2"])
        XCTAssertEqual(np.external, ["10.244.2.1", "10.244.2.2"])
        // NodePort with ETP Cluster, an external IP, a LoadBalancer ingress IP: the same fallback.
        XCTAssertEqual(rs(type: .nodePort, nodePort: 30080, eps: remote).cluster, ["10.244.2.1", "10.244.2.2"])
        XCTAssertEqual(rs(type: .clusterIP, externalIPs: ["203.0.113.7"], eps: remote).cluster, ["10.244.2.1", "10.244.2.2"])
        XCTAssertEqual(rs(type: .loadBalancer, lbIPs: ["203.0.113.8"], etp: .local, eps: remote).cluster, ["10.244.2.1", "10.244.2.2"])
        // An external IP of the other family does not make the IPv4 port reachable from outside.
        XCTAssertEqual(rs(type: .clusterIP, externalIPs: ["2001:db8::7"], eps: remote).cluster, [])
        // A local endpoint: only it, on the cluster IP; the NodePort with ETP Cluster uses all.
        let withLocal = rs(type: .nodePort, nodePort: 30080, eps: mixed)
        XCTAssertEqual(withLocal.cluster, ["10.244.1.1"])
        XCTAssertEqual(withLocal.external, ["10.244.1.1", "10.244.2.1"])
        XCTAssertEqual(rs(type: .nodePort, nodePort: 30080, etp: .local, eps: mixed).external, ["10.244.1.1"])
    }

    func testLocalEndpointsGetLoopBackEntries() {
        let snap = ClusterSnapshot(services: [Fx.service("s", ip: "10.0.0.1")],
                                   endpointSets: [Fx.endpoints("s", [Fx.ep("10.244.0.1", node: "node1"), Fx.ep("10.244.0.2", node: "node2")])])
        let v4 = Fx.desired(snap).family(.ipv4)
        XCTAssertEqual(Set(v4.sets["KUBE-LOOP-BACK"]!.entries.keys), ["10.244.0.1,tcp:8080,10.244.0.1"])
        XCTAssertEqual(v4.tables[.nat]?.chain("KUBE-POSTROUTING")?.rules.first,
                       "-m comment --comment \"Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose\" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE")
    }

    func testSkippedServices() {
        let services = [
            ServiceInfo(ref: ObjectRef(namespace: "d", name: "headless"), clusterIPs: [], isHeadless: true, ports: []),
            ServiceInfo(ref: ObjectRef(namespace: "d", name: "ext"), type: .externalName, clusterIPs: [], ports: []),
            Fx.service("other", ip: "10.0.0.9", labels: [serviceProxyNameLabel: "someone-else"]),
            Fx.service("mine", ip: "10.0.0.8"),
        ]
        let d = Fx.desired(ClusterSnapshot(services: services))
        XCTAssertEqual(d.family(.ipv4).virtualServers.keys.map { $0.address.description }, ["10.0.0.8"])
        XCTAssertEqual(DesiredStateBuilder.skipReason(services[0]), .headless)
        XCTAssertEqual(DesiredStateBuilder.skipReason(services[1]), .externalName)
        XCTAssertEqual(DesiredStateBuilder.skipReason(services[2]), .otherProxy)
    }

    func testDualStack() throws {
        let svc = Fx.service("dual", ip: "10.0.0.1", "fd00::1")
        let ref = svc.ref
        let snap = ClusterSnapshot(services: [svc], endpointSets: [
            EndpointSetInfo(source: ref, service: ref, ports: [EndpointPortInfo(name: "", proto: .tcp, port: 8080)],
                            endpoints: [Fx.ep("10.244.0.1")]),
            EndpointSetInfo(source: ObjectRef(namespace: "default", name: "dual-v6"), service: ref,
                            ports: [EndpointPortInfo(name: "", proto: .tcp, port: 8080)], endpoints: [Fx.ep("fd00:244::1")]),
        ])
        var config = ProxyConfig()
        try config.setClusterCIDRs("10.244.0.0/16,fd00:244::/64", field: "test")
        let d = Fx.desired(snap, config: config)
        let v6 = d.family(.ipv6)
        XCTAssertEqual(v6.virtualServers[Fx.vsKey("fd00::1", 80)]?.realServers.map(\.key.description), ["[fd00:244::1]:8080"])
        XCTAssertEqual(d.family(.ipv4).virtualServers[Fx.vsKey("10.0.0.1", 80)]?.realServers.map(\.key.description), ["10.244.0.1:8080"])
        XCTAssertEqual(Set(v6.sets["KUBE-6-CLUSTER-IP"]!.entries.keys), ["fd00::1,tcp:80"])
        XCTAssertEqual(v6.sets["KUBE-6-CLUSTER-IP"]!.spec.createArguments, "hash:ip,port family inet6 hashsize 1024 maxelem 65536")
        XCTAssertEqual(v6.tables[.nat]?.chain("KUBE-SERVICES")?.rules.first, "-s ::1/128 -j RETURN")
        XCTAssertTrue(v6.tables[.nat]!.chain("KUBE-SERVICES")!.rules[1].hasPrefix("! -s fd00:244::/64 "))
        XCTAssertTrue(d.sysctls.contains(SysctlSetting("net.ipv6.conf.all.forwarding", "1")))
    }

    func testStrictARPAndTimeouts() {
        var c = Fx.seedConfig
        c.strictARP = true
        c.tcpTimeout = 900
        let d = Fx.desired(Fx.seedSnapshot(), config: c)
        XCTAssertTrue(d.sysctls.contains(SysctlSetting("net.ipv4.conf.all.arp_ignore", "1")))
        XCTAssertTrue(d.sysctls.contains(SysctlSetting("net.ipv4.conf.all.arp_announce", "2")))
        XCTAssertEqual(d.ipvsTimeouts, IPVSTimeouts(tcp: 900))
    }
}

final class KubeSetNameTests: XCTestCase {
    func testNamesFitIPSetsLimit() {
        for set in KubeSet.allCases {
            for f in IPFamily.allCases { XCTAssertLessThanOrEqual(set.setName(for: f).count, 31, set.setName(for: f)) }
        }
        XCTAssertEqual(KubeSet.loadBalancerSourceCIDR.setName(for: .ipv6), "KUBE-6-LOAD-BALANCER-SOURCE-CID")
        XCTAssertEqual(KubeSet.nodePortLocalSCTP.setName(for: .ipv6), "KUBE-6-NODE-PORT-LOCAL-SCTP-HAS")
        XCTAssertEqual(KubeSet.clusterIP.setName(for: .ipv6), "KUBE-6-CLUSTER-IP")
        XCTAssertEqual(Set(KubeSet.allCases.map { $0.setName(for: .ipv6) }).count, KubeSet.allCases.count)
    }

    func testNoNodeAccessRuleIsInSaveOrder() {
        let o = FixedRuleOptions(notLocalMatch: nil, masqueradeAll: false, markHex: "0x4000", randomFully: true,
                                 noNodeAccess: [NoNodeAccessEntry(address: IPAddress("1.2.3.4")!, proto: .tcp, port: 80)])
        let rules = FixedRules.tables(family: .ipv4, nonEmpty: [], options: o)[.filter]?.chain("KUBE-IPVS-OUT-FILTER")?.rules
        XCTAssertEqual(rules, ["-s 1.2.3.4/32 -m ipvs --vproto 6 --vaddr 1.2.3.4/32 --vport 80 -j DROP"])
    }
}

/// The one-shot build adds contributions to an index that keeps none: these pin down what it
/// shares with the incremental path.
final class OneShotBuildTests: XCTestCase {
    /// A Service listed twice (the same manifest given twice, or edited in between) counts once:
    /// the last one listed, as when the index replaces a contribution.
    func testAServiceListedTwiceCountsOnceTheLastOne() {
        let first = Fx.service("web", ip: "10.254.0.1")
        let last = Fx.service("web", ip: "10.254.0.2", ports: [ServicePortInfo(name: "", proto: .udp, port: 53)])
        let other = Fx.service("other", ip: "10.254.0.3")
        let eps = [Fx.endpoints("web", proto: .udp, [Fx.ep("10.244.1.2")]), Fx.endpoints("other", [Fx.ep("10.244.1.3")])]
        let twice = Fx.desired(ClusterSnapshot(services: [first, other, last], endpointSets: eps))
        let once = Fx.desired(ClusterSnapshot(services: [other, last], endpointSets: eps))
        XCTAssertEqual(twice, once)
        XCTAssertNil(twice.family(.ipv4).boundAddresses[Fx.ip("10.254.0.1")])
    }

    /// Two Services claiming one key: the build equals the index fed in either order.
    func testContestedKeysMatchTheIndexInEitherOrder() {
        let a = Fx.service("a", ip: "10.254.0.1"), b = Fx.service("b", ip: "10.254.0.1")
        let eps = [Fx.endpoints("a", [Fx.ep("10.244.1.2")]), Fx.endpoints("b", [Fx.ep("10.244.1.3")])]
        let built = Fx.desired(ClusterSnapshot(services: [b, a], endpointSets: eps))
        for order in [[a, b], [b, a]] {
            var index = DesiredStateIndex(config: Fx.seedConfig, node: Fx.node, families: [.ipv4])
            for svc in order {
                let sets = eps.filter { $0.service == svc.ref }
                if case .success(let c) = DesiredStateBuilder.contribution(service: svc, endpoints: sets, config: Fx.seedConfig, node: Fx.node) {
                    index.replace(owner: c.owner, with: c)
                }
            }
            index.refreshNodeWide()
            XCTAssertEqual(index.state, built)
            XCTAssertEqual(built.family(.ipv4).virtualServers[Fx.vsKey("10.254.0.1", 80)]?.owner, "default/a")
        }
    }

    func testRealServersAreSortedOnceEachWithLookup() {
        func rk(_ a: String, _ p: UInt16 = 8080) -> RealServerKey { RealServerKey(address: Fx.ip(a), port: p) }
        let vs = DesiredVirtualServer(server: VirtualServer(key: Fx.vsKey("10.0.0.1", 80), scheduler: "rr"),
                                      realServers: [RealServer(key: rk("10.244.0.3")), RealServer(key: rk("10.244.0.1"), weight: 5),
                                                    RealServer(key: rk("10.244.0.2")), RealServer(key: rk("10.244.0.1"), weight: 7),
                                                    RealServer(key: rk("10.244.0.1", 80))],
                                      servicePort: "a/b:80", owner: "a/b")
        // Sorted by key; of a repeated key the last one given stays (as a dictionary assignment).
        XCTAssertEqual(vs.realServers.map(\.key.description), ["10.244.0.1:80", "10.244.0.1:8080", "10.244.0.2:8080", "10.244.0.3:8080"])
        XCTAssertEqual(vs.realServer(rk("10.244.0.1"))?.weight, 7)
        XCTAssertEqual(vs.realServer(rk("10.244.0.3"))?.key, rk("10.244.0.3"))
        XCTAssertNil(vs.realServer(rk("10.244.0.4")))
        XCTAssertNil(vs.realServer(rk("10.244.0.2", 81)))
        XCTAssertEqual(vs, DesiredVirtualServer(server: vs.server, realServers: vs.realServers.reversed(), servicePort: "a/b:80", owner: "a/b"))
    }
}
