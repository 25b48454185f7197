import KubeModel
import ProxyCore

// MARK: - The port between the daemon's loop and a kernel
//
// The reconcile loop, `sync` and the tests program "a kernel" through these protocols only: the
// real node (`NodeKernel` in the Kernel target) or the in-memory one (`InMemoryKernel`, for
// `run --dry-run` and tests). Nothing here does I/O.

/// Reads the node's kernel state and applies Plans to it.
public protocol KernelBackend: AnyObject {
    /// The kernel state of the given families (node-wide parts are always read).
    func observe(families: Set<IPFamily>) throws -> ObservedState
    /// Applies `plan`; throws `ApplyFailure` when some operations failed (the report says what was done).
    func apply(_ plan: Plan) throws -> ApplyReport
    /// Deletes the conntrack entries the filters select (`ConntrackCleanup.filters`); returns how many
    /// were deleted. Throws `KernelBatchError` (whose `partial.applied` is the count) when some failed.
    func clearConntrack(_ filters: [ConntrackFilter]) throws -> Int
}

/// Reads one virtual server with fresh counters (graceful-termination checks).
public protocol VirtualServerReader: AnyObject {
    func observeVirtualServer(_ key: VirtualServerKey) throws -> ObservedVirtualServer?
}

/// Reads the node's addresses.
///
/// The daemon and `sync` read them at every sync to choose NodePort addresses and to know which
/// externalIPs are already local (`NodeAddressSelection`). A kernel that is not the node's (the
/// in-memory kernel of `run --dry-run`) has none: then the Node object's status addresses stand in.
public protocol NodeAddressSource: AnyObject {
    /// Every address of every link, with the link's name (kube-ipvs0's may be left out: they are
    /// never node addresses); nil when this source knows none.
    func interfaceAddresses() throws -> [InterfaceAddress]?
    /// The link kube-ipvs binds Service addresses on (`kube-ipvs0`); its addresses are not node addresses.
    var ipvsInterfaceName: String { get }
    /// Of the IPVS schedulers `names` (rr, twos...), those the kernel lacks: their ip_vs_<name>
    /// module is neither loaded, built in nor loadable. The desired state serves the Services that
    /// ask for one with a fallback (`NodeContext.unavailableSchedulers`).
    func unavailableSchedulers(_ names: Set<String>) -> Set<String>
}

extension NodeAddressSource {
    /// A source that cannot tell knows of no missing scheduler.
    public func unavailableSchedulers(_ names: Set<String>) -> Set<String> { [] }
}
