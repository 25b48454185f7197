// MARK: - Empty values of the wire shapes
//
// The protobuf decoder (KubeClient) builds the same wire shapes as the JSON decoder, so that
// Validation.swift stays the one place that checks values; it starts from an empty value and
// sets the fields it read. (A public init() would clash with the synthesized internal one.)

extension ServiceResource {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension ServiceResource.Spec {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension ServiceResource.Port {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension ServiceResource.SessionAffinityConfig {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension ServiceResource.SessionAffinityConfig.ClientIP {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension ServiceResource.Status {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension ServiceResource.Status.LoadBalancer {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension ServiceResource.Status.Ingress {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension EndpointsResource {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension EndpointsResource.Subset {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension EndpointsResource.Address {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension EndpointsResource.Port {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension EndpointSliceResource {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension EndpointSliceResource.Endpoint {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension EndpointSliceResource.Conditions {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension EndpointSliceResource.Hints {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension EndpointSliceResource.Named {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension EndpointSliceResource.Port {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension NodeResource {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension NodeResource.Spec {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension NodeResource.Taint {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension NodeResource.Status {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}

extension NodeResource.Address {
    /// A value with every field unset.
    public static var empty: Self { Self() }
}
