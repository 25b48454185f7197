import Foundation
import KubeFakeAPI
import TestSupport
import XCTest

/// kube-proxy's command line, with the built binary: every implemented flag changes the
/// configuration `--write-config-to` writes, every ignored one gives exactly one warning, pflag's
/// spellings work, and the binary runs as `kube-proxy`. `--write-config-to` exits before touching
/// the node or the API server, so none of this reaches the kernel (cleanup runs in `unshare -n`).
final class KubeProxyFlagsTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: CLITests.binary.path),
                          "kube-ipvs is not built beside the tests (\(CLITests.binary.path)); run `swift build` first")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("kube-ipvs-flags-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    /// Runs `program` (the binary, or a link to it) with `args` in the repository root.
    func exec(_ args: [String], program: URL = CLITests.binary, netns: Bool = false) throws -> CLITests.Run {
        try CLITests.launch(args, program: program, isolated: netns)
    }

    /// The trimmed lines of the configuration `run <args> --write-config-to FILE` writes.
    func writtenConfig(_ args: [String], program: URL = CLITests.binary, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let path = dir.appendingPathComponent("config-\(UUID().uuidString).yaml").path
        let prefix = program == CLITests.binary ? ["run"] : []
        let r = try exec(prefix + args + ["--write-config-to", path], program: program)
        XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)", file: file, line: line)
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// A link named `kube-proxy` to the binary, as the image has at /usr/local/bin/kube-proxy.
    func kubeProxyLink() throws -> URL {
        let link = dir.appendingPathComponent("kube-proxy")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: CLITests.binary)
        return link
    }

    /// The flag table as the binary knows it: name -> (effect, type-free note).
    func flagTable() throws -> [(name: String, effect: String)] {
        let r = try exec(["kube-proxy-flags"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").map { line in
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return (cols[0], cols[1])
        }
    }

    // MARK: - Implemented flags

    func testEveryImplementedFlagChangesTheWrittenConfiguration() throws {
        let config = dir.appendingPathComponent("kube-proxy.yaml")
        try "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nipvs:\n  scheduler: lc\n".write(to: config, atomically: true, encoding: .utf8)
        // Each flag with a value other than the default, and a line of the written document that only it gives.
        let cases: [([String], [String])] = [
            (["--config", config.path], ["scheduler: lc"]),
            (["--kubeconfig", "/etc/kube-proxy/kubeconfig"], ["kubeconfig: /etc/kube-proxy/kubeconfig"]),
            (["--kube-api-qps", "7.5"], ["qps: 7.5"]),
            (["--kube-api-burst", "17"], ["burst: 17"]),
            (["--kube-api-content-type", "application/json"], ["contentType: application/json"]),
            (["--config-sync-period", "7m"], ["configSyncPeriod: 7m0s"]),
            (["--hostname-override", "node9"], ["hostnameOverride: node9"]),
            (["--bind-address", "10.1.2.3"], ["bindAddress: 10.1.2.3"]),
            (["--bind-address-hard-fail"], ["bindAddressHardFail: true"]),
            (["--healthz-bind-address", "127.0.0.1"], ["healthzBindAddress: 127.0.0.1:10256"]),
            (["--healthz-bind-address", "127.0.0.1", "--healthz-port", "1234"], ["healthzBindAddress: 127.0.0.1:1234"]),
            (["--healthz-port", "0"], ["healthzBindAddress: \"\""]),
            (["--metrics-bind-address", "0.0.0.0"], ["metricsBindAddress: 0.0.0.0:10249"]),
            (["--metrics-bind-address", "::1", "--metrics-port", "9999"], ["metricsBindAddress: \"[::1]:9999\""]),
            (["--metrics-port", "0"], ["metricsBindAddress: \"\""]),
            (["--show-hidden-metrics-for-version", "1.30"], ["showHiddenMetricsForVersion: \"1.30\""]),
            (["--feature-gates", "SomeGate=true,OtherGate=false"], ["featureGates:", "SomeGate: true", "OtherGate: false"]),
            (["--ipvs-scheduler", "wrr"], ["scheduler: wrr"]),
            (["--ipvs-sync-period", "45s"], ["syncPeriod: 45s"]),
            (["--ipvs-min-sync-period", "3s"], ["minSyncPeriod: 3s"]),
            (["--ipvs-exclude-cidrs", "10.9.0.0/16"], ["- 10.9.0.0/16"]),
            (["--ipvs-strict-arp"], ["strictARP: true"]),
            (["--ipvs-tcp-timeout", "901s"], ["tcpTimeout: 15m1s"]),
            (["--ipvs-tcpfin-timeout", "121s"], ["tcpFinTimeout: 2m1s"]),
            (["--ipvs-udp-timeout", "301s"], ["udpTimeout: 5m1s"]),
            (["--iptables-masquerade-bit", "13"], ["masqueradeBit: 13"]),
            (["--masquerade-all"], ["masqueradeAll: true"]),
            (["--nodeport-addresses", "10.0.0.0/8"], ["- 10.0.0.0/8"]),
            (["--cluster-cidr", "10.244.0.0/16"], ["clusterCIDR: 10.244.0.0/16"]),
            (["--detect-local-mode", "NodeCIDR"], ["detectLocalMode: NodeCIDR"]),
            (["--pod-bridge-interface", "cbr0"], ["bridgeInterface: cbr0"]),
            (["--pod-interface-name-prefix", "veth"], ["interfaceNamePrefix: veth"]),
            (["--oom-score-adj", "-500"], ["oomScoreAdj: -500"]),
            (["--conntrack-max-per-core", "7"], ["maxPerCore: 7"]),
            (["--conntrack-min", "9"], ["min: 9"]),
            (["--conntrack-tcp-timeout-established", "2h"], ["tcpEstablishedTimeout: 2h0m0s"]),
            (["--conntrack-tcp-timeout-close-wait", "30m"], ["tcpCloseWaitTimeout: 30m0s"]),
            (["--conntrack-tcp-be-liberal"], ["tcpBeLiberal: true"]),
            (["--conntrack-udp-timeout", "45s"], ["udpTimeout: 45s"]),
            (["--conntrack-udp-timeout-stream", "2m"], ["udpStreamTimeout: 2m0s"]),
            (["--logging-format", "json"], ["format: json"]),
            (["--v", "5"], ["verbosity: 5"]),
        ]
        let baseline = try writtenConfig([])
        XCTAssertTrue(baseline.contains("kind: KubeProxyConfiguration"), "\(baseline)")
        for (args, lines) in cases {
            let written = try writtenConfig(args)
            for l in lines {
                XCTAssertFalse(baseline.contains(l), "\(l) is in the default document already")
                XCTAssertTrue(written.contains(l), "\(args) should write \(l):\n\(written.joined(separator: "\n"))")
            }
        }
        // Every implemented flag of the table is covered here, or below (--write-config-to,
        // --master) or by the tuning's tests (--init-only).
        let covered = Set(cases.flatMap { $0.0.filter { $0.hasPrefix("--") } } + ["--write-config-to", "--master", "--init-only"])
        for (name, effect) in try flagTable() where effect == "implemented" {
            XCTAssertTrue(covered.contains(name), "\(name) has no case here")
        }
    }

    func testMalformedValuesAreErrorsNamingTheFlag() throws {
        for (args, message) in [
            (["--oom-score-adj", "-1001"], "--oom-score-adj: \"-1001\" is not an integer in -1000...1000"),
            (["--kube-api-qps", "fast"], "invalid argument \"fast\" for \"--kube-api-qps\" flag"),
            (["--conntrack-min", "99999999999"], "invalid argument \"99999999999\" for \"--conntrack-min\" flag"),
            (["--conntrack-udp-timeout", "soon"], "--conntrack-udp-timeout: \"soon\" is not a duration"),
            (["--bind-address", "node1"], "--bind-address: \"node1\" is not an IP address"),
            (["--feature-gates", "A"], "missing bool value for A"),
            (["--masquerade-all=maybe"], "invalid argument \"maybe\" for \"--masquerade-all\" flag"),
            (["--logging-format", "xml"], "--logging-format: \"xml\" is not text or json"),
            (["--pod-bridge-interface", "br 0"], "--pod-bridge-interface: \"br 0\" is not an interface name"),
            (["--kube-api-burst"], "flag needs an argument: --kube-api-burst"),
            (["--udp-timeout", "1"], "invalid argument \"1\" for \"--udp-timeout\" flag"),
        ] {
            let r = try exec(["run", "--write-config-to", dir.appendingPathComponent("x.yaml").path] + args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
    }

    // MARK: - Ignored flags

    func testEveryIgnoredFlagIsAcceptedWithExactlyOneWarningLine() throws {
        let values: [String: String] = ["proxy-port-range": "0-0", "udp-timeout": "250ms", "iptables-sync-period": "10s",
                                        "iptables-min-sync-period": "1s", "log-flush-frequency": "5s", "stderrthreshold": "2",
                                        "vmodule": "proxier=4", "log-json-info-buffer-size": "0", "log-text-info-buffer-size": "0",
                                        "log-backtrace-at": ":0", "log-dir": "/var/log", "log-file": "/var/log/kube-proxy.log",
                                        "log-file-max-size": "1800"]
        let ignored = try flagTable().filter { $0.effect.hasPrefix("ignored") }.map(\.name)
        XCTAssertGreaterThan(ignored.count, 20)
        var args: [String] = []
        for flag in ignored {
            let name = String(flag.dropFirst(2))
            if let v = values[name] { args += [flag, v] } else { args.append(flag) }   // the rest are booleans
        }
        // Repeated, an ignored flag still warns once.
        args += ["--logtostderr=true", "--proxy-mode=ipvs"]
        let path = dir.appendingPathComponent("c.yaml").path
        let r = try exec(["run"] + args + ["--write-config-to", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stderr.split(separator: "\n")
        for flag in ignored + ["--proxy-mode"] {
            let warnings = lines.filter { $0.contains("warning") && $0.contains("flag \(flag)=") && $0.contains("has no effect: ") }
            XCTAssertEqual(warnings.count, 1, "\(flag): \(r.stderr)")
        }
        // And the configuration is the default one: no ignored flag changed it.
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) },
                       try writtenConfig([]))
    }

    func testFeatureGatesWarnOncePerGate() throws {
        let r = try exec(["run", "--feature-gates", "A=true, B=false", "--feature-gates=A=false",
                          "--write-config-to", dir.appendingPathComponent("c.yaml").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.contains("feature gate A=false has no effect") }.count, 1, r.stderr)
        XCTAssertEqual(lines.filter { $0.contains("feature gate B=false has no effect") }.count, 1, r.stderr)
        XCTAssertEqual(lines.filter { $0.contains("feature gate ") }.count, 2, r.stderr)
    }

    func testProxyModeOtherThanIPVSIsAnError() throws {
        for args in [["--proxy-mode=iptables"], ["--proxy-mode", "nftables"], ["--proxy-mode=userspace"]] {
            let r = try exec(["run"] + args + ["--write-config-to", dir.appendingPathComponent("c.yaml").path])
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("--proxy-mode=\(args.count == 1 ? String(args[0].dropFirst(13)) : args[1]): kube-ipvs implements only the ipvs proxy mode"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("c.yaml").path))
        }
        for mode in ["ipvs", ""] {
            let r = try exec(["run", "--proxy-mode=\(mode)", "--write-config-to", dir.appendingPathComponent("ok.yaml").path])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains("flag --proxy-mode=\(mode) has no effect: kube-ipvs always runs in IPVS mode"), r.stderr)
        }
    }

    // MARK: - pflag syntax

    func testPflagSpellings() throws {
        // A value in the next argument, even one that starts with a dash; glued with `=`.
        XCTAssertTrue(try writtenConfig(["--oom-score-adj", "-500"]).contains("oomScoreAdj: -500"))
        XCTAssertTrue(try writtenConfig(["--oom-score-adj=-500"]).contains("oomScoreAdj: -500"))
        // klog's -v in all its forms.
        for args in [["-v=5"], ["-v", "5"], ["-v5"], ["--v=5"], ["--v", "5"]] {
            XCTAssertTrue(try writtenConfig(args).contains("verbosity: 5"), "\(args)")
        }
        // Booleans: bare, =true, Go's other spellings, =false.
        for args in [["--masquerade-all"], ["--masquerade-all=true"], ["--masquerade-all=T"], ["--masquerade-all=1"]] {
            XCTAssertTrue(try writtenConfig(args).contains("masqueradeAll: true"), "\(args)")
        }
        XCTAssertFalse(try writtenConfig(["--masquerade-all=false"]).contains("masqueradeAll: true"))
        XCTAssertFalse(try writtenConfig(["--masquerade-all", "--masquerade-all=false"]).contains("masqueradeAll: true"))
        XCTAssertTrue(try writtenConfig(["--bind-address-hard-fail=True", "--conntrack-tcp-be-liberal=t"]).contains("tcpBeLiberal: true"))
        // `--bool=false` beside --config leaves the file's value, as kube-proxy ignores flags beside --config.
        let config = dir.appendingPathComponent("arp.yaml")
        try "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nipvs:\n  strictARP: true\n".write(to: config, atomically: true, encoding: .utf8)
        XCTAssertTrue(try writtenConfig(["--config=\(config.path)", "--ipvs-strict-arp=false"]).contains("strictARP: true"))
        // pflag's word separator normalisation: `_` for `-`.
        XCTAssertTrue(try writtenConfig(["--hostname_override=node7"]).contains("hostnameOverride: node7"))
        // Repeated list flags accumulate; others: the last wins.
        let lists = try writtenConfig(["--nodeport-addresses", "10.0.0.0/8", "--nodeport-addresses=192.168.0.0/16",
                                       "--ipvs-scheduler", "wrr", "--ipvs-scheduler=lc"])
        XCTAssertTrue(lists.contains("- 10.0.0.0/8") && lists.contains("- 192.168.0.0/16") && lists.contains("scheduler: lc"), "\(lists)")
    }

    // MARK: - As kube-proxy

    func testInvokedAsKubeProxyItIsRun() throws {
        let link = try kubeProxyLink()
        // kubeadm's DaemonSet command line (plus --write-config-to, to stop before the node).
        let config = dir.appendingPathComponent("config.conf")
        try "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\nclusterCIDR: 10.244.0.0/16\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let written = try writtenConfig(["--config=\(config.path)", "--hostname-override=node1"], program: link)
        XCTAssertTrue(written.contains("clusterCIDR: 10.244.0.0/16") && written.contains("hostnameOverride: node1"), "\(written)")
        // `kube-ipvs` followed by a kube-proxy flag is run too.
        let direct = dir.appendingPathComponent("direct.yaml").path
        let r = try exec(["--oom-score-adj=-3", "--write-config-to", direct])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(try String(contentsOfFile: direct, encoding: .utf8).contains("oomScoreAdj: -3"))
        // --version and --help as kube-proxy's; kube-ipvs alone still prints its help.
        let version = try exec(["--version"], program: link)
        XCTAssertEqual(version.status, 0, version.stderr)
        XCTAssertEqual(version.stdout, "0.1.0\n")
        let help = try exec(["--help"], program: link)
        XCTAssertTrue(help.stdout.contains("USAGE: kube-ipvs run"), help.stdout)
        let bare = try exec([])
        XCTAssertTrue(bare.stdout.contains("SUBCOMMANDS:") || bare.stderr.contains("SUBCOMMANDS:"), bare.stdout + bare.stderr)
        // Its errors are kube-proxy's: a mode other than ipvs.
        let mode = try exec(["--proxy-mode=iptables"], program: link)
        XCTAssertEqual(mode.status, 64, mode.stderr)
    }

    func testCleanupFlagRunsCleanup() throws {
        let link = try kubeProxyLink()
        // In a network namespace of its own: cleanup reads the (empty) node and changes nothing with --dry-run.
        // The daemon's flags beside --cleanup are dropped, as kube-proxy does not start the proxy.
        let r = try exec(["--cleanup", "--dry-run", "--config=examples/kube-proxy-config.yaml", "--kubeconfig=/nonexistent",
                          "--oom-score-adj=-999", "--v=2"], program: link, netns: true)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("# kube-ipvs cleanup --dry-run:"), r.stdout)
        // --cleanup=false is run; run --cleanup is cleanup too, with cleanup's own checks.
        let notCleanup = try exec(["run", "--cleanup=false", "--write-config-to", dir.appendingPathComponent("c.yaml").path])
        XCTAssertEqual(notCleanup.status, 0, notCleanup.stderr)
        let explicit = try exec(["run", "--cleanup", "--dry-run"], netns: true)
        XCTAssertEqual(explicit.status, 0, explicit.stderr)
        XCTAssertTrue(explicit.stdout.contains("# kube-ipvs cleanup --dry-run:"), explicit.stdout)
        // As upstream, --write-config-to comes first: the file is written and nothing is cleaned.
        let both = try exec(["--cleanup", "--write-config-to", dir.appendingPathComponent("both.yaml").path], program: link)
        XCTAssertEqual(both.status, 0, both.stderr)
        XCTAssertEqual(both.stdout, "")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("both.yaml").path))
    }

    /// `--master` without a kubeconfig is the API server at that URL, without credentials; the
    /// deprecated --healthz-port gives a bare --healthz-bind-address its port; JSON logs.
    func testKubeProxyCommandLineAgainstAFakeAPIServer() async throws {
        let fake = try await FakeKubeAPI.start()
        fake.setDiscoveryVersions(["v1"])
        _ = try fake.put("/api/v1/nodes", json: Data("""
            {"apiVersion":"v1","kind":"Node","metadata":{"name":"node1"},"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.5"}]}}
            """.utf8))
        let healthz = try freeLoopbackPort()
        let link = try kubeProxyLink()
        var env = ProcessInfo.processInfo.environment
        env["KUBE_IPVS_LOCK_FILE"] = dir.appendingPathComponent("lock").path
        let daemon = try WriterLockCLITests.Running(
            ["--master=\(fake.url)", "--hostname-override=node1", "--dry-run", "--healthz-bind-address=127.0.0.1",
             "--healthz-port", "\(healthz)", "--metrics-port=0", "--logging-format=json", "--profiling"],
            environment: env, executable: link)
        defer { daemon.stop() }
        try await waitFor("the first sync", timeout: 30) { daemon.stdout.contains("kube-ipvs run --dry-run: sync 1 of node node1") }
        try await waitFor("/healthz on the --healthz-port", timeout: 30) { httpGet(port: healthz) != nil }
        daemon.stop()
        try await fake.shutdown()
        let lines = daemon.stderr.split(separator: "\n")
        XCTAssertFalse(lines.isEmpty)
        for line in lines { XCTAssertTrue(line.hasPrefix("{\"ts\":") && line.hasSuffix("}"), "not a JSON log line: \(line)") }
        XCTAssertEqual(lines.filter { $0.contains("\"level\":\"warning\"") && $0.contains("flag --profiling=true has no effect") }.count, 1, daemon.stderr)
    }

    /// `--kube-api-content-type` chooses what lists and watches ask for: protobuf by default (as
    /// kube-proxy), JSON with application/json; the fake serves whichever is asked for.
    func testContentTypeFlagChoosesTheEncoding() async throws {
        for (flag, accept, encoding) in [(nil, "application/vnd.kubernetes.protobuf, application/json", "protobuf"),
                                         ("application/json", "application/json", "json")] {
            let fake = try await FakeKubeAPI.start()
            fake.setDiscoveryVersions(["v1"])
            fake.setServesProtobuf(true)
            _ = try fake.put("/api/v1/nodes", json: Data("""
                {"apiVersion":"v1","kind":"Node","metadata":{"name":"node1"},"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.5"}]}}
                """.utf8))
            var env = ProcessInfo.processInfo.environment
            env["KUBE_IPVS_LOCK_FILE"] = dir.appendingPathComponent("lock").path
            let daemon = try WriterLockCLITests.Running(
                ["run", "--master", fake.url, "--hostname-override", "node1", "--dry-run", "--healthz-port=0", "--metrics-port=0"]
                    + (flag.map { ["--kube-api-content-type", $0] } ?? []), environment: env)
            defer { daemon.stop() }
            try await waitFor("the first sync", timeout: 30) { daemon.stdout.contains("kube-ipvs run --dry-run: sync 1 of node node1") }
            try await waitFor("the three watches", timeout: 30) { fake.openWatches == 3 }
            daemon.stop()
            let lists = fake.requests.filter { !$0.isWatch && ["/api/v1/nodes", "/api/v1/services"].contains($0.path) }
            let watches = fake.requests.filter(\.isWatch)
            try await fake.shutdown()
            XCTAssertFalse(lists.isEmpty)
            XCTAssertEqual(Set((lists + watches).map { $0.accept ?? "none" }), [accept], flag ?? "default")
            XCTAssertTrue(daemon.stderr.contains("/api/v1/nodes: listed 1 objects in 1 page(s) in "), daemon.stderr)
            XCTAssertTrue(daemon.stderr.contains(" ms at resourceVersion 101 (\(encoding))"), daemon.stderr)
        }
    }

    /// `--master` beside a kubeconfig replaces its server (the kubeconfig's own points nowhere).
    func testMasterOverridesTheKubeconfigServer() async throws {
        let fake = try await FakeKubeAPI.start()
        fake.setDiscoveryVersions(["v1"])
        _ = try fake.put("/api/v1/nodes", json: Data("""
            {"apiVersion":"v1","kind":"Node","metadata":{"name":"node1"},"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.5"}]}}
            """.utf8))
        let kubeconfig = try CLITests.writeKubeconfig(server: "http://127.0.0.1:1", in: dir)
        var env = ProcessInfo.processInfo.environment
        env["KUBE_IPVS_LOCK_FILE"] = dir.appendingPathComponent("lock").path
        let daemon = try WriterLockCLITests.Running(
            ["run", "--kubeconfig", kubeconfig, "--master", fake.url, "--hostname-override", "node1", "--dry-run",
             "--healthz-port=0", "--metrics-port=0"], environment: env)
        defer { daemon.stop() }
        try await waitFor("the first sync", timeout: 30) { daemon.stdout.contains("kube-ipvs run --dry-run: sync 1 of node node1") }
        daemon.stop()
        try await fake.shutdown()
        XCTAssertTrue(daemon.stderr.contains("127.0.0.1:\(fake.port)"), daemon.stderr)
    }

    // MARK: - Docs

    /// docs/migration.md's flag table lists exactly the flags the binary knows, each with its effect.
    func testMigrationDocListsExactlyTheKnownFlags() throws {
        let doc = try String(contentsOf: CLITests.repoRoot.appendingPathComponent("docs/migration.md"), encoding: .utf8)
        var documented: [String: String] = [:]
        for line in doc.split(separator: "\n") where line.hasPrefix("| `--") {
            let cols = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cols.count >= 2, let end = cols[0].dropFirst().firstIndex(of: "`") else { continue }
            let name = String(cols[0][cols[0].index(after: cols[0].startIndex)..<end])
            XCTAssertNil(documented[name], "\(name) is in the table twice")
            documented[name] = cols[1]
        }
        let table = try flagTable()
        XCTAssertEqual(Set(documented.keys), Set(table.map(\.name)))
        for (name, effect) in table {
            guard let doc = documented[name] else { continue }
            // --cleanup, --version and --proxy-mode are acted on before parsing: implemented, or an error.
            let kind = effect.hasPrefix("ignored") ? "ignored" : "implemented"
            let docKind = doc.hasPrefix("accepted, ignored") ? "ignored" : doc.hasPrefix("implemented") || (effect == "special" && doc.hasPrefix("error")) ? "implemented" : "?"
            XCTAssertEqual(docKind, kind, "\(name): docs/migration.md says \"\(doc)\"")
        }
    }
}
