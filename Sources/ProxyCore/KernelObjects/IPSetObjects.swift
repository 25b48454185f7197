import KubeModel

// MARK: - ipsets (docs/spec.md §4)

/// The set types kube-ipvs creates; raw values are ipset's type names.
public enum IPSetType: String, Sendable, Hashable {
    case hashIP = "hash:ip"
    case hashIPPort = "hash:ip,port"
    case hashIPPortIP = "hash:ip,port,ip"
    case hashIPPortNet = "hash:ip,port,net"
    case bitmapPort = "bitmap:port"

    public var isBitmap: Bool { self == .bitmapPort }
}

/// How a KUBE-* set is created. Defaults follow kube-proxy (hashsize 1024, maxelem 65536, range 0-65535).
public struct IPSetSpec: Sendable, Hashable, Comparable {
    /// The set name, `KUBE-...` for IPv4 and `KUBE-6-...` for IPv6.
    public var name: String
    public var type: IPSetType
    /// Address family of hash sets; bitmap:port sets carry no family.
    public var family: IPFamily
    /// Used as the `-m comment` of the iptables rules that match the set.
    public var comment: String
    public var hashSize: Int = 1024
    public var maxElements: Int = 65536
    public var portRange: ClosedRange<Int> = 0...65535

    public init(name: String, type: IPSetType, family: IPFamily, comment: String) {
        self.name = name; self.type = type; self.family = family; self.comment = comment
    }

    public static func < (a: Self, b: Self) -> Bool { a.name < b.name }

    /// The arguments after `ipset create NAME` (type and its options), as `ipset save` prints them.
    public var createArguments: String {
        if type.isBitmap { return "\(type.rawValue) range \(portRange.lowerBound)-\(portRange.upperBound)" }
        return "\(type.rawValue) family \(family.ipsetFamily) hashsize \(hashSize) maxelem \(maxElements)"
    }

    /// Whether an existing set of `other`'s shape can be kept (same type and family).
    public func isCompatible(with other: IPSetSpec) -> Bool {
        type == other.type && (type.isBitmap || family == other.family)
    }
}

/// Builders for set members in the canonical text `ipset list` prints, so desired and observed compare as strings.
public enum IPSetEntry {
    /// `hash:ip` member: `10.254.10.128`.
    public static func ip(_ ip: IPAddress) -> String { ip.description }
    /// `hash:ip,port` member: `10.254.10.128,tcp:80`.
    public static func ipPort(_ ip: IPAddress, _ proto: L4Protocol, _ port: UInt16) -> String {
        // Appended, not interpolated: one per Service port on every full build.
        var s = ip.description
        s.reserveCapacity(s.utf8.count + 11)
        s += ","; s += proto.lowercased; s += ":"; s += String(port)
        return s
    }
    /// `hash:ip,port,ip` member: `10.244.1.2,tcp:8080,10.244.1.2`.
    public static func ipPortIP(_ ip: IPAddress, _ proto: L4Protocol, _ port: UInt16, _ ip2: IPAddress) -> String {
        "\(ip),\(proto.lowercased):\(port),\(ip2)"
    }
    /// `hash:ip,port,net` member: `1.2.3.4,tcp:80,10.0.0.0/8`; a host prefix prints as a bare address, as ipset does.
    public static func ipPortNet(_ ip: IPAddress, _ proto: L4Protocol, _ port: UInt16, _ net: CIDR) -> String {
        let n = net.prefixLength == net.family.hostPrefix ? net.address.description : net.description
        return "\(ip),\(proto.lowercased):\(port),\(n)"
    }
    /// `bitmap:port` member: `30080`.
    public static func port(_ port: UInt16) -> String { String(port) }
}
