// MARK: - Wire shapes of the Kubernetes objects kube-ipvs reads
//
// Codable subsets, tolerant of fields they do not name (the API server sends many). Everything is
// optional here; `Validation.swift` turns these into checked values and names the first bad field.

/// `metadata` of any object.
public struct ObjectMeta: Codable, Sendable, Hashable {
    public var name: String?
    public var namespace: String?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var resourceVersion: String?
    public var deletionTimestamp: String?
    public init(name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil,
                annotations: [String: String]? = nil, resourceVersion: String? = nil) {
        self.name = name; self.namespace = namespace; self.labels = labels
        self.annotations = annotations; self.resourceVersion = resourceVersion
    }
}

/// A port value that may be a number or a name (`targetPort`).
public enum IntOrString: Codable, Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case string(String)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        }
    }

    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return s
        }
    }
}

// MARK: - Service (core/v1)

public struct ServiceResource: Codable, Sendable, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var spec: Spec?
    public var status: Status?

    public struct Spec: Codable, Sendable, Hashable {
        public var type: String?
        public var clusterIP: String?
        public var clusterIPs: [String]?
        public var ipFamilies: [String]?
        public var ports: [Port]?
        public var externalIPs: [String]?
        public var externalName: String?
        public var sessionAffinity: String?
        public var sessionAffinityConfig: SessionAffinityConfig?
        public var externalTrafficPolicy: String?
        public var internalTrafficPolicy: String?
        public var healthCheckNodePort: Int?
        public var loadBalancerSourceRanges: [String]?
        public var selector: [String: String]?
        public var trafficDistribution: String?
    }

    public struct Port: Codable, Sendable, Hashable {
        public var name: String?
        public var `protocol`: String?
        public var port: Int?
        public var targetPort: IntOrString?
        public var nodePort: Int?
        public var appProtocol: String?
    }

    public struct SessionAffinityConfig: Codable, Sendable, Hashable {
        public var clientIP: ClientIP?
        public struct ClientIP: Codable, Sendable, Hashable { public var timeoutSeconds: Int? }
    }

    public struct Status: Codable, Sendable, Hashable {
        public var loadBalancer: LoadBalancer?
        public struct LoadBalancer: Codable, Sendable, Hashable { public var ingress: [Ingress]? }
        public struct Ingress: Codable, Sendable, Hashable {
            public var ip: String?
            public var hostname: String?
            public var ipMode: String?
        }
    }
}

// MARK: - Endpoints (core/v1, legacy)

public struct EndpointsResource: Codable, Sendable, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var subsets: [Subset]?

    public struct Subset: Codable, Sendable, Hashable {
        public var addresses: [Address]?
        public var notReadyAddresses: [Address]?
        public var ports: [Port]?
    }
    public struct Address: Codable, Sendable, Hashable {
        public var ip: String?
        public var hostname: String?
        public var nodeName: String?
    }
    public struct Port: Codable, Sendable, Hashable {
        public var name: String?
        public var port: Int?
        public var `protocol`: String?
    }
}

// MARK: - EndpointSlice (discovery.k8s.io v1 and v1beta1)

public struct EndpointSliceResource: Codable, Sendable, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var addressType: String?
    public var endpoints: [Endpoint]?
    public var ports: [Port]?

    public struct Endpoint: Codable, Sendable, Hashable {
        public var addresses: [String]?
        public var conditions: Conditions?
        public var nodeName: String?
        public var zone: String?
        public var hints: Hints?
        /// v1beta1 only: `kubernetes.io/hostname` and `topology.kubernetes.io/zone` live here.
        public var topology: [String: String]?
    }
    public struct Conditions: Codable, Sendable, Hashable {
        public var ready: Bool?
        public var serving: Bool?
        public var terminating: Bool?
    }
    public struct Hints: Codable, Sendable, Hashable {
        public var forZones: [Named]?
        public var forNodes: [Named]?
    }
    public struct Named: Codable, Sendable, Hashable { public var name: String? }
    public struct Port: Codable, Sendable, Hashable {
        public var name: String?
        public var port: Int?
        public var `protocol`: String?
    }
}

// MARK: - Node (core/v1)

public struct NodeResource: Codable, Sendable, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var spec: Spec?
    public var status: Status?

    public struct Spec: Codable, Sendable, Hashable {
        public var podCIDR: String?
        public var podCIDRs: [String]?
        public var taints: [Taint]?
    }
    public struct Taint: Codable, Sendable, Hashable {
        public var key: String?
        public var value: String?
        public var effect: String?
    }
    public struct Status: Codable, Sendable, Hashable {
        public var addresses: [Address]?
    }

    /// Whether this node is going away (kube-proxy's /healthz then answers 503 so that load
    /// balancers drain it): it is being deleted, or the cluster autoscaler tainted it for deletion.
    public var isBeingRemoved: Bool {
        if metadata?.deletionTimestamp != nil { return true }
        return spec?.taints?.contains { $0.key == "ToBeDeletedByClusterAutoscaler" } ?? false
    }
    public struct Address: Codable, Sendable, Hashable {
        public var type: String?
        public var address: String?
    }
}
