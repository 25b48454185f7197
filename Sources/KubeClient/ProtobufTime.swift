import KubeModel

// MARK: - meta/v1 Time in protobuf: seconds since the epoch
//
// The JSON encoding of the same field is RFC 3339 at second precision (`2024-05-01T12:00:00Z`);
// the wire structs keep that text, so a protobuf time is formatted the same way.

/// Formats the API's protobuf times as its JSON does.
enum ProtobufTime {
    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years RFC 3339 can write.
    static let range: ClosedRange<Int64> = -62_135_596_800...253_402_300_799

    /// `seconds` since 1970 as RFC 3339 in UTC; an error for a time outside years 1-9999.
    static func rfc3339(seconds: Int64) throws -> String {
        guard range.contains(seconds) else {
            throw ProtobufError("seconds", "\(seconds) is out of range (years 1-9999)")
        }
        let days = seconds.floorDivided(by: 86_400)
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = CivilDate.from(daysSince1970: days)
        func pad(_ v: some BinaryInteger, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))Z"
    }
}

extension Int64 {
    /// Division rounding towards negative infinity (times before 1970 fall on the earlier day).
    func floorDivided(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
