// MARK: - Checked model values
//
// What the core consumes. Every value here passed validation (`Validation.swift`): addresses
// parse, ports are in range, protocols are known.

/// `namespace/name` of an object.
public struct ObjectRef: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var namespace: String
    public var name: String
    public init(namespace: String, name: String) { self.namespace = namespace; self.name = name }
    public static func < (a: Self, b: Self) -> Bool { (a.namespace, a.name) < (b.namespace, b.name) }
    public var description: String { "\(namespace)/\(name)" }
}

/// The Service types kube-ipvs distinguishes.
public enum ServiceType: String, Sendable, Hashable {
    case clusterIP = "ClusterIP"
    case nodePort = "NodePort"
    case loadBalancer = "LoadBalancer"
    case externalName = "ExternalName"
}

/// `Cluster` or `Local` (externalTrafficPolicy / internalTrafficPolicy).
public enum TrafficPolicy: String, Sendable, Hashable {
    case cluster = "Cluster"
    case local = "Local"
}

/// One port of a Service.
public struct ServicePortInfo: Sendable, Hashable {
    /// The port's name; "" when unnamed (allowed only for a single-port Service).
    public var name: String
    public var proto: L4Protocol
    public var port: UInt16
    public var targetPort: IntOrString?
    public var nodePort: UInt16?
    public init(name: String, proto: L4Protocol, port: UInt16, targetPort: IntOrString? = nil, nodePort: UInt16? = nil) {
        self.name = name; self.proto = proto; self.port = port; self.targetPort = targetPort; self.nodePort = nodePort
    }
}

/// A validated Service.
public struct ServiceInfo: Sendable, Hashable {
    public var ref: ObjectRef
    public var type: ServiceType
    /// Cluster IPs, primary first; empty for headless and ExternalName Services.
    public var clusterIPs: [IPAddress]
    /// True for `clusterIP: None`.
    public var isHeadless: Bool
    public var ports: [ServicePortInfo]
    public var externalIPs: [IPAddress]
    /// status.loadBalancer.ingress IPs, without those whose ipMode is Proxy.
    public var loadBalancerIPs: [IPAddress]
    public var loadBalancerSourceRanges: [CIDR]
    /// Session affinity timeout in seconds when sessionAffinity is ClientIP; nil otherwise.
    public var affinityTimeout: UInt32?
    public var externalTrafficPolicy: TrafficPolicy
    public var internalTrafficPolicy: TrafficPolicy
    public var healthCheckNodePort: UInt16?
    /// Only the labels and annotations kube-ipvs reads (`service.kubernetes.io/service-proxy-name`,
    /// the `kube-ipvs.io/` annotations): a Service's others (a `kubectl apply` keeps the whole object in
    /// one) would be held for every Service and would make unrelated edits look like changes.
    public var labels: [String: String]
    public var annotations: [String: String]
    /// The IPVS scheduler chosen by the `kube-ipvs.io/scheduler` annotation; nil: the configured one.
    public var scheduler: String?
    /// Scheduler flags from `kube-ipvs.io/scheduler-flags` (`mh-port`, `sh-fallback`, `flag-3`, ...);
    /// nil: the default for the scheduler (`mh-port` with mh, as upstream).
    public var schedulerFlags: [String]?
    /// Problems with optional fields (the annotations above, bad elements of externalIPs,
    /// loadBalancerSourceRanges and ingress IPs) that were ignored: the Service is still programmed,
    /// with the default in place of a bad value and without a bad element. Callers report them.
    public var ignoredFieldErrors: [FieldError] = []

    public init(ref: ObjectRef, type: ServiceType = .clusterIP, clusterIPs: [IPAddress], isHeadless: Bool = false,
                ports: [ServicePortInfo], externalIPs: [IPAddress] = [], loadBalancerIPs: [IPAddress] = [],
                loadBalancerSourceRanges: [CIDR] = [], affinityTimeout: UInt32? = nil,
                externalTrafficPolicy: TrafficPolicy = .cluster, internalTrafficPolicy: TrafficPolicy = .cluster,
                healthCheckNodePort: UInt16? = nil, labels: [String: String] = [:], annotations: [String: String] = [:],
                scheduler: String? = nil, schedulerFlags: [String]? = nil) {
        self.ref = ref; self.type = type; self.clusterIPs = clusterIPs; self.isHeadless = isHeadless; self.ports = ports
        self.externalIPs = externalIPs; self.loadBalancerIPs = loadBalancerIPs
        self.loadBalancerSourceRanges = loadBalancerSourceRanges; self.affinityTimeout = affinityTimeout
        self.externalTrafficPolicy = externalTrafficPolicy; self.internalTrafficPolicy = internalTrafficPolicy
        self.healthCheckNodePort = healthCheckNodePort; self.labels = labels; self.annotations = annotations
        self.scheduler = scheduler; self.schedulerFlags = schedulerFlags
    }

    /// The ignored-field problems as diagnostics (kind Service, this Service's name).
    public var ignoredFieldDiagnostics: [Diagnostic] {
        ignoredFieldErrors.map { Diagnostic(kind: "Service", object: ref.description, field: $0.field, message: $0.message) }
    }
}

/// A port of an endpoint set (name matches the Service port's name).
public struct EndpointPortInfo: Sendable, Hashable {
    public var name: String
    public var proto: L4Protocol
    public var port: UInt16
    public init(name: String, proto: L4Protocol, port: UInt16) { self.name = name; self.proto = proto; self.port = port }
}

/// One endpoint address with its conditions.
public struct EndpointInfo: Sendable, Hashable {
    public var address: IPAddress
    public var ready: Bool
    public var serving: Bool
    public var terminating: Bool
    public var nodeName: String?
    public var zone: String?
    /// Zones from hints.forZones; nil when the endpoint carries no hints.
    public var hintZones: [String]?
    /// Nodes from hints.forNodes; nil when absent.
    public var hintNodes: [String]?
    public init(address: IPAddress, ready: Bool = true, serving: Bool = true, terminating: Bool = false,
                nodeName: String? = nil, zone: String? = nil, hintZones: [String]? = nil, hintNodes: [String]? = nil) {
        self.address = address; self.ready = ready; self.serving = serving; self.terminating = terminating
        self.nodeName = nodeName; self.zone = zone; self.hintZones = hintZones; self.hintNodes = hintNodes
    }
}

/// Endpoints of one Service in one address family: an EndpointSlice, or one subset of a core/v1 Endpoints.
public struct EndpointSetInfo: Sendable, Hashable {
    /// The object it came from (EndpointSlice or Endpoints).
    public var source: ObjectRef
    /// The Service it belongs to.
    public var service: ObjectRef
    public var ports: [EndpointPortInfo]
    public var endpoints: [EndpointInfo]
    /// Endpoint addresses that were dropped (unparsable, wrong family), naming the object and
    /// field; the other endpoints are used. Callers report them as warnings.
    public var ignoredFieldDiagnostics: [Diagnostic] = []
    public init(source: ObjectRef, service: ObjectRef, ports: [EndpointPortInfo], endpoints: [EndpointInfo]) {
        self.source = source; self.service = service; self.ports = ports; self.endpoints = endpoints
    }
}

/// The node kube-ipvs runs on, as far as the core needs it.
public struct NodeInfo: Sendable, Hashable {
    public var name: String
    public var labels: [String: String]
    /// status.addresses of type InternalIP/ExternalIP.
    public var addresses: [IPAddress]
    public var podCIDRs: [CIDR]
    public init(name: String, labels: [String: String] = [:], addresses: [IPAddress] = [], podCIDRs: [CIDR] = []) {
        self.name = name; self.labels = labels; self.addresses = addresses; self.podCIDRs = podCIDRs
    }

    /// topology.kubernetes.io/zone, when set.
    public var zone: String? { labels["topology.kubernetes.io/zone"] }
}

/// Everything read from manifests or the API: the input of the desired-state builder.
public struct ClusterSnapshot: Sendable, Hashable {
    public var services: [ServiceInfo]
    public var endpointSets: [EndpointSetInfo]
    public var nodes: [NodeInfo]
    public init(services: [ServiceInfo] = [], endpointSets: [EndpointSetInfo] = [], nodes: [NodeInfo] = []) {
        self.services = services; self.endpointSets = endpointSets; self.nodes = nodes
    }
}

/// A problem with one input object; the object was skipped.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    /// `Service`, `Endpoints`, `EndpointSlice`, `Node`, or `document` for unreadable input.
    public var kind: String
    /// `namespace/name`, or the file and document number when the object has no name.
    public var object: String
    /// Dotted field path, such as `spec.ports[0].port`.
    public var field: String
    public var message: String
    public init(kind: String, object: String, field: String, message: String) {
        self.kind = kind; self.object = object; self.field = field; self.message = message
    }
    public var description: String {
        field.isEmpty ? "\(kind) \(object): \(message)" : "\(kind) \(object): \(field): \(message)"
    }
}
