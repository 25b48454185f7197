// MARK: - Calendar dates without Foundation's Calendar (which would link ICU into the binary)

/// Proleptic Gregorian dates from days since 1970-01-01.
public enum CivilDate {
    /// The year, month (1-12) and day (1-31) of `days` since 1970-01-01 (Howard Hinnant's
    /// civil_from_days); exact for every Int64 that does not overflow `days + 719_468`.
    public static func from(daysSince1970 days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
