// MARK: - Durations in the unit logs and summaries print

extension Duration {
    /// This duration in milliseconds, with the fractional part.
    public var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
