import Foundation
import XCTest

/// Keeps full Foundation out of the shipped binary: it brings ICU, whose data alone is about 35 MB
/// of the static release binary. One plain `import Foundation` anywhere in the link (ours or a
/// dependency's default trait) brings it back, so the debug binary's dynamic needs are checked.
final class BinaryFoundationTests: XCTestCase {
    func testTheBinaryNeedsFoundationEssentialsOnly() throws {
        #if os(Linux)
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path),
                          "kube-ipvs is not built beside the tests (\(CLITests.binary.path))")
        let bytes = try Data(contentsOf: CLITests.binary)
        // Names in the dynamic string table end with NUL; libFoundationEssentials.so must not match.
        for library in ["libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so"] {
            let needle = Data(library.utf8) + Data([0])
            XCTAssertNil(bytes.range(of: needle), "kube-ipvs links \(library): some module imports all of Foundation")
        }
        XCTAssertNotNil(bytes.range(of: Data("libFoundationEssentials.so".utf8) + Data([0])),
                        "the check looks for the wrong names: FoundationEssentials is not found either")
        #else
        throw XCTSkip("dynamic library names are checked on Linux only")
        #endif
    }
}
