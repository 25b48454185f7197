import Foundation
import XCTest
import KubeModel
import ProxyCore
@testable import Kernel

/// The conntrack client against the real kernel, in a throwaway network namespace (KUBE_IPVS_NETNS=1).
/// Entries are made with the conntrack tool (`conntrack -I`, reply tuple given, as IPVS with
/// net.ipv4.vs.conntrack=1 leaves them) and checked with `conntrack -L`.
final class ConntrackNetNSTests: XCTestCase {
    override func setUpWithError() throws {
        try NetfilterTestSupport.requireThrowawayNetns()
        guard try NetfilterTestSupport.sh("command -v conntrack") != "" else {
            throw XCTSkip("the conntrack tool is not installed (Debian package conntrack)")
        }
        try NetfilterTestSupport.sh("conntrack -F 2>/dev/null; conntrack -F -f ipv6 2>/dev/null; true")
    }

    func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    /// `conntrack -I`: an entry from CLIENT:SPORT to VIP:DPORT translated to RS:RPORT, for 600 s.
    func insert(_ proto: String = "udp", client: String, sport: UInt16, vip: String, dport: UInt16, rs: String, rport: UInt16, zone: Int? = nil) throws {
        var cmd = "conntrack -I -p \(proto) -s \(client) -d \(vip) --sport \(sport) --dport \(dport) -r \(rs) -q \(client)"
        cmd += " --reply-port-src \(rport) --reply-port-dst \(sport) --timeout 600"
        if proto == "tcp" { cmd += " --state ESTABLISHED" }
        if let zone { cmd += " --zone \(zone)" }
        let out = try NetfilterTestSupport.sh(cmd + " 2>&1; echo rc=$?")
        XCTAssertTrue(out.hasSuffix("rc=0\n"), "\(cmd): \(out)")
    }

    /// Flows on loopback are not the tests' (their entries use 10.x and fd00::): the test process
    /// itself may have one in the namespace, tracked once an earlier test's rules hooked conntrack.
    static func isLoopback(_ address: String) -> Bool { address.hasPrefix("127.") || address == "::1" }

    /// The tests' entries in the kernel's dump (loopback flows left out).
    func ours(_ c: Conntrack, family: IPFamily) throws -> [ConntrackEntry] {
        try c.entries(family: family).filter { !Self.isLoopback($0.original.source.description) }
    }

    /// The entries `conntrack -L` shows, as `proto orig-src:sport>orig-dst:dport=reply-src:sport`, sorted.
    func listed() throws -> [String] {
        let text = try NetfilterTestSupport.sh("conntrack -L 2>/dev/null; conntrack -L -f ipv6 2>/dev/null")
        var out: Set<String> = []
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            var fields: [String: [String]] = [:]
            for w in words {
                guard let eq = w.firstIndex(of: "=") else { continue }
                fields[String(w[..<eq]), default: []].append(String(w[w.index(after: eq)...]))
            }
            guard let src = fields["src"], let dst = fields["dst"], let sport = fields["sport"], let dport = fields["dport"],
                  src.count == 2, sport.count == 2 else { continue }
            if Self.isLoopback(src[0]) { continue }
            var s = "\(words[0]) \(src[0]):\(sport[0])>\(dst[0]):\(dport[0])=\(src[1]):\(sport[1])"
            if let z = fields["zone"] { s += " zone \(z[0])" }
            out.insert(s)
        }
        return out.sorted()
    }

    func testNetNSClearDeletesExactlyTheEntriesOfRemovedUDPBackends() throws {
        try insert(client: "10.0.0.1", sport: 40000, vip: "10.254.0.10", dport: 53, rs: "10.244.1.5", rport: 5353)  // stale
        try insert(client: "10.0.0.5", sport: 40010, vip: "10.254.0.10", dport: 53, rs: "10.244.1.5", rport: 5353)  // stale
        try insert(client: "10.0.0.6", sport: 40011, vip: "10.254.0.10", dport: 53, rs: "10.244.1.5", rport: 5353, zone: 7)  // stale
        try insert(client: "10.0.0.1", sport: 40001, vip: "10.254.0.10", dport: 53, rs: "10.244.1.6", rport: 5353)  // other backend
        try insert(client: "10.0.0.1", sport: 40002, vip: "10.254.0.10", dport: 53, rs: "10.244.1.5", rport: 5354)  // other backend port
        try insert("tcp", client: "10.0.0.1", sport: 40003, vip: "10.254.0.10", dport: 53, rs: "10.244.1.5", rport: 5353)  // TCP
        try insert(client: "10.0.0.1", sport: 40004, vip: "10.254.0.11", dport: 53, rs: "10.244.1.5", rport: 5353)  // other VIP
        try insert(client: "10.0.0.1", sport: 40005, vip: "10.254.0.10", dport: 54, rs: "10.244.1.5", rport: 5353)  // other port
        try insert(client: "fd00::1", sport: 40000, vip: "fd00::10", dport: 53, rs: "fd00:244::5", rport: 5353)  // stale
        try insert(client: "fd00::1", sport: 40001, vip: "fd00::10", dport: 53, rs: "fd00:244::6", rport: 5353)  // other backend
        XCTAssertEqual(try listed().count, 10)

        // Through NodeKernel, as the daemon calls it.
        let kernel = try NodeKernel(sets: nil, rules: nil)
        let filters = [
            ConntrackFilter(originalDestination: ip("10.254.0.10"), originalDestinationPort: 53, replySource: ip("10.244.1.5"), replySourcePort: 5353),
            ConntrackFilter(originalDestination: ip("fd00::10"), originalDestinationPort: 53, replySource: ip("fd00:244::5"), replySourcePort: 5353),
        ]
        XCTAssertEqual(try kernel.clearConntrack(filters), 4)
        XCTAssertEqual(try listed(), [
            "tcp 10.0.0.1:40003>10.254.0.10:53=10.244.1.5:5353",
            "udp 10.0.0.1:40001>10.254.0.10:53=10.244.1.6:5353",
            "udp 10.0.0.1:40002>10.254.0.10:53=10.244.1.5:5354",
            "udp 10.0.0.1:40004>10.254.0.11:53=10.244.1.5:5353",
            "udp 10.0.0.1:40005>10.254.0.10:54=10.244.1.5:5353",
            "udp fd00::1:40001>fd00::10:53=fd00:244::6:5353",
        ])
        XCTAssertEqual(try kernel.clearConntrack(filters), 0, "nothing left to delete")
        XCTAssertEqual(try kernel.clearConntrack([]), 0)
    }

    func testNetNSServiceThatGainsBackendsLosesEveryUDPEntryToIt() throws {
        // Sent while the Service had no backend: untranslated (the reply comes "from" the VIP itself).
        try insert(client: "10.0.0.2", sport: 40000, vip: "10.254.0.20", dport: 5000, rs: "10.254.0.20", rport: 5000)
        try insert(client: "10.0.0.3", sport: 40000, vip: "10.254.0.20", dport: 5000, rs: "10.244.2.9", rport: 5001)
        try insert("tcp", client: "10.0.0.2", sport: 40001, vip: "10.254.0.20", dport: 5000, rs: "10.254.0.20", rport: 5000)
        try insert(client: "10.0.0.2", sport: 40002, vip: "10.254.0.20", dport: 5001, rs: "10.254.0.20", rport: 5001)
        let r = try Conntrack().clear([ConntrackFilter(originalDestination: ip("10.254.0.20"), originalDestinationPort: 5000)])
        XCTAssertEqual(r.applied, 2)
        XCTAssertEqual(r.requestsSent, 2)
        XCTAssertEqual(try listed(), [
            "tcp 10.0.0.2:40001>10.254.0.20:5000=10.254.0.20:5000",
            "udp 10.0.0.2:40002>10.254.0.20:5001=10.254.0.20:5001",
        ])
    }

    func testNetNSDeleteOfAGoneOrReplacedEntryIsNoErrorAndSparesTheNewOne() throws {
        let c = try Conntrack()
        // Several rounds: the replacement often reuses the old entry's memory and then has its CTA_ID,
        // which only the reply-tuple lookup tells apart.
        for round in 1...5 {
            try NetfilterTestSupport.sh("conntrack -F 2>/dev/null; true")
            try insert(client: "10.0.0.1", sport: 40000, vip: "10.254.0.10", dport: 53, rs: "10.244.1.5", rport: 5353)
            try insert(client: "10.0.0.1", sport: 40001, vip: "10.254.0.10", dport: 53, rs: "10.244.1.5", rport: 5353)
            let dumped = try ours(c, family: .ipv4).sorted { $0.original.sourcePort < $1.original.sourcePort }
            XCTAssertEqual(dumped.count, 2)
            XCTAssertTrue(dumped.allSatisfy { $0.id != nil })
            // The first expires; the second is replaced by a new flow with the same original tuple, sent to a live backend.
            try NetfilterTestSupport.sh("conntrack -D -p udp --orig-port-src 40000 2>/dev/null; conntrack -D -p udp --orig-port-src 40001 2>/dev/null")
            try insert(client: "10.0.0.1", sport: 40001, vip: "10.254.0.10", dport: 53, rs: "10.244.1.6", rport: 5353)
            let r = try c.delete(dumped)
            XCTAssertEqual(r.applied, 0, "round \(round)")
            XCTAssertEqual(r.alreadyAbsent, 2, "ENOENT: expired, or replaced (round \(round))")
            XCTAssertEqual(try listed(), ["udp 10.0.0.1:40001>10.254.0.10:53=10.244.1.6:5353"], "round \(round)")
        }
    }

    func testNetNSThousandsOfEntriesInFewSyscalls() throws {
        // 3,000 entries, 2,000 of them stale: several dump datagrams and several delete sends.
        try NetfilterTestSupport.sh("""
            for i in $(seq 0 2999); do
              c=10.1.$((i / 250)).$((i % 250 + 1)); rs=10.244.1.$((i % 3 + 4))
              conntrack -I -p udp -s $c -d 10.254.0.10 --sport 40000 --dport 53 -r $rs -q $c --reply-port-src 5353 --reply-port-dst 40000 --timeout 600 2>/dev/null
            done
            """)
        let c = try Conntrack()
        var datagrams = 0
        c.socket.replyTap = { _, _ in datagrams += 1 }
        XCTAssertEqual(try ours(c, family: .ipv4).count, 3000)
        XCTAssertGreaterThan(datagrams, 1, "a dump of 3,000 entries spans datagrams")
        let start = Date()
        let r = try c.clear([
            ConntrackFilter(originalDestination: ip("10.254.0.10"), originalDestinationPort: 53, replySource: ip("10.244.1.4"), replySourcePort: 5353),
            ConntrackFilter(originalDestination: ip("10.254.0.10"), originalDestinationPort: 53, replySource: ip("10.244.1.5"), replySourcePort: 5353),
        ])
        print("conntrack: dumped 3000 entries and deleted \(r.applied) in \(String(format: "%.1f", Date().timeIntervalSince(start) * 1000)) ms")
        XCTAssertEqual(r.applied, 2000)
        XCTAssertEqual(r.alreadyAbsent, 0)
        let left = try ours(c, family: .ipv4)
        XCTAssertEqual(left.count, 1000)
        XCTAssertTrue(left.allSatisfy { $0.reply.source == ip("10.244.1.6") })
    }
}
