import KernelPort
import ProxyCore

/// The in-memory kernel as the loop tests use it: from a bare ObservedState, recording every plan,
/// one conntrack entry deleted per filter.
public func memoryKernel(_ addresses: NodeAddressSource? = nil) -> InMemoryKernel {
    let k = InMemoryKernel(state: ObservedState(), addresses: addresses, recordsPlans: true)
    k.conntrackEntriesPerFilter = 1
    return k
}
