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
        // Within `range` every value below fits an Int on any platform this builds for (64-bit).
        let days = Int(seconds.floorDivided(by: 86_400))
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        // Civil date from days since 1970-01-01 (the proleptic Gregorian calendar).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ v: Int, _ width: Int) -> String {
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
