import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway directory standing in for a node's `/proc` and `/sys` (`Prerequisites(root:)`),
/// made with `dirs` and an IPVS module list with ip_vs and ip_vs_rr loaded.
func makeFakeNodeRoot(_ prefix: String, dirs: [String]) throws -> String {
    let root = "/tmp/\(prefix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    for d in dirs { XCTAssertEqual(system("mkdir -p '\(root)\(d)'"), 0) }
    try writeFile("\(root)/proc/modules", "ip_vs_rr 16384 1 - Live 0x0000000000000000\nip_vs 176128 3 ip_vs_rr, Live 0x0\n")
    try writeFile("\(root)/proc/sys/net/ipv4/vs/conntrack", "0\n")
    return root
}

/// Writes `text` to `path` with `mode`.
func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
    XCTAssertGreaterThanOrEqual(fd, 0, path)
    _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    close(fd)
    chmod(path, mode)
}
