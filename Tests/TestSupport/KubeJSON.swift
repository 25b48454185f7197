import Foundation

// MARK: - API objects for the loop and daemon tests, as the API server sends them

/// Decodes a test's own JSON; JSON that does not decode is a bug in the test.
public func decode<T: Decodable>(_ json: String) -> T {
    try! JSONDecoder().decode(T.self, from: Data(json.utf8))
}

/// Service, Endpoints, EndpointSlice and Node objects as JSON text: `decode` them for the loop, or
/// put them into the fake API server.
public enum KubeJSON {
    /// A Service in `default` with one port (target port 8080); `extra` is appended to its spec.
    public static func service(_ name: String = "web-service", ip: String = "10.254.10.128", proto: String = "TCP",
                               port: Int = 80, portName: String? = nil, extra: String = "") -> String {
        let named = portName.map { #""name": "\#($0)", "# } ?? ""
        return """
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "\(name)", "namespace": "default"},
         "spec": {"clusterIP": "\(ip)", "ports": [{\(named)"protocol": "\(proto)", "port": \(port), "targetPort": 8080}]\(extra)}}
        """
    }

    /// A core/v1 Endpoints object in `default`: one subset of `ips` on port 8080.
    public static func endpoints(_ ips: [String], name: String = "web-service", proto: String = "TCP",
                                 trigger: String? = nil) -> String {
        let addrs = ips.map { #"{"ip": "\#($0)"}"# }.joined(separator: ", ")
        return """
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "\(name)", "namespace": "default"\(annotations(trigger))},
         "subsets": [{"addresses": [\(addrs)], "ports": [{"port": 8080, "protocol": "\(proto)"}]}]}
        """
    }

    /// An EndpointSlice in `default` of Service `service` (named `service-abc` unless `name`) with
    /// `endpoints` (`sliceEndpoint`) on port 8080.
    public static func slice(service: String, name: String? = nil, _ endpoints: [String], portName: String? = nil,
                             addressType: String = "IPv4", trigger: String? = nil) -> String {
        let named = portName.map { #""name": "\#($0)", "# } ?? ""
        return """
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "\(name ?? service + "-abc")", "namespace": "default",
                      "labels": {"kubernetes.io/service-name": "\(service)"}\(annotations(trigger))},
         "addressType": "\(addressType)", "endpoints": [\(endpoints.joined(separator: ", "))],
         "ports": [{\(named)"port": 8080, "protocol": "TCP"}]}
        """
    }

    /// One endpoint of a slice; conditions left out are left to their defaults.
    public static func sliceEndpoint(_ ip: String, node: String? = nil, ready: Bool = true, serving: Bool? = nil,
                                     terminating: Bool? = nil) -> String {
        var conditions = [#""ready": \#(ready)"#]
        if let serving { conditions.append(#""serving": \#(serving)"#) }
        if let terminating { conditions.append(#""terminating": \#(terminating)"#) }
        let onNode = node.map { #", "nodeName": "\#($0)""# } ?? ""
        return #"{"addresses": ["\#(ip)"]\#(onNode), "conditions": {\#(conditions.joined(separator: ", "))}}"#
    }

    /// A Node with `addresses` (type, address) in its status and, if given, a pod CIDR.
    public static func node(_ name: String = "node1", addresses: [(type: String, ip: String)] = [], podCIDR: String? = nil) -> String {
        let list = addresses.map { #"{"type": "\#($0.type)", "address": "\#($0.ip)"}"# }.joined(separator: ", ")
        let spec = podCIDR.map { #", "spec": {"podCIDR": "\#($0)"}"# } ?? ""
        return #"{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "\#(name)"}\#(spec), "status": {"addresses": [\#(list)]}}"#
    }

    private static func annotations(_ trigger: String?) -> String {
        trigger.map { #", "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "\#($0)"}"# } ?? ""
    }
}

extension String {
    /// The text as UTF-8 bytes (what the fake API server takes).
    public var utf8Data: Data { Data(utf8) }
}
