import Foundation
@testable import Kernel
import XCTest

// Captured kernel replies (Fixtures/*.hex; Fixtures/README-netlink.md says how they were captured).

/// The datagrams of a fixture file: one hex line each; `#` lines are comments.
func fixtureDatagrams(_ name: String) throws -> [[UInt8]] {
    let url = try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/\(name)")
    let text = try String(contentsOf: url, encoding: .utf8)
    return text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map { bytes(String($0)) }
}

/// Every message of a dump fixture, with the terminating NLMSG_DONE checked and dropped.
func fixtureDumpMessages(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [NetlinkMessage] {
    var all: [NetlinkMessage] = []
    for d in try fixtureDatagrams(name) { all += try NetlinkMessage.parseAll(d[...]) }
    XCTAssertEqual(all.last?.header.type, NL.NLMSG_DONE, "\(name) ends with NLMSG_DONE", file: file, line: line)
    XCTAssertTrue(all.dropLast().allSatisfy { $0.header.flags & NL.NLM_F_MULTI != 0 }, "dump parts carry NLM_F_MULTI", file: file, line: line)
    return Array(all.dropLast())
}
