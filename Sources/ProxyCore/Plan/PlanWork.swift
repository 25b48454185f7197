import KubeModel

// MARK: - The planner's per-Service work, put in owner order
//
// The planner's walk over sorted keys records one small work item per address, set member or
// virtual server that needs an operation, tagged with its owner; operations are made only once the
// items are in owner order. Owners are interned (each is hashed once per item, never compared), and
// one stable counting sort orders the items: items of a few words each, instead of every operation
// built, grouped and copied again.

/// Something one Service needs, found while walking the sorted keys.
enum WorkItem {
    /// Bind this address.
    case address(IPAddress)
    /// Add this member.
    case setEntry(set: String, entry: String)
    /// Add or edit this virtual server and its real servers (compared then): the family's
    /// position in the plan's families and the server's index in that family's dictionary.
    case virtualServer(family: Int, Dictionary<VirtualServerKey, DesiredVirtualServer>.Index)
}

/// Work items tagged with their owners, handed out grouped by owner in `namespace/name` order.
struct PlanWork {
    private var groupIndex: [String: Int32] = [:]
    private var groupOwners: [String] = []
    private var groupSizes: [Int] = []
    private var items: [WorkItem] = []
    private var itemGroup: [Int32] = []

    /// How many items there are.
    var count: Int { items.count }

    @inline(__always)
    mutating func add(_ item: WorkItem, owner: String) {
        let g: Int32
        if let known = groupIndex[owner] {
            g = known
        } else {
            g = Int32(groupOwners.count)
            groupIndex[owner] = g
            groupOwners.append(owner); groupSizes.append(0)
        }
        groupSizes[Int(g)] += 1
        items.append(item)
        itemGroup.append(g)
    }

    /// Calls `body` with every item and its owner: owners in order, each owner's items in the order
    /// they were added, except that one owner's adjacent members of one set come sorted by text.
    @inline(__always)
    func forEachInOwnerOrder(_ body: (WorkItem, String) -> Void) {
        for i in ownerOrder() { body(items[i], groupOwners[Int(itemGroup[i])]) }
    }

    /// The items' positions in owner order (a stable counting sort by owner).
    private func ownerOrder() -> [Int] {
        var next = [Int](repeating: 0, count: groupOwners.count)
        var offset = 0
        for g in groupOwners.indices.sorted(by: { groupOwners[$0] < groupOwners[$1] }) {
            next[g] = offset
            offset += groupSizes[g]
        }
        var order = [Int](repeating: 0, count: items.count)
        for (i, g) in itemGroup.enumerated() {
            order[next[Int(g)]] = i
            next[Int(g)] += 1
        }
        // One owner's members of one set are now adjacent (sets are walked in name order) but in
        // the order the set's dictionary gave them: sort each such run by member text. Runs are
        // nearly always one member long.
        var start = 0
        while start < order.count {
            var end = start + 1
            if case .setEntry(let set, _) = items[order[start]] {
                while end < order.count, itemGroup[order[end]] == itemGroup[order[start]],
                      case .setEntry(let other, _) = items[order[end]], other == set { end += 1 }
                if end - start > 1 {
                    order[start..<end].sort { a, b in
                        guard case .setEntry(_, let x) = items[a], case .setEntry(_, let y) = items[b] else { return false }
                        return x < y
                    }
                }
            }
            start = end
        }
        return order
    }
}
