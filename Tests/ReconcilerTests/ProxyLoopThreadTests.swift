import Foundation
import Glibc
import KernelPort
import KubeModel
import ProxyCore
@testable import Reconciler
import TestSupport
import XCTest

/// ProxyLoop runs on a thread of its own: a kernel call that blocks stops only the loop, never
/// Swift's cooperative pool (one thread per CPU), where the watches and HTTP handlers run.
final class ProxyLoopThreadTests: XCTestCase {
    /// The calling thread's name (/proc/thread-self/comm; Glibc's Swift module lacks pthread_getname_np).
    static func threadName() -> String {
        let comm = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
        return comm?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    /// The calling thread's id (/proc/thread-self links to /proc/<pid>/task/<tid>).
    static func threadID() -> String {
        let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")
        return link.map { String($0.split(separator: "/").last ?? "") } ?? ""
    }

    /// Whether thread `tid` of this process still exists with the loop's thread name.
    static func syncThreadAlive(_ tid: String) -> Bool {
        guard let comm = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8) else { return false }
        return comm.trimmingCharacters(in: .whitespacesAndNewlines) == ProxyLoop.threadName
    }

    /// Feeds one Service with one endpoint and the Node, so that the next step applies a plan.
    func feed(_ loop: ProxyLoop) async {
        await loop.replaceServices([decode(KubeJSON.service("web-service"))], at: 0)
        await loop.replaceEndpointSources([decode(KubeJSON.endpoints(["10.244.1.2"])) as EndpointsResource], at: 0)
        await loop.setNode(nil, at: 0)
    }

    func testInputsAndKernelCallsRunOnTheLoopsNamedThread() async {
        let names = Locked<[String]>([])
        let kernel = InMemoryKernel(state: ObservedState(), recordsPlans: true) { _ in
            names.mutate { $0.append("apply:" + Self.threadName()) }
        }
        var observers = ProxyLoopObservers()
        observers.changeQueued = { _, _ in names.mutate { $0.append("input:" + Self.threadName()) } }
        let loop = ProxyLoop(kernel: kernel, config: ProxyConfig(), nodeName: "node1", observers: observers)
        await feed(loop)
        await loop.step(at: 0)
        XCTAssertEqual(kernel.applyCalls, 1)
        let t = ProxyLoop.threadName
        XCTAssertEqual(names.value, ["input:\(t)", "input:\(t)", "input:\(t)", "apply:\(t)"])
    }

    func testTheLoopsThreadEndsWithTheLoop() async throws {
        let tid = Locked<String>("")
        let kernel = InMemoryKernel(state: ObservedState(), recordsPlans: true) { _ in tid.mutate { $0 = Self.threadID() } }
        var loop: ProxyLoop? = ProxyLoop(kernel: kernel, config: ProxyConfig(), nodeName: "node1")
        await feed(loop!)
        await loop!.step(at: 0)
        await loop!.stop()
        let thread = tid.value
        XCTAssertNotEqual(thread, "")
        XCTAssertTrue(Self.syncThreadAlive(thread), "the apply did not run on a thread named \(ProxyLoop.threadName)")
        loop = nil
        try await waitFor("the loop's thread to end once the loop is gone") { !Self.syncThreadAlive(thread) }
    }

    /// While the kernel's apply is busy, a task started meanwhile still runs: the apply spins (at
    /// most 10 s) until that task has run. It spins rather than sleeps because libdispatch adds a
    /// pool thread when every worker sleeps, not while one computes, as a big sync does. On a
    /// 1-CPU pool (`taskset -c 0`) this times out unless the loop has its own thread.
    func testATaskStartedDuringABusyApplyRuns() async {
        let ran = Locked(false)
        let signalled = Locked<Bool?>(nil)
        let kernel = InMemoryKernel(state: ObservedState(), recordsPlans: true) { _ in
            // Inherits the priority, so it queues where the test's task runs without the loop's thread.
            Task { ran.mutate { $0 = true } }
            let deadline = ContinuousClock.now + .seconds(10)
            while !ran.value && ContinuousClock.now < deadline { sched_yield() }
            signalled.mutate { $0 = ran.value }
        }
        let loop = ProxyLoop(kernel: kernel, config: ProxyConfig(), nodeName: "node1")
        await feed(loop)
        await loop.step(at: 0)
        XCTAssertEqual(signalled.value, true, "the task started during the apply did not run while the apply was busy")
        let result = await loop.lastResult
        XCTAssertNil(result?.error)
    }
}
