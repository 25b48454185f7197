#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Unbuffered writes to standard output and standard error, as FileHandle's (which is not in
/// FoundationEssentials): a line is written whole even when the process exits right after.
enum StandardStream {
    /// Writes `text` to standard output.
    static func output(_ text: String) { writeAll(1, text) }
    /// Writes `text` to standard error.
    static func error(_ text: String) { writeAll(2, text) }

    private static func writeAll(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }  // a closed stream: nothing to tell it to
            bytes = bytes.dropFirst(n)
        }
    }
}
