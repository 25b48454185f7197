import Foundation
import KubeModel
import XCTest
@testable import ProxyCore

/// The dry-run script prints names from manifests, which anyone can write. Whatever they hold, the
/// script runs only the commands of the plan: names stay inside comments or quoted words.
final class ShellRendererQuotingTests: XCTestCase {
    /// Names that would run `pwned` if printed as they are.
    static let hostile = [
        "a\npwned", "b$(pwned)", "c`pwned`", "d'$(pwned)'", "e\"$(pwned)\"", "f;pwned", "g # x\npwned #", "h\r\npwned",
        "ünïcødé\u{2028}\u{85}pwned", "i\\\npwned", "EOF\npwned", "j\u{0}pwned", "k&&pwned|pwned>x",
    ]

    static func script() -> String {
        var snapshot = ClusterSnapshot()
        for (i, name) in hostile.enumerated() {
            var svc = Fx.service(name, ns: "ns\n$(pwned)", ip: "10.96.0.\(i + 1)")
            if i == 0 { svc.scheduler = "rr;pwned" }  // ProxyCore takes ServiceInfo from anyone
            snapshot.services.append(svc)
            snapshot.endpointSets.append(Fx.endpoints(name, ns: "ns\n$(pwned)", [Fx.ep("10.244.1.\(i + 1)")]))
        }
        let plan = Planner.plan(desired: Fx.desired(snapshot), observed: .emptyNode)
        return ShellRenderer.render(plan, title: ["node n\n$(pwned)", "EOF", "`pwned`"])
    }

    func testNamesStayInsideCommentsAndQuotedWords() {
        let text = Self.script()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where line.contains("pwned") {
            let quoted = line.hasPrefix("ipvsadm -A ") && line.contains("-s 'rr;pwned'") || line == "modprobe 'ip_vs_rr;pwned'"
            XCTAssertTrue(line.hasPrefix("# ") || quoted, "line outside a comment: \(line)")
        }
        XCTAssertTrue(text.contains("\n# Service ns\\n$(pwned)/a\\npwned\n"), text)
        XCTAssertTrue(text.contains("\n# Service ns\\n$(pwned)/h\\r\\npwned\n"), text)
        XCTAssertTrue(text.contains("\n# Service ns\\n$(pwned)/i\\\\\\npwned\n"), text)
        XCTAssertTrue(text.contains("\n# Service ns\\n$(pwned)/ünïcødé\\u{2028}\\u{85}pwned\n"), text)
        XCTAssertTrue(text.hasPrefix("#!/bin/sh\n# node n\\n$(pwned)\n# EOF\n# `pwned`\n"), text)
    }

    func testWordQuoting() {
        XCTAssertEqual(ShellRenderer.word("KUBE-CLUSTER-IP"), "KUBE-CLUSTER-IP")
        XCTAssertEqual(ShellRenderer.word("10.96.0.1,tcp:80"), "10.96.0.1,tcp:80")
        XCTAssertEqual(ShellRenderer.word("net.ipv4.vs.conntrack=1"), "net.ipv4.vs.conntrack=1")
        XCTAssertEqual(ShellRenderer.word("a b"), "'a b'")
        XCTAssertEqual(ShellRenderer.word("it's"), "'it'\\''s'")
        XCTAssertEqual(ShellRenderer.word(""), "''")
        XCTAssertEqual(ShellRenderer.hereDocDelimiter("*nat\nEOF\nEOF_1\nCOMMIT\n"), "EOF_2")
        XCTAssertEqual(ShellRenderer.hereDocDelimiter("*nat\n-A X -j EOF\nCOMMIT\n"), "EOF")
    }

    /// `sh -n` accepts the script, and run under sh with stub tools that only log their argv
    /// (in a network namespace of its own), it runs the plan's commands and nothing else.
    func testScriptRunsOnlyThePlansCommands() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("kube-ipvs-sh-\(UUID().uuidString)")
        let bin = dir.appendingPathComponent("bin")
        try fm.createDirectory(at: bin, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        let log = dir.appendingPathComponent("argv.log").path
        let tools = ["ipvsadm", "ipset", "iptables-restore", "ip6tables-restore", "iptables", "ip6tables", "ip", "modprobe", "sysctl", "pwned"]
        for tool in tools {
            // Only shell built-ins: PATH holds nothing but these stubs. Here-docs are read to the end.
            let stub = "#!/bin/sh\nprintf '%s\\n' \"\(tool) $*\" >> \"$LOG\"\n"
                + (tool.hasSuffix("-restore") ? "while IFS= read -r line; do :; done\n" : "")
            let url = bin.appendingPathComponent(tool)
            try stub.write(to: url, atomically: true, encoding: .utf8)
            try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
        }
        let script = dir.appendingPathComponent("plan.sh")
        try Self.script().write(to: script, atomically: true, encoding: .utf8)

        func run(_ args: [String]) throws -> Int32 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: args[0])
            p.arguments = Array(args.dropFirst())
            p.environment = ["PATH": bin.path, "LOG": log]
            p.currentDirectoryURL = dir
            try p.run()
            p.waitUntilExit()
            return p.terminationStatus
        }
        XCTAssertEqual(try run(["/bin/sh", "-n", script.path]), 0, "sh -n")
        let isolated = (try? run(["/usr/bin/unshare", "-n", "/bin/sh", "-c", ":"])) == 0
        let command = (isolated ? ["/usr/bin/unshare", "-n"] : []) + ["/bin/sh", script.path]
        XCTAssertEqual(try run(command), 0, "the script ran to its end")
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertFalse(lines.contains { $0.hasPrefix("pwned") }, "an injected command ran: \(lines.filter { $0.hasPrefix("pwned") })")
        XCTAssertFalse(fm.fileExists(atPath: dir.appendingPathComponent("x").path), "an injected redirection ran")
        XCTAssertEqual(lines.filter { $0.hasPrefix("ipvsadm -A ") }.count, Self.hostile.count)
        XCTAssertTrue(lines.contains("ipvsadm -A -t 10.96.0.1:80 -s rr;pwned"), "the hostile scheduler is one argument")
        for line in lines { XCTAssertTrue(tools.contains(String(line.prefix { $0 != " " })), line) }
    }
}
