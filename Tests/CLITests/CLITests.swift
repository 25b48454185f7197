import Foundation
import XCTest
import TestSupport

/// Runs the built `kube-ipvs` binary and checks what users see: stdout, stderr and exit status.
final class CLITests: XCTestCase {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The executable beside the test bundle (.build/<configuration>/kube-ipvs).
    static var binary: URL { BuiltBinary.kubeIPVS }

    struct Run { var status: Int32; var stdout: String; var stderr: String }

    /// Runs kube-ipvs with `args`; `isolated`: in a network namespace of its own (`unshare -n`).
    func run(_ args: [String], isolated: Bool = false, environment: [String: String] = [:]) throws -> Run {
        try Self.launch(args, isolated: isolated, environment: environment)
    }

    /// Writes `dir/kubeconfig`: one cluster at `server`, a bearer token; returns its path.
    static func writeKubeconfig(server: String, in dir: URL) throws -> String {
        let path = dir.appendingPathComponent("kubeconfig").path
        try """
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "\(server)"}}]
            users: [{name: u, user: {token: t}}]
            contexts: [{name: ctx, context: {cluster: c, user: u}}]
            current-context: ctx
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs `program` (the binary, or a link to it) with `args` in the repository root, to its end;
    /// `environment` is added to this process's.
    static func launch(_ args: [String], program: URL = binary, isolated: Bool = false, environment: [String: String] = [:]) throws -> Run {
        let p = Process()
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.executableURL = isolated ? URL(fileURLWithPath: "/usr/bin/unshare") : program
        p.arguments = isolated ? ["-n", program.path] + args : args
        p.currentDirectoryURL = repoRoot
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    let seedArgs = ["sync", "--dry-run", "-f", "examples/web-service.yaml", "--config", "examples/kube-proxy-config.yaml",
                    "--hostname-override", "node1"]

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: Self.binary.path),
                          "kube-ipvs is not built beside the tests (\(Self.binary.path)); run `swift build` first")
    }

    /// A fake /proc and /sys with 2 CPUs and kernel 6.1 (`KUBE_IPVS_NODE_ROOT`): the node tuning
    /// lines of a dry-run then do not depend on the machine running the tests.
    static let fixedNode = ["KUBE_IPVS_NODE_ROOT": repoRoot.appendingPathComponent("Tests/CLITests/Fixtures/node-root").path]

    func testSeedDryRunMatchesGoldenFile() throws {
        let r = try run(seedArgs, environment: Self.fixedNode)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        let golden = try String(contentsOf: Self.repoRoot.appendingPathComponent("Tests/CLITests/Golden/web-service.sh"), encoding: .utf8)
        XCTAssertEqual(r.stdout, golden, "regenerate with: KUBE_IPVS_NODE_ROOT=Tests/CLITests/Fixtures/node-root .build/debug/kube-ipvs \(seedArgs.joined(separator: " ")) > Tests/CLITests/Golden/web-service.sh")
    }

    func testSeedDryRunHasTheByHandProcedure() throws {
        let lines = try run(seedArgs).stdout.split(separator: "\n").map(String.init)
        for expected in [
            "set -e",
            "ip link add kube-ipvs0 type dummy",
            "ipset create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536",
            "modprobe ip_vs", "modprobe ip_vs_rr", "modprobe ip_vs_wrr", "modprobe ip_vs_sh", "modprobe nf_conntrack",
            "sysctl -w net.ipv4.vs.conntrack=1",
            "# Service default/web-service",
            "ip addr add 10.254.10.128/32 dev kube-ipvs0",
            "ipset add KUBE-CLUSTER-IP 10.254.10.128,tcp:80",
            "ipvsadm -A -t 10.254.10.128:80 -s rr",
            "ipvsadm -a -t 10.254.10.128:80 -r 10.244.1.2:8080 -m -w 1",
            "ipvsadm -a -t 10.254.10.128:80 -r 10.244.1.3:8080 -m -w 1",
            "-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment \"Kubernetes service cluster ip + port for masquerade purpose\" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ",
            "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
            "-I PREROUTING 1 -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
        ] {
            XCTAssertTrue(lines.contains(expected), "missing line: \(expected)")
        }
        // The seed's order: the address and set entry come before the virtual server, real servers last.
        let order = ["ip link add", "ipset create KUBE-CLUSTER-IP", "iptables-restore", "ip addr add", "ipset add KUBE-CLUSTER-IP", "ipvsadm -A", "ipvsadm -a"]
        let positions = order.map { prefix in lines.firstIndex { $0.hasPrefix(prefix) } ?? -1 }
        XCTAssertEqual(positions, positions.sorted())
        XCTAssertFalse(positions.contains(-1))
    }

    func testSameInputGivesByteIdenticalOutput() throws {
        let a = try run(seedArgs), b = try run(seedArgs)
        XCTAssertEqual(a.stdout, b.stdout)
        let j1 = try run(seedArgs + ["--output", "json"]), j2 = try run(seedArgs + ["--output", "json"])
        XCTAssertEqual(j1.stdout, j2.stdout)
    }

    func testEndpointSliceExampleGivesTheSamePlan() throws {
        let a = try run(seedArgs)
        var args = seedArgs
        args[3] = "examples/web-service-endpointslice.yaml"
        XCTAssertEqual(try run(args).stdout, a.stdout)
    }

    func testFiftyMalformedAndTwoValidObjects() throws {
        var docs: [String] = []
        let breakages = [
            "clusterIP: 10.0.300.1\n  ports: [{port: 80}]", "clusterIP: 10.0.0.1\n  ports: [{port: 0}]",
            "clusterIP: 10.0.0.1\n  ports: [{port: 65536}]", "clusterIP: 10.0.0.1\n  ports: [{port: 80, protocol: ICMP}]",
            "clusterIP: 10.0.0.1\n  ports: [{name: a, port: 80}, {name: b, port: 80}]",
        ]
        for i in 0..<45 {
            docs.append("apiVersion: v1\nkind: Service\nmetadata: {name: broken-\(i), namespace: bad}\nspec:\n  \(breakages[i % breakages.count])")
        }
        for i in 0..<3 { docs.append("apiVersion: v1\nkind: Endpoints\nmetadata: {name: broken-ep-\(i), namespace: bad}\nsubsets: [{addresses: [{ip: 10.244.1.999}], ports: [{port: 80}]}]") }
        docs.append("apiVersion: v1\nkind: Service\nmetadata: {namespace: bad}\nspec: {clusterIP: 10.0.0.9, ports: [{port: 80}]}")
        docs.append("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: broken-slice, namespace: bad}\naddressType: IPv4\nendpoints: []")
        for name in ["good-a", "good-b"] {
            let ip = name == "good-a" ? "10.254.0.1" : "10.254.0.2"
            docs.append("apiVersion: v1\nkind: Service\nmetadata: {name: \(name), namespace: ok}\nspec: {clusterIP: \(ip), ports: [{port: 443, targetPort: 8443}]}")
            docs.append("apiVersion: v1\nkind: Endpoints\nmetadata: {name: \(name), namespace: ok}\nsubsets: [{addresses: [{ip: 10.244.2.\(name == "good-a" ? 1 : 2)}], ports: [{port: 8443}]}]")
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kube-ipvs-bad-\(UUID().uuidString).yaml")
        try docs.joined(separator: "\n---\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }

        let r = try run(["sync", "--dry-run", "-f", file.path])
        XCTAssertEqual(r.status, 3, "partial-failure exit status")
        let errors = r.stderr.split(separator: "\n")
        XCTAssertEqual(errors.count, 50, r.stderr)
        for i in 0..<45 { XCTAssertEqual(errors.filter { $0.hasPrefix("error: Service bad/broken-\(i): spec.") }.count, 1, "broken-\(i)") }
        // A bad endpoint address drops only that address: the Endpoints object itself is used.
        for i in 0..<3 { XCTAssertTrue(errors.contains("warning: Endpoints bad/broken-ep-\(i): subsets[0].addresses[0].ip: \"10.244.1.999\" is not a valid IP address; ignored")) }
        XCTAssertTrue(errors.contains("error: Service bad/<unnamed>: metadata.name: missing; skipped"))
        XCTAssertTrue(errors.contains { $0.hasPrefix("error: EndpointSlice bad/broken-slice: metadata.labels[kubernetes.io/service-name]: missing") })
        XCTAssertTrue(errors.contains("error: Service bad/broken-1: spec.ports[0].port: 0 is out of range (1-65535); skipped"))
        XCTAssertTrue(r.stdout.contains("ipvsadm -A -t 10.254.0.1:443 -s rr\nipvsadm -a -t 10.254.0.1:443 -r 10.244.2.1:8443 -m -w 1\n"))
        XCTAssertTrue(r.stdout.contains("ipvsadm -A -t 10.254.0.2:443 -s rr\nipvsadm -a -t 10.254.0.2:443 -r 10.244.2.2:8443 -m -w 1\n"))
        XCTAssertEqual(r.stdout.components(separatedBy: "ipvsadm -A").count - 1, 2)
        XCTAssertTrue(r.stdout.contains("# 2 Service(s), 2 virtual server(s), 2 real server(s); 47 object(s) skipped"))
    }

    /// A syntax error in any document refuses the whole input: sync, sync --dry-run and status
    /// name the file, document and line, exit 1 and do nothing (a sync of what was readable would
    /// delete the virtual servers of the Services after the error).
    func testSyntaxErrorRefusesTheWholeInput() throws {
        let docs = [
            "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.254.0.1, ports: [{port: 80}]}",
            "apiVersion: v1\nkind: Service\nmetadata: {name: b]\nspec: {clusterIP: 10.254.0.2, ports: [{port: 80}]}",
            "apiVersion: v1\nkind: Service\nmetadata: {name: c}\nspec: {clusterIP: 10.254.0.3, ports: [{port: 80}]}",
        ]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kube-ipvs-syntax-\(UUID().uuidString).yaml")
        try docs.joined(separator: "\n---\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        // A plain sync would program the node if the input were not refused: it runs in a network
        // namespace of its own, or not at all where one cannot be made.
        let canIsolate = (try? run(["--help"], isolated: true).status) == 0
        for args in [["sync", "--dry-run"], ["sync"], ["status"]] where args != ["sync"] || canIsolate {
            let r = try run(args + ["-f", file.path, "--hostname-override", "node1"], isolated: args == ["sync"])
            XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
            XCTAssertEqual(r.stdout, "", "\(args)")
            XCTAssertTrue(r.stderr.hasPrefix("error: \(file.path): document 2, line 8: not valid YAML or JSON: "), "\(args): \(r.stderr)")
        }
        // The same with the alias bomb: refused at once, naming it.
        let bomb = try String(contentsOf: Self.repoRoot.appendingPathComponent("Fuzz/corpus/manifest/billion-laughs.yaml"), encoding: .utf8)
        try bomb.write(to: file, atomically: true, encoding: .utf8)
        let r = try run(["sync", "--dry-run", "-f", file.path])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("refused as an alias bomb"), r.stderr)
    }

    func testJSONOutput() throws {
        let r = try run(seedArgs + ["--output", "json"])
        XCTAssertEqual(r.status, 0)
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let summary = doc?["summary"] as? [String: Int]
        XCTAssertEqual(summary?["ipvs"], 3)
        let ops = doc?["operations"] as? [[String: Any]] ?? []
        XCTAssertEqual(ops.count, summary?["total"])
        let vs = ops.first { $0["op"] as? String == "addVirtualServer" }
        XCTAssertEqual(vs?["owner"] as? String, "default/web-service")
        XCTAssertEqual((vs?["virtualServer"] as? [String: Any])?["scheduler"] as? String, "rr")
        XCTAssertEqual(vs?["command"] as? String, "ipvsadm -A -t 10.254.10.128:80 -s rr")
    }

    func testConfigErrorsNameTheField() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kube-ipvs-config-\(UUID().uuidString).yaml")
        try "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nipvs:\n  strictARP: maybe\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let r = try run(["sync", "--dry-run", "-f", "examples/web-service.yaml", "--config", file.path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertNotEqual(r.status, 3)
        XCTAssertTrue(r.stderr.contains("--config \(file.path): ipvs.strictARP: \"maybe\" is not true or false"), r.stderr)
        // An unknown field is upstream's lenient decoding: one warning, and the rest applies.
        try "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nipvs:\n  schedular: rr\n  scheduler: wlc\n"
            .write(to: file, atomically: true, encoding: .utf8)
        let lenient = try run(["sync", "--dry-run", "-f", "examples/web-service.yaml", "--config", file.path])
        XCTAssertEqual(lenient.status, 0, lenient.stderr)
        XCTAssertEqual(lenient.stderr, "warning: --config \(file.path): Using lenient decoding as strict decoding failed: "
                       + "strict decoding error: unknown field \"ipvs.schedular\"\n")
        XCTAssertTrue(lenient.stdout.contains("-s wlc"), lenient.stdout)
        let flag = try run(["sync", "--dry-run", "-f", "examples/web-service.yaml", "--cluster-cidr", "10.244.0.0/99"])
        XCTAssertTrue(flag.stderr.contains("--cluster-cidr: \"10.244.0.0/99\" is not a valid CIDR"), flag.stderr)
        let missing = try run(["sync", "--dry-run", "-f", "no/such/file.yaml"])
        XCTAssertTrue(missing.stderr.contains("no/such/file.yaml: no such file or directory"), missing.stderr)
        XCTAssertEqual(missing.stdout, "")
    }

    func testHelpDescribesTheCommands() throws {
        let root = try run(["--help"])
        XCTAssertEqual(root.status, 0)
        XCTAssertTrue(root.stdout.contains("sync"))
        let sync = try run(["sync", "--help"])
        for flag in ["--dry-run", "--filename", "--output", "--config", "--cluster-cidr", "--ipvs-scheduler", "--masquerade-all", "--hostname-override",
                     "--nodeport-addresses"] {
            XCTAssertTrue(sync.stdout.contains(flag), flag)
        }
        XCTAssertTrue(sync.stdout.contains("'primary'"), sync.stdout)
        let runHelp = try run(["run", "--help"])
        XCTAssertTrue(runHelp.stdout.contains("healthCheckNodePort"), runHelp.stdout)
    }
    func testStatusAndCleanupAreListedAndCheckTheirFlags() throws {
        let help = try run(["--help"])
        XCTAssertTrue(help.stdout.contains("  status "), help.stdout)
        XCTAssertTrue(help.stdout.contains("  cleanup "), help.stdout)
        let cleanupHelp = try run(["cleanup", "--help"])
        for flag in ["--dry-run", "--iptables-backend", "--config", "--ipvs-exclude-cidrs"] {
            XCTAssertTrue(cleanupHelp.stdout.contains(flag), flag)
        }
        XCTAssertTrue(cleanupHelp.stdout.contains("KUBE-FIREWALL"), "names the kubelet chains it leaves")
        let statusHelp = try run(["status", "--help"])
        for flag in ["--filename", "--kubeconfig", "--output", "--config", "--hostname-override"] {
            XCTAssertTrue(statusHelp.stdout.contains(flag), flag)
        }
        // Bad input: a clear error naming the flag, before anything is read.
        let badFlavour = try run(["cleanup", "--iptables-backend", "bogus"])
        XCTAssertNotEqual(badFlavour.status, 0)
        XCTAssertTrue(badFlavour.stderr.contains("The value 'bogus' is invalid for '--iptables-backend <iptables-backend>'"), badFlavour.stderr)
        XCTAssertTrue(badFlavour.stderr.contains("auto (the one holding more rules, as kube-proxy's wrapper), legacy or nft"), badFlavour.stderr)
        let badCIDR = try run(["cleanup", "--dry-run", "--ipvs-exclude-cidrs", "10.0.0.0"])
        XCTAssertNotEqual(badCIDR.status, 0)
        XCTAssertTrue(badCIDR.stderr.contains("--ipvs-exclude-cidrs: \"10.0.0.0\" is not a valid CIDR"), badCIDR.stderr)
        let context = try run(["status", "--context", "x"])
        XCTAssertNotEqual(context.status, 0)
        XCTAssertTrue(context.stderr.contains("--context goes with --kubeconfig."), context.stderr)
        let output = try run(["status", "--output", "yaml"])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains("yaml"), output.stderr)
    }
}
