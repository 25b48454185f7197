/// Formats a number with a fixed count of decimals, as printf's `%.Nf` does, without Foundation's
/// `String(format:)` (which would link ICU into the binary).
public enum FixedDecimal {
    /// `value` with `digits` decimals (0...9), rounded as printf rounds: to nearest, ties to even.
    public static func format(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        let digits = min(max(digits, 0), 9)
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        // printf rounds the exact binary value (0.005 is a little above, 2.675 a little below),
        // not the rounded product: the product's exact rounding error (fma) decides a near tie.
        let product = value.magnitude * scale
        let error = (-product).addingProduct(value.magnitude, scale)  // exact: one rounding, of an exact result
        let floor = product.rounded(.down)
        let fraction = product - floor
        let scaled: Double
        if fraction > 0.5 || (fraction == 0.5 && error > 0) {
            scaled = floor + 1
        } else if fraction < 0.5 || error < 0 {
            scaled = floor
        } else {
            scaled = floor.truncatingRemainder(dividingBy: 2) == 0 ? floor : floor + 1
        }
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
