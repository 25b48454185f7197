import XCTest
import KubeModel
@testable import ProxyCore

final class RealServerTableTests: XCTestCase {
    func rk(_ a: String, _ port: UInt16 = 8080) -> RealServerKey { RealServerKey(address: Fx.ip(a), port: port) }
    func rs(_ a: String, _ port: UInt16 = 8080, weight: Int32 = 1) -> RealServer { RealServer(key: rk(a, port), weight: weight) }

    func testLookupFindsEveryKeyAndNothingElse() {
        let t = RealServerTable([rs("10.0.0.3"), rs("10.0.0.1", weight: 5), rs("10.0.0.2"), rs("10.0.0.1", 80)])
        XCTAssertEqual(t.count, 4)
        XCTAssertEqual(t[rk("10.0.0.1")]?.weight, 5)
        XCTAssertEqual(t[rk("10.0.0.1", 80)]?.key.port, 80)
        XCTAssertEqual(t[rk("10.0.0.3")]?.key, rk("10.0.0.3"))
        XCTAssertNil(t[rk("10.0.0.0")])      // before the first
        XCTAssertNil(t[rk("10.0.0.4")])      // after the last
        XCTAssertNil(t[rk("10.0.0.2", 81)])  // between two
        XCTAssertNil(RealServerTable<RealServer>()[rk("10.0.0.1")])
    }

    func testInsertInOrderAndOutOfOrderKeepsKeysSorted() {
        var ascending = RealServerTable<RealServer>()
        for i in 1...20 { ascending[rk("10.0.0.\(i)")] = rs("10.0.0.\(i)") }
        XCTAssertEqual(Array(ascending.keys), (1...20).map { rk("10.0.0.\($0)") })

        var mixed = RealServerTable<RealServer>()
        for i in [7, 3, 20, 1, 15, 2, 19, 4, 18, 5, 17, 6, 16, 8, 14, 9, 13, 10, 12, 11] { mixed[rk("10.0.0.\(i)")] = rs("10.0.0.\(i)") }
        XCTAssertEqual(Array(mixed.keys), (1...20).map { rk("10.0.0.\($0)") })
        XCTAssertEqual(mixed.map(\.key), Array(mixed.keys))
        XCTAssertEqual(mixed.values.map(\.key), Array(mixed.keys))
    }

    /// Held per virtual server: 10 real servers added one by one leave less room than a doubled array (16).
    func testGrowthLeavesLittleUnusedRoom() {
        var t = RealServerTable<RealServer>()
        for i in 1...10 { t[rk("10.0.0.\(i)")] = rs("10.0.0.\(i)") }
        XCTAssertLessThan(t.entries.capacity, 16)
        XCTAssertEqual(RealServerTable((1...10).map { rs("10.0.0.\($0)") }).entries.capacity, 10, accuracy: 1)
    }

    func testReplaceAndDelete() {
        var t: RealServerTable<RealServer> = [rk("10.0.0.1"): rs("10.0.0.1"), rk("10.0.0.2"): rs("10.0.0.2"), rk("10.0.0.3"): rs("10.0.0.3")]
        t[rk("10.0.0.2")] = rs("10.0.0.2", weight: 0)
        XCTAssertEqual(t.count, 3)
        XCTAssertEqual(t[rk("10.0.0.2")]?.weight, 0)
        t[rk("10.0.0.2")] = nil
        XCTAssertEqual(Array(t.keys), [rk("10.0.0.1"), rk("10.0.0.3")])
        t[rk("10.0.0.9")] = nil  // absent: nothing happens
        XCTAssertEqual(t.count, 2)
        t[rk("10.0.0.3")] = nil; t[rk("10.0.0.1")] = nil
        XCTAssertTrue(t.isEmpty)
        XCTAssertEqual(t, [:])
    }

    func testAServerIsFiledUnderTheSubscriptsKey() {
        var t = RealServerTable<RealServer>()
        t[rk("10.0.0.2")] = rs("10.0.0.1")
        XCTAssertEqual(t[rk("10.0.0.2")]?.key, rk("10.0.0.2"))
        XCTAssertNil(t[rk("10.0.0.1")])
    }

    func testEqualityAndHashDoNotDependOnInsertionOrder() {
        var a = RealServerTable<RealServer>(), b = RealServerTable<RealServer>()
        for i in [1, 2, 3, 4] { a[rk("10.0.0.\(i)")] = rs("10.0.0.\(i)") }
        for i in [4, 2, 1, 3] { b[rk("10.0.0.\(i)")] = rs("10.0.0.\(i)") }
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.hashValue, b.hashValue)
        XCTAssertEqual(Set([a, b]).count, 1)
        b[rk("10.0.0.4")] = rs("10.0.0.4", weight: 2)
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(RealServerTable([rk("10.0.0.2"): rs("10.0.0.2"), rk("10.0.0.1"): rs("10.0.0.1")]),
                       [rk("10.0.0.1"): rs("10.0.0.1"), rk("10.0.0.2"): rs("10.0.0.2")] as RealServerTable<RealServer>)
    }

    func testStatsTableByKey() {
        var s: RealServerTable<RealServerStatsEntry> = [rk("10.0.0.2"): RealServerStats(activeConnections: 2),
                                                         rk("10.0.0.1"): RealServerStats(inactiveConnections: 1)]
        XCTAssertEqual(s[rk("10.0.0.2")]?.activeConnections, 2)
        XCTAssertEqual(Array(s.keys), [rk("10.0.0.1"), rk("10.0.0.2")])
        s[rk("10.0.0.1")] = nil
        XCTAssertEqual(Array(s.values), [RealServerStats(activeConnections: 2)])
    }

    /// Many random edits agree with a dictionary given the same edits (a fixed pseudo-random sequence).
    func testAgreesWithADictionaryUnderRandomEdits() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: UInt64) -> UInt64 { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return (seed >> 33) % n }
        var table = RealServerTable<RealServer>()
        var dict: [RealServerKey: RealServer] = [:]
        for _ in 0..<3000 {
            let key = RealServerKey(address: IPAddress(v4: 0x0A00_0000 | UInt32(next(64))), port: UInt16(next(3)))
            if next(4) == 0 {
                table[key] = nil; dict[key] = nil
            } else {
                let r = RealServer(key: key, weight: Int32(next(5)))
                table[key] = r; dict[key] = r
            }
            XCTAssertEqual(table[key], dict[key])
        }
        XCTAssertEqual(Array(table.keys), dict.keys.sorted())
        XCTAssertEqual(table, RealServerTable(dict))
        for (k, v) in dict { XCTAssertEqual(table[k], v) }
    }

    /// The observed state files real servers as the plan adds and deletes them, whatever the order.
    func testObservedStateApplyKeepsRealServersByKey() {
        let key = Fx.vsKey("10.254.0.1", 80)
        var o = ObservedState()
        let ops: [ProxyCore.Operation] = [.addVirtualServer(VirtualServer(key: key, scheduler: "rr")),
                                          .addRealServer(key, rs("10.0.0.3")), .addRealServer(key, rs("10.0.0.1")),
                                          .addRealServer(key, rs("10.0.0.2")), .updateRealServer(key, rs("10.0.0.1", weight: 0)),
                                          .deleteRealServer(key, rk("10.0.0.2"))]
        o.apply(Plan(operations: ops.map { PlannedOperation($0, owner: "a/b") }))
        let vs = o.family(.ipv4).virtualServers[key]
        XCTAssertEqual(vs?.realServers, [rk("10.0.0.1"): rs("10.0.0.1", weight: 0), rk("10.0.0.3"): rs("10.0.0.3")])
    }
}
