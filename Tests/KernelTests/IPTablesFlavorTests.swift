import Foundation
import XCTest
import KubeModel
@testable import Kernel

/// Flavour detection against fake xtables tools (shell scripts in a temporary directory): no root,
/// no real iptables.
final class IPTablesFlavorTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("kube-ipvs-xtables-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    var tools: IPTablesTools { IPTablesTools(searchPath: [dir]) }

    /// A fake tool printing `output` (and nothing else) whatever its arguments.
    func fake(_ name: String, _ output: String = "") throws {
        let path = "\(dir!)/\(name)"
        try "#!/bin/sh\ncat <<'EOF'\n\(output)\nEOF\n".write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    /// iptables, iptables-save and iptables-restore under the plain names only, in `mode`.
    func plainTools(version: String, save: String = "") throws {
        for family in ["iptables", "ip6tables"] {
            try fake(family, "\(family) \(version)")
            try fake("\(family)-save", save)
            try fake("\(family)-restore")
        }
    }

    /// Both flavours under their own names, with these save outputs.
    func suffixedTools(legacy: String = "", nft: String = "") throws {
        for family in ["iptables", "ip6tables"] {
            try fake("\(family)-legacy-save", legacy)
            try fake("\(family)-legacy-restore")
            try fake("\(family)-nft-save", nft)
            try fake("\(family)-nft-restore")
        }
    }

    func testOnlyPlainLegacyToolsGiveLegacy() throws {
        // Older distributions: `iptables` is legacy and there is no -legacy/-nft name. nft, whose
        // tools are missing, must not win the tie at zero rules.
        try plainTools(version: "v1.8.4 (legacy)")
        XCTAssertEqual(IPTablesFlavor.detect(tools: tools), .legacy)
        let backend = IPTablesBackend(family: .ipv4, flavor: .legacy, tools: tools)
        XCTAssertEqual(backend.tool("save"), "iptables-save", "the plain tools are legacy: the backend uses them")
        XCTAssertEqual(backend.tool("restore"), "iptables-restore")
        XCTAssertEqual(IPTablesBackend(family: .ipv6, flavor: .legacy, tools: tools).tool("save"), "ip6tables-save")
        XCTAssertEqual(IPTablesBackend(family: .ipv4, flavor: .nft, tools: tools).tool("save"), "iptables-nft-save",
                       "not the plain tool of the other flavour")
    }

    func testPreModeIptablesIsLegacy() throws {
        try plainTools(version: "v1.6.1")
        XCTAssertEqual(IPTablesFlavor.detect(tools: tools), .legacy)
    }

    func testOnlyPlainNftToolsGiveNft() throws {
        try plainTools(version: "v1.8.9 (nf_tables)")
        XCTAssertEqual(IPTablesFlavor.detect(tools: tools), .nft)
        XCTAssertEqual(IPTablesBackend(family: .ipv4, flavor: .nft, tools: tools).tool("restore"), "iptables-restore")
    }

    func testOnlyOneFlavourInstalledIsChosen() throws {
        try fake("iptables-legacy-save")
        try fake("iptables-legacy-restore")
        XCTAssertEqual(IPTablesFlavor.detect(tools: tools), .legacy, "nft has no tools")
        try FileManager.default.removeItem(atPath: "\(dir!)/iptables-legacy-save")
        try FileManager.default.removeItem(atPath: "\(dir!)/iptables-legacy-restore")
        try fake("iptables-nft-save", "*filter\n-A INPUT -j ACCEPT\nCOMMIT")
        XCTAssertEqual(IPTablesFlavor.detect(tools: tools), .legacy, "nft without its restore tool cannot write")
        try fake("iptables-nft-restore")
        XCTAssertEqual(IPTablesFlavor.detect(tools: tools), .nft)
    }

    func testNoToolsAtAllGiveLegacy() {
        XCTAssertEqual(IPTablesFlavor.detect(tools: tools), .legacy, "libiptc writes without tools; nft cannot")
    }

    func testBothFlavoursCountRulesAndBreakTiesByThePlainIptables() throws {
        try suffixedTools(legacy: "*filter\n-A INPUT -j ACCEPT\n-A INPUT -j ACCEPT\nCOMMIT", nft: "*filter\n-A INPUT -j ACCEPT\nCOMMIT")
        XCTAssertEqual(IPTablesFlavor.detect(tools: tools), .legacy, "more legacy rules")
        try suffixedTools(nft: "*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT")
        XCTAssertEqual(IPTablesFlavor.detect(tools: tools), .nft, "kubelet's hint chain")
        try suffixedTools()
        XCTAssertEqual(IPTablesFlavor.detect(tools: tools), .nft, "a tie without a plain iptables: nft")
        try fake("iptables", "iptables v1.8.9 (legacy)")
        XCTAssertEqual(IPTablesFlavor.detect(tools: tools), .legacy, "a tie: the node's default alternative")
        try fake("iptables", "iptables v1.8.9 (nf_tables)")
        XCTAssertEqual(IPTablesFlavor.detect(tools: tools), .nft)
    }

    func testVersionOutput() {
        XCTAssertEqual(IPTablesFlavor.flavor(versionOutput: "iptables v1.8.9 (nf_tables)\n"), .nft)
        XCTAssertEqual(IPTablesFlavor.flavor(versionOutput: "iptables v1.8.9 (legacy)\n"), .legacy)
        XCTAssertEqual(IPTablesFlavor.flavor(versionOutput: "iptables v1.4.21\n"), .legacy)
        XCTAssertNil(IPTablesFlavor.flavor(versionOutput: ""))
        XCTAssertNil(IPTablesFlavor.flavor(versionOutput: "sh: iptables: not found"))
        XCTAssertEqual(IPTablesFlavor.decide(nftMangle: "", legacyAll: "", nftAll: "", onTie: .legacy), .legacy)
    }
}
