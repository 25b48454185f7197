import Daemon
import Foundation
import KubeModel
import ProxyCore
import Reconciler
import KernelPort

// Pure computation benchmark (docs/benchmarks.md, part (a)): desired state + diff + plan for N Services x M endpoints,
// from an empty node, as `kube-ipvs sync` computes it (DesiredStateBuilder.build, which fills a
// DesiredStateIndex the way the daemon's first full sync does, then a full Planner.plan).
// Usage: kube-ipvs-bench [N ...] [--endpoints M] [--runs R] [--free-in-plan]; `scripts/bench.sh` runs it.
// Prints tab-separated lines: N, M, then medians of build, plan and total, the minimum total (ms)
// and the number of planned operations.
// The desired state is kept alive until the plan is timed (`withExtendedLifetime`): Swift may
// otherwise free it right after its last use, inside the timed region, and freeing it is not part
// of planning (the daemon keeps it). `--free-in-plan` times it with the freeing included.
//
// `--one-change` (part (c), on the host): the daemon's own loop (`ProxyLoop`, as `kube-ipvs
// run` uses it) over an in-memory kernel, N Services x M endpoints programmed, then R changes of
// one EndpointSlice (its first endpoint replaced): each timed from the watch event's JSON
// (decoded inside the timed region, as the daemon decodes it) to the sync's end, with the number
// of kernel operations the sync applied. Prints N, the medians and minimum (ms) and the
// operations of each change. The kernel's own time is not included (the guest part measures it).
// Also the first sync's time, and the anonymous RSS after it (trimmed, as the daemon does) and the
// peak so far, in KiB: one size per run for a peak of its own. `--profile` adds a `# profile` line:
// the memory held (trimmed RssAnon) after caching the Services, the endpoints, and after each phase
// of the first sync.
//
// `--decode FILE... [--decode-kind services|endpointslices|nodes|endpoints] [--runs R]`: the CPU
// and wall time of decoding saved list bodies, JSON or protobuf (DecodeBench.swift).

func synthetic(services n: Int, endpoints m: Int) -> ClusterSnapshot {
    var services: [ServiceInfo] = []
    var sets: [EndpointSetInfo] = []
    services.reserveCapacity(n)
    sets.reserveCapacity(n)
    for i in 0..<n {
        let ref = ObjectRef(namespace: "ns\(i % 50)", name: "svc-\(i)")
        let vip = IPAddress(v4: 0x0AFE_0000 + UInt32(i + 1))  // 10.254.x.y
        services.append(ServiceInfo(ref: ref, clusterIPs: [vip], ports: [ServicePortInfo(name: "http", proto: .tcp, port: 80)]))
        var eps: [EndpointInfo] = []
        for j in 0..<m { eps.append(EndpointInfo(address: IPAddress(v4: 0x0AF4_0000 + UInt32((i * m + j) % 0xFFFF + 1)))) }
        sets.append(EndpointSetInfo(source: ref, service: ref, ports: [EndpointPortInfo(name: "http", proto: .tcp, port: 8080)], endpoints: eps))
    }
    return ClusterSnapshot(services: services, endpointSets: sets)
}

func ms(_ d: Duration) -> Double { d.milliseconds }

var sizes: [Int] = []
var m = 10, runs = 5
var freeInPlan = false
var oneChange = false
var profile = false
var decodeFiles: [String]? = nil
var decodeKind: DecodeKind? = nil
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--decode":
        var files: [String] = []
        while let f = args.first, !f.hasPrefix("--") { files.append(f); args.removeFirst() }
        decodeFiles = files
    case "--decode-kind":
        let k = args.popFirst() ?? ""
        guard let kind = DecodeKind(rawValue: k) else {
            printError("--decode-kind: \"\(k)\" is not one of \(DecodeKind.allCases.map(\.rawValue).joined(separator: ", "))")
            exit(2)
        }
        decodeKind = kind
    case "--endpoints": m = Int(args.popFirst() ?? "10") ?? 10
    case "--runs": runs = Int(args.popFirst() ?? "5") ?? 5
    case "--free-in-plan": freeInPlan = true
    case "--one-change": oneChange = true
    case "--profile": profile = true
    default: if let n = Int(a) { sizes.append(n) }
    }
}
if let files = decodeFiles {
    guard !files.isEmpty else { printError("--decode needs at least one file"); exit(2) }
    exit(decodeBench(files: files, kind: decodeKind, runs: runs))
}
if sizes.isEmpty { sizes = [1000, 10000, 50000] }
if oneChange {
    await oneChangeBench(sizes: sizes, endpoints: m, runs: runs, profile: profile)
    exit(0)
}
var config = ProxyConfig()
config.clusterCIDRs = [CIDR("10.244.0.0/16")!]
let node = NodeContext(name: "node1")
let clock = ContinuousClock()
print("N\tM\tbuild_ms\tplan_ms\ttotal_ms\tmin_total_ms\tops")
for n in sizes {
    let snap = synthetic(services: n, endpoints: m)
    var build: [Double] = [], plan: [Double] = [], total: [Double] = []
    var ops = 0
    for _ in 0..<runs {
        let t0 = clock.now
        let desired = DesiredStateBuilder.build(snapshot: snap, config: config, node: node)
        let t1 = clock.now
        let p: Plan, t2: ContinuousClock.Instant
        if freeInPlan {
            p = Planner.plan(desired: desired, observed: .emptyNode)
            t2 = clock.now  // `desired` may be freed before this
        } else {
            (p, t2) = withExtendedLifetime(desired) { (Planner.plan(desired: desired, observed: .emptyNode), clock.now) }
        }
        ops = p.count
        build.append(ms(t1 - t0)); plan.append(ms(t2 - t1)); total.append(ms(t2 - t0))
    }
    func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
    print("\(n)\t\(m)\t\(String(format: "%.1f", median(build)))\t\(String(format: "%.1f", median(plan)))\t\(String(format: "%.1f", median(total)))\t\(String(format: "%.1f", total.min()!))\t\(ops)")
}

// MARK: - One change through the daemon's loop

func sliceJSON(_ i: Int, endpoints m: Int, first: String? = nil) -> String {
    var eps: [String] = []
    for j in 0..<m {
        let a = IPAddress(v4: 0x0AF4_0000 + UInt32((i * m + j) % 0xFFFF + 1)).description
        eps.append(#"{"addresses":[""# + (j == 0 ? (first ?? a) : a) + #""],"conditions":{"ready":true}}"#)
    }
    return #"{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"svc-\#(i)-a","namespace":"ns\#(i % 50)","labels":{"kubernetes.io/service-name":"svc-\#(i)"}},"addressType":"IPv4","ports":[{"name":"http","port":8080,"protocol":"TCP"}],"endpoints":[\#(eps.joined(separator: ","))]}"#
}

func serviceJSON(_ i: Int) -> String {
    let vip = IPAddress(v4: 0x0AFE_0000 + UInt32(i + 1)).description
    return #"{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc-\#(i)","namespace":"ns\#(i % 50)"},"spec":{"clusterIP":"\#(vip)","clusterIPs":["\#(vip)"],"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080}]}}"#
}

func oneChangeBench(sizes: [Int], endpoints m: Int, runs: Int, profile: Bool) async {
    print("N\tM\tchange_median_ms\tchange_min_ms\tops_per_change\tfirst_sync_ms\tanon_kib\tpeak_kib")
    MallocTuning.configure()
    let decoder = JSONDecoder()
    for n in sizes {
        var config = ProxyConfig()
        config.clusterCIDRs = [CIDR("10.244.0.0/16")!]
        config.minSyncPeriod = 0
        let kernel = InMemoryKernel()
        // --profile: the memory held after each step, trimmed first (malloc_trim returns free
        // pages), so that each figure is about the live data plus partly used pages.
        let held: @Sendable () -> Int? = { MallocTuning.trim(); return ProcessMetrics.statusKiB("RssAnon") }
        var observers = ProxyLoopObservers()
        if profile { observers.memoryKiB = held }
        let loop = ProxyLoop(kernel: kernel, config: config, nodeName: "node1", observers: observers)
        var stages: [(String, Int)] = [("start", held() ?? -1)]
        do {  // the decoded lists are dropped before the sync, as the daemon's are
            let services = (0..<n).map { try! decoder.decode(ServiceResource.self, from: Data(serviceJSON($0).utf8)) }
            await loop.replaceServices(services, at: 0)
        }
        if profile { stages.append(("services-cached", held() ?? -1)) }
        do {
            let slices = (0..<n).map { try! decoder.decode(EndpointSliceResource.self, from: Data(sliceJSON($0, endpoints: m).utf8)) }
            await loop.replaceEndpointSources(slices, at: 0)
        }
        if profile { stages.append(("endpoints-cached", held() ?? -1)) }
        await loop.setNode(nil, at: 0)
        let s0 = ContinuousClock.now
        await loop.step(at: 0)
        let firstSync = ms(ContinuousClock.now - s0)
        if profile {
            // The first sync's phases: "apply" adds the in-memory kernel's own copy of the state
            // (the daemon has none: the kernel holds it), "cache" the daemon's cached kernel state.
            for (name, kib) in await loop.lastResult?.phaseMemory ?? [] { stages.append(("sync-\(name)", kib)) }
            var last = 0
            let line = stages.map { name, kib in defer { last = kib }; return "\(name)=\(kib)(\(kib - last >= 0 ? "+" : "")\(kib - last))" }
            print("# profile N=\(n) KiB held after each step (+ change): " + line.joined(separator: " "))
        }
        // As the daemon after its first sync. The in-memory kernel's own copy of the state is
        // in these figures (the real kernel's is not in the daemon's): about one cached kernel state.
        MallocTuning.trim()
        let anon = ProcessMetrics.statusKiB("RssAnon") ?? -1, peak = ProcessMetrics.statusKiB("VmHWM") ?? -1
        var times: [Double] = [], ops: [Int] = []
        for r in 0..<runs {
            let i = (r * 7919 + 1) % n
            let event = Data(sliceJSON(i, endpoints: m, first: "10.99.\(r % 250).\(i % 250 + 1)").utf8)
            let now = Double(r + 1) * 10
            let t0 = ContinuousClock.now
            let slice = try! decoder.decode(EndpointSliceResource.self, from: event)
            await loop.upsertEndpointSource(slice, at: now)
            await loop.step(at: now)
            times.append(ms(ContinuousClock.now - t0))
            ops.append(await loop.lastResult?.total ?? -1)
        }
        let sorted = times.sorted()
        print("\(n)\t\(m)\t\(String(format: "%.3f", sorted[sorted.count / 2]))\t\(String(format: "%.3f", sorted[0]))\t\(ops.map(String.init).joined(separator: ","))\t\(String(format: "%.0f", firstSync))\t\(anon)\t\(peak)")
    }
}
