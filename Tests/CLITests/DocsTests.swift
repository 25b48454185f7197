import Foundation
import XCTest

/// Keeps docs/configuration.md true: every flag that `kube-ipvs run --help` and `kube-ipvs sync
/// --help` list must be documented there (written as `` `--flag``).
final class DocsTests: XCTestCase {
    /// The long flags of a help text's OPTIONS section (`--config <config>` -> `--config`).
    static func flags(inHelp help: String) -> [String] {
        guard let options = help.range(of: "OPTIONS:") else { return [] }
        var out: [String] = []
        for line in help[options.upperBound...].split(separator: "\n") {
            // An option line starts with two spaces and a dash: "  -f, --filename <filename>".
            let t = line.drop(while: { $0 == " " })
            guard line.hasPrefix("  "), t.hasPrefix("-") else { continue }
            // The option part ends where the description starts (two spaces), if on this line.
            let spec = t.range(of: "  ").map { t[..<$0.lowerBound] } ?? t[...]
            for word in spec.split(separator: " ") {
                let w = word.trimmingCharacters(in: CharacterSet(charactersIn: ","))
                if w.hasPrefix("--") { out.append(w) }
            }
        }
        return out
    }

    func testFlagParsing() {
        let help = "USAGE: x\n\nOPTIONS:\n  -f, --filename <filename>\n                          A file.\n  --dry-run               Print.\n  --against-node          With --dry-run: plan against\n                          this node (see --output).\n  -h, --help              Show help.\n"
        XCTAssertEqual(Self.flags(inHelp: help), ["--filename", "--dry-run", "--against-node", "--help"])
    }

    func testEveryRunAndSyncFlagIsInConfigurationDoc() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path),
                          "kube-ipvs is not built beside the tests (\(CLITests.binary.path))")
        let doc = try String(contentsOf: CLITests.repoRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        for command in ["run", "sync"] {
            let p = Process()
            p.executableURL = CLITests.binary
            p.arguments = [command, "--help"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let help = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            let flags = Self.flags(inHelp: help).filter { $0 != "--help" && $0 != "--version" }
            XCTAssertGreaterThan(flags.count, 5, "no flags found in `kube-ipvs \(command) --help`:\n\(help)")
            for flag in flags {
                XCTAssertTrue(doc.contains("`\(flag)"), "`kube-ipvs \(command)` has \(flag), which docs/configuration.md does not document")
            }
        }
    }
}
