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
    /// Read-only: `modprobe -n` says whether a module could be loaded, nothing is loaded. Each
    /// scheduler is probed once (the dry-run asks at every sync).
    public func unavailableSchedulers(_ names: Set<String>) -> Set<String> {
        let due = names.filter { probed[$0] == nil }
        if !due.isEmpty {
            let missing = Prerequisites().missingSchedulers(due, load: false)
            for n in due { probed[n] = missing.contains(n) }
        }
        return names.filter { probed[$0] == true }
    }
    /// Whether each scheduler probed so far was missing.
    private var probed: [String: Bool] = [:]
}

extension NodeKernel: NodeAddressSource {
    public func interfaceAddresses() throws -> [InterfaceAddress]? { try link.interfaceAddresses() }
    public var ipvsInterfaceName: String { link.linkName }
}

extension NodeKernel: VirtualServerReader {}
