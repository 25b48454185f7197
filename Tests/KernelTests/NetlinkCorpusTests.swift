import Foundation
import XCTest
@testable import Kernel

/// The netlink fuzz corpus (Fuzz/netlink/corpus), replayed through the decoders the fuzz target
/// calls: `ok-*` are real kernel replies and must split into messages; every input must decode or
/// be refused with an error, never trap.
final class NetlinkCorpusTests: XCTestCase {
    func testCorpusDecodesOrIsRefused() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fuzz/netlink/corpus").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertGreaterThan(files.count, 10)
        for name in files {
            let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent(name)))
            let messages = try? NetlinkMessage.parseAll(bytes[...])
            if name.hasPrefix("ok-") { XCTAssertFalse(messages?.isEmpty ?? true, name) }
            for msg in messages ?? [] {
                _ = try? msg.errorReply()
                _ = try? IPVSReply.service(msg)
                _ = try? IPVSReply.dest(msg, serviceFamily: .ipv4)
                _ = try? IPVSReply.timeouts(msg)
                _ = try? IPVSReply.info(msg)
                _ = try? LinkMessages.decode(msg)
                _ = try? AddressMessages.decode(msg)
                _ = try? ConntrackMessages.decode(msg)
            }
        }
    }
}
