/// Formats a number with a fixed count of decimals, as printf's `%.Nf` does, without Foundation's
/// `String(format:)` (which would link ICU into the binary).
public enum FixedDecimal {
    /// `value` with `digits` decimals (0...9), rounded to nearest, ties to even.
    public static func format(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        let digits = min(max(digits, 0), 9)
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (value.magnitude * scale).rounded(.toNearestOrEven)
        // Beyond 2^63 the digits would not fit a UInt64; such durations do not occur, so plain text.
        guard scaled < 9.0e18 else { return "\(value)" }
        var text = String(UInt64(scaled))
        if digits > 0 {
            if text.count <= digits { text = String(repeating: "0", count: digits + 1 - text.count) + text }
            text.insert(".", at: text.index(text.endIndex, offsetBy: -digits))
        }
        return (value.sign == .minus ? "-" : "") + text
    }
}
