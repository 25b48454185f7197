// CharacterSet and its trimming are not in FoundationEssentials (the whole of Foundation would link
// ICU into the binary): the two trims this code needs, on Character's own properties.
extension StringProtocol {
    /// Without leading and trailing white space and newlines (CharacterSet.whitespacesAndNewlines).
    public func trimmingWhitespaceAndNewlines() -> String { trimming { $0.isWhitespace } }

    /// Without leading and trailing white space other than newlines (CharacterSet.whitespaces).
    public func trimmingWhitespace() -> String { trimming { $0.isWhitespace && !$0.isNewline } }

    private func trimming(_ drop: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }
}
