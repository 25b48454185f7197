/// Go's time.Duration text (`1h2m3.5s`, `500ms`, `0`), in seconds.
public enum GoDuration {
    /// Longest duration Go represents (int64 nanoseconds, about 292 years); Go refuses longer text
    /// as "invalid duration", and so does `parse`: every value it returns is finite and within
    /// what Swift's Duration and Task.sleep take.
    public static let maxSeconds = Double(Int64.max) / 1e9

    /// Seconds, or nil for text that is not a duration or is out of Go's range. No sign: callers
    /// that take one (the configuration file, to range-check it) use `parseSigned`.
    public static func parse(_ text: String) -> Double? {
        if text == "0" { return 0 }
        var total = 0.0
        var s = Substring(text)
        guard !s.isEmpty else { return nil }
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        while !s.isEmpty {
            // ASCII digits only: Character.isNumber also takes other scripts' digits and fractions.
            let num = s.prefix { ($0.isASCII && $0.isNumber) || $0 == "." }
            guard !num.isEmpty, num != ".", let value = Double(num.hasPrefix(".") ? "0" + num : String(num)), value.isFinite else { return nil }
            s = s.dropFirst(num.count)
            guard let unit = units.first(where: { s.hasPrefix($0.0) && !(($0.0 == "m") && s.hasPrefix("ms")) }) else { return nil }
            s = s.dropFirst(unit.0.count)
            total += value * unit.1
            guard total.isFinite, total <= maxSeconds else { return nil }
        }
        return total
    }

    /// As `parse`, with Go's optional leading `-` or `+`: a negative value comes back negative, so
    /// that the caller can say which range it is out of.
    public static func parseSigned(_ text: String) -> Double? {
        if text.hasPrefix("-") { return parse(String(text.dropFirst())).map { -$0 } }
        if text.hasPrefix("+") { return parse(String(text.dropFirst())) }
        return parse(text)
    }

    /// `90s`, `1.5s`, or the value as Go would not print it (`inf`) for error texts.
    public static func format(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "\(seconds)s" }
        if seconds == seconds.rounded(), abs(seconds) < 1e15 { return "\(Int64(seconds))s" }
        return "\(seconds)s"
    }

    /// The text Go's Duration.String gives (`1h0m0s`, `15m0s`, `30s`, `250ms`, `1.5s`, `0s`): what
    /// upstream writes into a KubeProxyConfiguration. Seconds are rounded to whole nanoseconds.
    public static func goString(_ seconds: Double) -> String {
        guard seconds.isFinite else { return format(seconds) }
        let limit = Double(Int64.max)
        let nanos = (seconds * 1e9).rounded()
        let n: Int64 = nanos >= limit ? .max : nanos <= -limit ? .min + 1 : Int64(nanos)
        if n == 0 { return "0s" }
        let negative = n < 0
        var u = n.magnitude
        var out: String
        if u < 1_000_000_000 {
            // Below a second: one unit with a fraction (ns, µs or ms), as Go.
            let (unit, precision): (String, Int) = u < 1_000 ? ("ns", 0) : u < 1_000_000 ? ("µs", 3) : ("ms", 6)
            out = fraction(&u, precision) + unit
            out = String(u) + out
        } else {
            out = fraction(&u, 9) + "s"
            out = String(u % 60) + out
            u /= 60
            if u > 0 {
                out = String(u % 60) + "m" + out
                u /= 60
                if u > 0 { out = String(u) + "h" + out }
            }
        }
        return negative ? "-" + out : out
    }

    /// Go's fmtFrac: the last `precision` digits of `v` as `.ddd` without trailing zeros (empty
    /// when all are zero); `v` keeps the integer part.
    private static func fraction(_ v: inout UInt64, _ precision: Int) -> String {
        var digits = ""
        var printed = false
        for _ in 0..<precision {
            let digit = v % 10
            printed = printed || digit != 0
            if printed { digits = String(digit) + digits }
            v /= 10
        }
        return printed ? "." + digits : ""
    }
}
