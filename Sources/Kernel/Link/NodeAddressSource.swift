import KernelPort
import ProxyCore

// MARK: - The node's own addresses, read from its links
//
// One RTM_GETLINK dump, then one RTM_GETADDR dump per link but kube-ipvs0, read-only; one dump of
// every address on kernels without NETLINK_GET_STRICT_CHK.

/// The node's links over rtnetlink.
public final class LinkAddressSource: NodeAddressSource {
    public let link: LinkBackend
    public init(link: LinkBackend) { self.link = link }
    /// Opens its own NETLINK_ROUTE socket; changes nothing.
    public convenience init(linkName: String = dummyLinkName) throws { self.init(link: try LinkBackend(linkName: linkName)) }
    public func interfaceAddresses() throws -> [InterfaceAddress]? { try link.interfaceAddresses() }
    public var ipvsInterfaceName: String { link.linkName }
    /// Read-only: `modprobe -n` says whether a module could be loaded, nothing is loaded.
    public func unavailableSchedulers(_ names: Set<String>) -> Set<String> { Prerequisites().missingSchedulers(names, load: false) }
}

extension NodeKernel: NodeAddressSource {
    public func interfaceAddresses() throws -> [InterfaceAddress]? { try link.interfaceAddresses() }
    public var ipvsInterfaceName: String { link.linkName }
}

extension NodeKernel: VirtualServerReader {}
