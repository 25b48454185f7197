import KubeModel

/// An object that carries endpoints: an EndpointSlice or a core/v1 Endpoints.
public protocol EndpointSource: Sendable {
    var metadata: ObjectMeta? { get }
    /// The endpoint sets it holds, validated.
    func checkedSets() -> Checked<[EndpointSetInfo]>
}

extension EndpointSliceResource: EndpointSource {
    public func checkedSets() -> Checked<[EndpointSetInfo]> {
        switch checked() {
        case .ok(let s): return .ok([s])
        case .ignored(let why): return .ignored(why)
        case .invalid(let d): return .invalid(d)
        }
    }
}

extension EndpointsResource: EndpointSource {
    public func checkedSets() -> Checked<[EndpointSetInfo]> { checked() }
}
