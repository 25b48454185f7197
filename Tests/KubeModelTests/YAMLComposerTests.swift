import XCTest
@testable import KubeModel

/// The composer over libyaml: what the manifest, configuration and kubeconfig readers rely on.
final class YAMLComposerTests: XCTestCase {
    func compose(_ text: String) throws -> YAMLNode { try XCTUnwrap(YAMLComposer().compose(text)) }

    func testScalarsKeepTheirStyleAndExplicitTag() throws {
        let m = try XCTUnwrap(compose("a: 123\nb: \"123\"\nc: yes\nd: 'yes'\ne: !!str 123\nf: |\n  x\ng: ~\nh: !!null ''\n").mapping)
        func scalar(_ k: String) throws -> YAMLNode.Scalar {
            guard case .scalar(let s)? = m[k] else { throw XCTSkip("no scalar \(k)") }
            return s
        }
        XCTAssertEqual(try scalar("a"), .init("123", style: .plain, line: 1))
        XCTAssertTrue(try scalar("a").isImplicit)
        XCTAssertEqual(try scalar("b").style, .doubleQuoted)
        XCTAssertFalse(try scalar("b").isImplicit)
        XCTAssertTrue(try scalar("c").isImplicit)
        XCTAssertEqual(try scalar("d").style, .singleQuoted)
        XCTAssertEqual(try scalar("e").tag, "tag:yaml.org,2002:str")
        XCTAssertFalse(try scalar("e").isImplicit, "!!str makes a plain scalar a string")
        XCTAssertEqual(try scalar("f"), .init("x\n", style: .literal, line: 6))
        XCTAssertTrue(try scalar("g").isNull)
        XCTAssertTrue(try scalar("h").isNull)
        XCTAssertFalse(try scalar("b").isNull)
    }

    func testQuotedAndTaggedScalarsAreJSONStringsPlainOnesResolve() throws {
        let node = try compose("a: 123\nb: \"123\"\nc: !!str 123\nd: yes\ne: true\nf: 'true'\ng: null\nh: \"null\"\n")
        let json = try XCTUnwrap(ManifestJSON.json(node))
        XCTAssertEqual(String(decoding: json, as: UTF8.self),
                       #"{"a":123,"b":"123","c":"123","d":"yes","e":true,"f":"true","g":null,"h":"null"}"#)
    }

    func testAliasesResolveToTheAnchoredNode() throws {
        let node = try compose("base: &b {port: 80, name: http}\nlist: [&x one, *x, *b]\ncopy: *b\n")
        let m = try XCTUnwrap(node.mapping)
        XCTAssertEqual(m["copy"], m["base"])
        XCTAssertEqual(m["list"]?.sequence?.count, 3)
        XCTAssertEqual(m["list"]?.sequence?[1].string, "one")
        XCTAssertEqual(m["list"]?.sequence?[2], m["base"])
    }

    func testAnUnknownAliasIsAnErrorWithItsPosition() {
        XCTAssertThrowsError(try YAMLComposer().compose("a: 1\nb: *nope\n")) { error in
            let e = error as? YAMLError
            XCTAssertEqual(e?.line, 2)
            XCTAssertEqual(e?.column, 4)
            XCTAssertEqual(e?.message, "alias *nope names no anchor")
        }
    }

    /// Nested aliases that double at each level: composing them shares storage, but every walk
    /// would expand them; the expanded node count is bounded.
    func testAliasBombIsRefusedByItsExpandedNodeCount() throws {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 { text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        XCTAssertThrowsError(try YAMLComposer().compose(text)) { error in
            XCTAssertTrue("\(error)".contains("alias bomb"), "\(error)")
            XCTAssertEqual((error as? YAMLError)?.line, 6, "stops where the count passes the bound")
        }
        // The same shape three levels deep is small and composes, expanded as written.
        var small = YAMLComposer()
        small.maxNodes = 2000
        var three = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...2 { three += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let node = try XCTUnwrap(small.compose(three))
        XCTAssertEqual(node.mapping?["a2"]?.sequence?.first?.sequence?.count, 10)
        small.maxNodes = 1000
        XCTAssertThrowsError(try small.compose(three))
    }

    func testMultipleDocuments() throws {
        let docs = try YAMLComposer().composeAll("a: 1\n---\nb: 2\n---\n---\n- c\n")
        XCTAssertEqual(docs.count, 4)
        XCTAssertEqual(docs[1].mapping?["b"]?.string, "2")
        XCTAssertEqual(docs[2], .scalar(.init("", line: 5)), "an empty document is an empty scalar")
        XCTAssertEqual(docs[3].sequence?.first?.string, "c")
        XCTAssertEqual(try YAMLComposer().composeAll(""), [])
        XCTAssertNil(try YAMLComposer().compose(""))
        XCTAssertThrowsError(try YAMLComposer().compose("a: 1\n---\nb: 2\n")) { error in
            XCTAssertEqual((error as? YAMLError)?.document, 2)
        }
    }

    func testAnErrorNamesItsDocumentLineAndColumn() {
        XCTAssertThrowsError(try YAMLComposer().composeAll("a: 1\n---\nb: [1, 2\nc: 3\n")) { error in
            let e = error as? YAMLError
            XCTAssertEqual(e?.document, 2)
            XCTAssertEqual(e?.line, 4)
            XCTAssertTrue(e?.description.hasPrefix("line 4, column ") ?? false, "\(error)")
        }
    }

    func testDuplicateKeysAreAnErrorUnlessAllowed() throws {
        XCTAssertThrowsError(try YAMLComposer().compose("a: 1\nb: {c: 1, c: 2}\n")) { error in
            let e = error as? YAMLError
            XCTAssertEqual(e?.message, "duplicate key \"c\" in a mapping")
            XCTAssertEqual(e?.line, 2)
            XCTAssertEqual(e?.column, 11)
        }
        var lenient = YAMLComposer()
        lenient.allowsDuplicateKeys = true
        let m = try XCTUnwrap(lenient.compose("c: 1\nc: 2\n")?.mapping)
        XCTAssertEqual(m.count, 2)
        XCTAssertEqual(m["c"]?.string, "2", "the last wins")
    }

    /// `<<` is not a merge: an ordinary key, as the manifest readers have always seen it.
    func testMergeKeyIsAnOrdinaryKey() throws {
        let m = try XCTUnwrap(compose("base: &b {x: 1}\nobj:\n  <<: *b\n  y: 2\n").mapping)
        XCTAssertEqual(m["obj"]?.mapping?.map { $0.key.string }, ["<<", "y"])
    }

    func testNestingDeeperThanTheBoundIsAnError() {
        var composer = YAMLComposer()
        composer.maxDepth = 4
        XCTAssertNoThrow(try composer.compose("[[[[1]]]]"))
        XCTAssertThrowsError(try composer.compose("[[[[[1]]]]]")) { error in
            XCTAssertTrue("\(error)".contains("nested deeper than 4 levels"), "\(error)")
        }
    }

    /// The configuration reader: a `!!str` or quoted number is a string (upstream's YAML-to-JSON
    /// step keeps it one), so an integer field refuses it.
    func testConfigTreeTreatsTaggedScalarsAsStrings() throws {
        let (root, _) = try ConfigTree.read("a: !!str 5\nb: 5\n")
        XCTAssertEqual(root?["a"], .scalar("5", quoted: true))
        XCTAssertEqual(root?["b"], .scalar("5", quoted: false))
    }
}

/// The small replacements of Foundation's formatting and trimming (FoundationEssentials has neither).
final class FoundationEssentialsHelperTests: XCTestCase {
    func testFixedDecimalMatchesPrintf() {
        for v in [0.0, 1.5, 2.25, 0.125, 1234.5678, 0.004, 0.005, 0.0049, 99.995, 1e-7, 123456.0, 0.1, 2.675] {
            for digits in [0, 1, 2, 3, 6] {
                XCTAssertEqual(FixedDecimal.format(v, digits: digits), String(format: "%.\(digits)f", v), "\(v) \(digits)")
                XCTAssertEqual(FixedDecimal.format(-v, digits: digits), String(format: "%.\(digits)f", -v), "-\(v) \(digits)")
            }
        }
        XCTAssertEqual(FixedDecimal.format(.infinity, digits: 2), "inf")
        XCTAssertEqual(FixedDecimal.format(.nan, digits: 2), "nan")
    }

    func testTrimmingAsCharacterSetTrims() {
        for s in ["  a b \n", "\t\r\nx\u{00A0}", "", " \n ", "\u{2003}mid\u{2003}y \n"] {
            XCTAssertEqual(s.trimmingWhitespaceAndNewlines(), s.trimmingCharacters(in: .whitespacesAndNewlines), s.debugDescription)
            XCTAssertEqual(s.trimmingWhitespace(), s.trimmingCharacters(in: .whitespaces), s.debugDescription)
        }
    }

    func testBoundedFileReadsAtMostTheLimit() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bounded-\(UUID().uuidString)").path
        try Data("0123456789".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(BoundedFile.read(path).map { String(decoding: $0, as: UTF8.self) }, "0123456789")
        XCTAssertEqual(BoundedFile.read(path, limit: 4).map { String(decoding: $0, as: UTF8.self) }, "0123")
        XCTAssertNil(BoundedFile.read(path + ".missing"))
        XCTAssertEqual(BoundedFile.isDirectory(path), false)
        XCTAssertEqual(BoundedFile.isDirectory(FileManager.default.temporaryDirectory.path), true)
        XCTAssertNil(BoundedFile.isDirectory(path + ".missing"))
    }
}
