import ProxyCore

// MARK: - Where the node's own addresses come from
//
// The daemon and `sync` read the node's addresses at every sync (one RTM_GETLINK dump, then one
// RTM_GETADDR dump per link but kube-ipvs0, read-only; one dump of every address on kernels
// without NETLINK_GET_STRICT_CHK) to choose NodePort addresses and to know which externalIPs are
// already local (NodeAddressSelection). A kernel that is not the node's (the in-memory kernel of
// `run --dry-run`) has none: then the Node object's status addresses stand in.

/// Reads the node's addresses.
public protocol NodeAddressSource: AnyObject {
    /// Every address of every link, with the link's name (kube-ipvs0's may be left out: they are
    /// never node addresses); nil when this source knows none.
    func interfaceAddresses() throws -> [InterfaceAddress]?
    /// The link kube-ipvs binds Service addresses on (`kube-ipvs0`); its addresses are not node addresses.
    var ipvsInterfaceName: String { get }
}

/// The node's links over rtnetlink.
public final class LinkAddressSource: NodeAddressSource {
    public let link: LinkBackend
    public init(link: LinkBackend) { self.link = link }
    /// Opens its own NETLINK_ROUTE socket; changes nothing.
    public convenience init(linkName: String = "kube-ipvs0") throws { self.init(link: try LinkBackend(linkName: linkName)) }
    public func interfaceAddresses() throws -> [InterfaceAddress]? { try link.interfaceAddresses() }
    public var ipvsInterfaceName: String { link.linkName }
}

extension NodeKernel: NodeAddressSource {
    public func interfaceAddresses() throws -> [InterfaceAddress]? { try link.interfaceAddresses() }
    public var ipvsInterfaceName: String { link.linkName }
}
