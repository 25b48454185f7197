import KubeModel
@testable import ProxyCore

/// Small builders for test inputs.
enum Fx {
    static func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    static func service(_ name: String, ns: String = "default", ip: String..., ports: [ServicePortInfo] = [ServicePortInfo(name: "", proto: .tcp, port: 80)],
                        affinity: UInt32? = nil, itp: TrafficPolicy = .cluster, labels: [String: String] = [:]) -> ServiceInfo {
        ServiceInfo(ref: ObjectRef(namespace: ns, name: name), clusterIPs: ip.map { IPAddress($0)! }, ports: ports,
                    affinityTimeout: affinity, internalTrafficPolicy: itp, labels: labels)
    }

    static func endpoints(_ service: String, ns: String = "default", port: UInt16 = 8080, portName: String = "", proto: L4Protocol = .tcp,
                          _ eps: [EndpointInfo]) -> EndpointSetInfo {
        let ref = ObjectRef(namespace: ns, name: service)
        return EndpointSetInfo(source: ref, service: ref, ports: [EndpointPortInfo(name: portName, proto: proto, port: port)], endpoints: eps)
    }

    static func ep(_ s: String, ready: Bool = true, serving: Bool = true, terminating: Bool = false, node: String? = nil) -> EndpointInfo {
        EndpointInfo(address: IPAddress(s)!, ready: ready, serving: serving, terminating: terminating, nodeName: node)
    }

    static var seedConfig: ProxyConfig {
        var c = ProxyConfig()
        c.clusterCIDRs = [CIDR("10.244.0.0/16")!]
        return c
    }

    static let node = NodeContext(name: "node1")

    static func seedSnapshot(endpoints: [String] = ["10.244.1.2", "10.244.1.3"]) -> ClusterSnapshot {
        ClusterSnapshot(services: [service("web-service", ip: "10.254.10.128")],
                        endpointSets: [Fx.endpoints("web-service", endpoints.map { ep($0) })])
    }

    static func desired(_ snap: ClusterSnapshot, config: ProxyConfig = seedConfig, node: NodeContext = node) -> DesiredState {
        DesiredStateBuilder.build(snapshot: snap, config: config, node: node)
    }

    static func vsKey(_ ip: String, _ port: UInt16, _ proto: L4Protocol = .tcp) -> VirtualServerKey {
        VirtualServerKey(address: IPAddress(ip)!, proto: proto, port: port)
    }
}
