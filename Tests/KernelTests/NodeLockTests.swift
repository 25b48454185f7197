import Foundation
import XCTest
@testable import Kernel

/// The node lock on a temporary file. flock(2) locks belong to an open file description, so a
/// second `acquire` in the same process conflicts with the first, as another process would.
final class NodeLockTests: XCTestCase {
    var path: String!

    override func setUp() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("kube-ipvs-lock-\(UUID().uuidString)").path
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: path)
    }

    func testSecondHolderFailsNamingTheFirst() throws {
        let first = try NodeLock.acquire(path: path, holder: "kube-ipvs run", timeout: 0)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "\(getpid()) kube-ipvs run\n")
        var told: [NodeLockHolder] = []
        XCTAssertThrowsError(try NodeLock.acquire(path: path, holder: "kube-ipvs sync", timeout: 0.05, interval: 0.01) { told.append($0) }) { error in
            guard case .held(let p, let holder, _)? = error as? NodeLockError else { return XCTFail("\(error)") }
            XCTAssertEqual(p, self.path)
            XCTAssertEqual(holder.pid, getpid())
            XCTAssertEqual(holder.command, "kube-ipvs run")
            let text = "\(error)"
            XCTAssertTrue(text.contains("the node lock \(self.path!) is held by pid \(getpid()) (kube-ipvs run)"), text)
        }
        XCTAssertEqual(told.map(\.pid), [getpid()], "the wait is reported once")
        first.release()
        let second = try NodeLock.acquire(path: path, holder: "kube-ipvs sync", timeout: 0)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "\(getpid()) kube-ipvs sync\n")
        second.release()
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "", "released: the file stays, empty")
    }

    func testWithoutAWaitFailsAtOnce() throws {
        let first = try NodeLock.acquire(path: path, holder: "kube-ipvs cleanup", timeout: 0)
        defer { first.release() }
        var told = 0
        XCTAssertThrowsError(try NodeLock.acquire(path: path, holder: "x", timeout: 0) { _ in told += 1 })
        XCTAssertEqual(told, 0, "no wait, nothing to report")
    }

    func testUnusablePathIsAnError() {
        XCTAssertThrowsError(try NodeLock.acquire(path: "/nonexistent-dir-\(UUID().uuidString)/lock", holder: "x", timeout: 0)) { error in
            guard case .unusable(_, "open", ENOENT)? = error as? NodeLockError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains(NodeLock.pathVariable), "\(error)")
        }
    }

    func testHolderText() {
        XCTAssertEqual(NodeLockHolder(text: "42 kube-ipvs run\n"), NodeLockHolder(text: "42 kube-ipvs run"))
        XCTAssertEqual(NodeLockHolder(text: "42 kube-ipvs run\n").description, "pid 42 (kube-ipvs run)")
        XCTAssertEqual(NodeLockHolder(text: "42\n").description, "pid 42")
        XCTAssertNil(NodeLockHolder(text: "").pid)
        XCTAssertNil(NodeLockHolder(text: "-3 x").pid)
        XCTAssertNil(NodeLockHolder(text: "99999999999999999999 x").pid, "out of range: no pid, no trap")
        XCTAssertEqual(NodeLockHolder(text: "").description, "another process (it has not written its pid yet)")
        XCTAssertEqual(NodeLock.configuredPath(environment: [:]), "/run/kube-ipvs.lock")
        XCTAssertEqual(NodeLock.configuredPath(environment: [NodeLock.pathVariable: "/tmp/x.lock"]), "/tmp/x.lock")
    }
}
