#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a file with read(2): FileHandle is not in FoundationEssentials, and the whole of Foundation
/// would link ICU into the binary.
public enum BoundedFile {
    /// The bytes of the file at `path`, at most `limit` of them (all when nil), or nil when it cannot
    /// be opened or read. A pipe or a device works too (read to its end or to the limit).
    public static func read(_ path: String, limit: Int? = nil) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { _ = close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while limit.map({ bytes.count < $0 }) ?? true {
            let want = min(chunk.count, limit.map { $0 - bytes.count } ?? chunk.count)
            let n = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, want) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// Whether `path` (symlinks followed) is a directory; nil when it does not exist.
    public static func isDirectory(_ path: String) -> Bool? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// read(2) under a name that the static `read` above does not shadow.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.read(fd, buffer, count)
    #else
    return Darwin.read(fd, buffer, count)
    #endif
}
