import XCTest
import KubeModel
@testable import ProxyCore

/// A Service whose scheduler the kernel lacks is served with the configured one (rr when the
/// kernel lacks that too); every other Service keeps its own, and no module the kernel lacks is asked for.
final class SchedulerFallbackTests: XCTestCase {
    func service(_ name: String, _ ip: String, scheduler: String?, flags: [String]? = nil) -> ServiceInfo {
        var s = Fx.service(name, ip: ip)
        s.scheduler = scheduler
        s.schedulerFlags = flags
        return s
    }

    func scheduler(_ d: DesiredState, _ ip: String) -> VirtualServer? {
        d.family(.ipv4).virtualServers[Fx.vsKey(ip, 80)]?.server
    }

    func testUnavailableSchedulerFallsBackAndIsNotLoaded() {
        let twos = service("twos", "10.254.0.1", scheduler: "twos")
        let lc = service("lc", "10.254.0.2", scheduler: "lc")
        let mh = service("mh", "10.254.0.3", scheduler: "mh", flags: ["mh-fallback"])
        let plain = service("plain", "10.254.0.4", scheduler: nil)
        let snap = ClusterSnapshot(services: [twos, lc, mh, plain], endpointSets: [])
        let node = NodeContext(name: "node1", unavailableSchedulers: ["twos", "mh", "sh"])

        let d = Fx.desired(snap, node: node)
        XCTAssertEqual(scheduler(d, "10.254.0.1")?.scheduler, "rr")
        XCTAssertEqual(scheduler(d, "10.254.0.2")?.scheduler, "lc")
        XCTAssertEqual(scheduler(d, "10.254.0.3")?.scheduler, "rr")
        XCTAssertEqual(scheduler(d, "10.254.0.3")?.flags, [], "the fallback's default flags, not mh's")
        XCTAssertEqual(scheduler(d, "10.254.0.4")?.scheduler, "rr")
        XCTAssertEqual(d.modules, ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "nf_conntrack"], "no twos, mh or sh")

        let config = Fx.seedConfig
        XCTAssertEqual(DesiredStateBuilder.schedulerFallback(service: twos, config: config, node: node),
                       SchedulerFallback(wanted: "twos", used: "rr"))
        XCTAssertEqual(DesiredStateBuilder.schedulerFallback(service: twos, config: config, node: node)?.description,
                       "IPVS scheduler twos is not available in this kernel (no ip_vs_twos module); using rr")
        XCTAssertNil(DesiredStateBuilder.schedulerFallback(service: lc, config: config, node: node))
        XCTAssertNil(DesiredStateBuilder.schedulerFallback(service: plain, config: config, node: node))

        // Without unavailable schedulers, everything as asked (the result before any probe).
        let all = Fx.desired(snap)
        XCTAssertEqual(scheduler(all, "10.254.0.1")?.scheduler, "twos")
        XCTAssertEqual(scheduler(all, "10.254.0.3")?.flags, IPVSServiceFlags(schedulerFlagNames: ["mh-fallback"]))
        XCTAssertTrue(all.modules.contains("ip_vs_twos"))
    }

    /// The configured scheduler is the fallback; when the kernel lacks it too, every Service that
    /// would use it gets rr, and says so.
    func testConfiguredSchedulerFallback() {
        var config = Fx.seedConfig
        config.scheduler = "wlc"
        let twos = service("twos", "10.254.0.1", scheduler: "twos")
        let plain = service("plain", "10.254.0.4", scheduler: nil)
        let snap = ClusterSnapshot(services: [twos, plain], endpointSets: [])

        var d = Fx.desired(snap, config: config, node: NodeContext(name: "node1", unavailableSchedulers: ["twos"]))
        XCTAssertEqual(scheduler(d, "10.254.0.1")?.scheduler, "wlc")
        XCTAssertEqual(scheduler(d, "10.254.0.4")?.scheduler, "wlc")

        let node = NodeContext(name: "node1", unavailableSchedulers: ["twos", "wlc"])
        d = Fx.desired(snap, config: config, node: node)
        XCTAssertEqual(scheduler(d, "10.254.0.1")?.scheduler, "rr")
        XCTAssertEqual(scheduler(d, "10.254.0.4")?.scheduler, "rr")
        XCTAssertEqual(DesiredStateBuilder.schedulerFallback(service: plain, config: config, node: node),
                       SchedulerFallback(wanted: "wlc", used: "rr"))
    }
}
