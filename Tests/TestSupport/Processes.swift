import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What tests that run the built `kube-ipvs` binary share.
public enum BuiltBinary {
    /// The kube-ipvs executable beside the test bundle (.build/<configuration>/kube-ipvs).
    public static var kubeIPVS: URL {
        let dir = Bundle.main.bundleURL
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("kube-ipvs")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return dir.appendingPathComponent("kube-ipvs")
    }
}

/// A TCP port that was free a moment ago on 127.0.0.1 (bound once by the kernel's choice, then
/// released).
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else { throw CocoaError(.fileWriteUnknown) }
    return Int(UInt16(bigEndian: addr.sin_port))
}
