import KubeModel

// MARK: - Real servers of one observed virtual server, sorted in one array
//
// The cached kernel state holds one of these per virtual server (and one for the counters): a
// dictionary keeps a hash table of keys and values per virtual server, several times the size of
// the elements themselves. Lookups binary-search; the planner and the kernel readers produce keys
// in ascending order, so appending at the end is checked first and costs O(1).

/// What a `RealServerTable` stores: a value together with the real-server key it is filed under.
public protocol RealServerTableEntry: Sendable, Hashable {
    /// What the table's subscript reads and writes.
    associatedtype Value: Sendable, Hashable
    /// The key this entry is sorted and looked up by.
    var key: RealServerKey { get }
    /// The value the entry carries.
    var value: Value { get }
    /// An entry filing `value` under `key`.
    init(key: RealServerKey, value: Value)
}

extension RealServer: RealServerTableEntry {
    /// The real server itself: it carries its key.
    public var value: RealServer { self }
    /// `value` filed under `key` (the key wins, so the table stays consistent with its subscript).
    public init(key: RealServerKey, value: RealServer) { self = value; self.key = key }
}

/// Connection counters filed under their real server's key.
public struct RealServerStatsEntry: RealServerTableEntry {
    /// The real server the counters are for.
    public var key: RealServerKey
    /// The counters.
    public var value: RealServerStats
    /// Counters `value` for the real server `key`.
    public init(key: RealServerKey, value: RealServerStats) { self.key = key; self.value = value }
}

/// Entries sorted by real-server key in one array, with the dictionary API the observed state uses.
/// Equality and hashing do not depend on the order entries were inserted in.
public struct RealServerTable<Entry: RealServerTableEntry>: Sendable, Hashable, RandomAccessCollection {
    /// Sorted by key, each key once.
    public private(set) var entries: [Entry]

    /// An empty table.
    public init() { entries = [] }

    /// A table of `entries`, in any order; a later entry replaces an earlier one with the same key.
    public init<S: Sequence>(_ entries: S) where S.Element == Entry {
        self.init()
        self.entries.reserveCapacity(entries.underestimatedCount)
        for e in entries { self[e.key] = e.value }
    }

    /// A table of the dictionary's values.
    public init(_ dictionary: [RealServerKey: Entry.Value]) {
        self.init(dictionary.map { Entry(key: $0.key, value: $0.value) }.sorted { $0.key < $1.key })
    }

    /// Position of `key`, or where it would be inserted.
    private func search(_ key: RealServerKey) -> (index: Int, found: Bool) {
        // Keys arriving in ascending order (the planner's adds, kernel dumps) append with no search.
        if let last = entries.last {
            if last.key == key { return (entries.count - 1, true) }
            if last.key < key { return (entries.count, false) }
        } else {
            return (0, false)
        }
        var lo = 0, hi = entries.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].key < key { lo = mid + 1 } else { hi = mid }
        }
        return (lo, entries[lo].key == key)
    }

    /// The value filed under `key`; setting nil removes it.
    public subscript(key: RealServerKey) -> Entry.Value? {
        get {
            let (i, found) = search(key)
            return found ? entries[i].value : nil
        }
        set {
            let (i, found) = search(key)
            switch (newValue, found) {
            case (let v?, true): entries[i] = Entry(key: key, value: v)
            case (let v?, false):
                // Grow by a quarter, not the array's doubling: the table is held per virtual
                // server, and a doubled array stays up to half empty. Still geometric: amortized O(1).
                if entries.count == entries.capacity { entries.reserveCapacity(entries.count + entries.count / 4 + 1) }
                entries.insert(Entry(key: key, value: v), at: i)
            case (nil, true): entries.remove(at: i)
            case (nil, false): break
            }
        }
    }

    /// The keys, ascending.
    public var keys: LazyMapCollection<[Entry], RealServerKey> { entries.lazy.map(\.key) }
    /// The values, in key order.
    public var values: LazyMapCollection<[Entry], Entry.Value> { entries.lazy.map(\.value) }

    /// The first position.
    public var startIndex: Int { 0 }
    /// One past the last position.
    public var endIndex: Int { entries.count }
    /// The entry at `position`, in key order.
    public subscript(position: Int) -> Entry { entries[position] }
}

extension RealServerTable: ExpressibleByDictionaryLiteral {
    /// A table of the literal's values (tests).
    public init(dictionaryLiteral elements: (RealServerKey, Entry.Value)...) {
        self.init(elements.map { Entry(key: $0.0, value: $0.1) })
    }
}
