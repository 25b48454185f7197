#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel

// MARK: - The collections kube-ipvs lists and watches

/// A collection on the API server (cluster-wide), with optional selectors.
public struct ResourceKind: Sendable, Hashable, CustomStringConvertible {
    /// Collection path, e.g. `/api/v1/services` or `/apis/discovery.k8s.io/v1/endpointslices`.
    public var path: String
    /// `fieldSelector` query value, e.g. `metadata.name=node-1`.
    public var fieldSelector: String?
    /// `labelSelector` query value, e.g. `!service.kubernetes.io/service-proxy-name`.
    public var labelSelector: String?

    /// A collection at `path` with optional selectors.
    public init(path: String, fieldSelector: String? = nil, labelSelector: String? = nil) {
        self.path = path; self.fieldSelector = fieldSelector; self.labelSelector = labelSelector
    }

    /// core/v1 Services in all namespaces.
    public static let services = ResourceKind(path: "/api/v1/services")
    /// core/v1 Endpoints in all namespaces (`--endpoints-source=endpoints`).
    public static let endpoints = ResourceKind(path: "/api/v1/endpoints")
    /// discovery.k8s.io EndpointSlices in all namespaces; `version` is `v1` or `v1beta1`
    /// (see `APIClient.preferredEndpointSliceVersion()`).
    public static func endpointSlices(version: String) -> ResourceKind {
        ResourceKind(path: "/apis/discovery.k8s.io/\(version)/endpointslices")
    }
    /// The one Node called `name` (field selector `metadata.name=NAME`).
    public static func node(named name: String) -> ResourceKind {
        ResourceKind(path: "/api/v1/nodes", fieldSelector: "metadata.name=\(name)")
    }

    /// The label selector kube-proxy puts on its Service and EndpointSlice informers: skip objects
    /// that another proxy owns (`service.kubernetes.io/service-proxy-name`) and headless Services.
    public static let kubeProxyLabelSelector = "!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"

    /// The same collection with `labelSelector` set.
    public func withLabelSelector(_ selector: String?) -> ResourceKind {
        var k = self; k.labelSelector = selector; return k
    }

    /// The collection's group/version as an envelope names it: `v1`, `discovery.k8s.io/v1beta1`.
    public var apiVersion: String {
        let parts = path.split(separator: "/")
        if parts.first == "api", parts.count > 1 { return String(parts[1]) }
        if parts.first == "apis", parts.count > 2 { return "\(parts[1])/\(parts[2])" }
        return ""
    }

    public var description: String {
        var s = path
        if let f = fieldSelector { s += " fieldSelector=\(f)" }
        if let l = labelSelector { s += " labelSelector=\(l)" }
        return s
    }
}

// MARK: - Objects the reflector can track

/// An API object with metadata; the reflector reads `metadata.resourceVersion` from it. It can be
/// read from JSON (Decodable) and from the API's protobuf (KubeObject+Protobuf.swift).
public protocol KubeObject: Decodable, Sendable {
    var metadata: ObjectMeta? { get }
    /// Decodes one object from the bytes a protobuf envelope holds; `apiVersion` is the
    /// envelope's (or the collection's), for types whose versions number fields differently.
    static func decodeProtobuf(_ raw: Data, apiVersion: String) throws -> Self
}

extension ServiceResource: KubeObject {}
extension EndpointsResource: KubeObject {}
extension EndpointSliceResource: KubeObject {}
extension NodeResource: KubeObject {}
