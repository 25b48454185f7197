import Daemon
import Foundation
import Logging
import TestSupport
import XCTest

/// The --config watch: a changed content ends `run`, whether the file is rewritten in place or a
/// ConfigMap volume's `..data` symlink is swapped; the same content (a touch, an identical write)
/// does not; shutdown ends the watch quietly.
final class ConfigFileWatcherTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("kube-ipvs-watch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A running watcher of `path`, and how many times it found the file unchanged.
    func start(_ path: String) throws -> (Task<Void, Error>, Locked<Int>) {
        let content = try XCTUnwrap(ConfigFileWatcher.snapshot(path))
        let looks = Locked(0)
        let watcher = ConfigFileWatcher(path: path, content: content, logger: Logger(label: "test")) { looks.mutate { $0 += 1 } }
        return (Task { try await watcher.run() }, looks)
    }

    /// Waits for `task` to end with ConfigFileChanged; a bound (not a measurement) cancels it
    /// after 20 s, which then fails the test instead of hanging it.
    func expectChanged(_ task: Task<Void, Error>, _ path: String) async {
        let bound = Task { try await Task.sleep(for: .seconds(20)); task.cancel() }
        defer { bound.cancel() }
        do {
            try await task.value
            XCTFail("the watcher returned without a change")
        } catch let e as ConfigFileChanged {
            XCTAssertEqual(e.path, path)
            XCTAssertEqual("\(e)", "--config \(path): content of the proxy server's configuration file was updated; exiting so that it is read again")
        } catch {
            XCTFail("\(error)")
        }
    }

    func testRewriteInPlaceEndsTheWatch() async throws {
        let file = dir.appendingPathComponent("config.yaml").path
        try "mode: ipvs\n".write(toFile: file, atomically: false, encoding: .utf8)
        let (task, looks) = try start(file)
        try await waitFor("the watch to be in place") { looks.value >= 1 }
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: file))
        try h.seekToEnd()
        try h.write(contentsOf: Data("ipvs: {scheduler: wrr}\n".utf8))
        try h.close()
        await expectChanged(task, file)
    }

    func testConfigMapSymlinkSwapEndsTheWatch() async throws {
        // The kubelet's layout: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>.
        let fm = FileManager.default
        func version(_ name: String, _ text: String) throws {
            try fm.createDirectory(at: dir.appendingPathComponent(name), withIntermediateDirectories: false)
            try text.write(to: dir.appendingPathComponent(name).appendingPathComponent("config.yaml"), atomically: false, encoding: .utf8)
        }
        try version("..2026_12_03_10_00_00.1", "mode: ipvs\n")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("..data").path, withDestinationPath: "..2026_12_03_10_00_00.1")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("config.yaml").path, withDestinationPath: "..data/config.yaml")
        let file = dir.appendingPathComponent("config.yaml").path
        let (task, looks) = try start(file)
        try await waitFor("the watch to be in place") { looks.value >= 1 }

        // The update: a new version, ..data_tmp pointing at it renamed over ..data, the old one deleted.
        try version("..2026_12_03_10_05_00.2", "mode: ipvs\nipvs: {strictARP: true}\n")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("..data_tmp").path, withDestinationPath: "..2026_12_03_10_05_00.2")
        XCTAssertEqual(rename(dir.appendingPathComponent("..data_tmp").path, dir.appendingPathComponent("..data").path), 0)
        // Seen from the rename in the directory alone: the old version is deleted only after.
        await expectChanged(task, file)
        try fm.removeItem(at: dir.appendingPathComponent("..2026_12_03_10_00_00.1"))
    }

    func testTheSameContentDoesNotEndTheWatch() async throws {
        let file = dir.appendingPathComponent("config.yaml").path
        try "mode: ipvs\n".write(toFile: file, atomically: false, encoding: .utf8)
        let (task, looks) = try start(file)
        let finished = Locked(false)
        let watching = Task { defer { finished.mutate { $0 = true } }; try await task.value }
        try await waitFor("the watch to be in place") { looks.value >= 1 }
        // Each of these is looked at (the count grows) and leaves the watch running: a watcher
        // that ended on any event would never count them.
        let sameContent: [(String, () throws -> Void)] = [
            ("a touch", { XCTAssertEqual(utimes(file, nil), 0) }),
            ("the same bytes written in place", { try "mode: ipvs\n".write(toFile: file, atomically: false, encoding: .utf8) }),
            ("the same bytes renamed over it", { try "mode: ipvs\n".write(toFile: file, atomically: true, encoding: .utf8) }),
        ]
        for (what, act) in sameContent {
            let seen = looks.value
            try act()
            try await waitFor("\(what) to be looked at") { looks.value > seen }
            XCTAssertFalse(finished.value, what)
        }
        try "mode: ipvs\n# changed\n".write(toFile: file, atomically: true, encoding: .utf8)
        await expectChanged(task, file)
        _ = try? await watching.value
    }

    func testCancelEndsTheWatchWithoutError() async throws {
        let file = dir.appendingPathComponent("config.yaml").path
        try "mode: ipvs\n".write(toFile: file, atomically: false, encoding: .utf8)
        let (task, looks) = try start(file)
        try await waitFor("the watch to be in place") { looks.value >= 1 }
        task.cancel()
        try await task.value
    }

    func testOnlyRegularFilesAreWatched() {
        XCTAssertNil(ConfigFileWatcher.snapshot("/dev/null"))
        XCTAssertNil(ConfigFileWatcher.snapshot(dir.path))
        XCTAssertNil(ConfigFileWatcher.snapshot(dir.appendingPathComponent("missing").path))
    }
}
