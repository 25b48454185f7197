import Foundation
#if canImport(Glibc)
import Glibc
#endif
import KubeClient
import KubeModel

// MARK: - `--decode FILE...`: the cost of decoding saved list bodies
//
// Each file is a list body as the API server sent it (`curl -H 'Accept: ...' .../api/v1/services`),
// protobuf when it starts with "k8s\0", else JSON. It is decoded into the wire structs the way the
// daemon's lists are (ListBodyDecoder, the API client's own decoder), --runs times; printed: the
// file, its encoding, kind, bytes, objects, and the medians of CPU time (getrusage: user +
// system) and wall time, in ms. The kind comes from the body (the envelope's or the JSON's
// `kind`), or from `--decode-kind services|endpointslices|nodes|endpoints`.

enum DecodeKind: String, CaseIterable {
    case services, endpointslices, nodes, endpoints

    /// The kind a list body names: `ServiceList`, `EndpointSliceList`, ...
    init?(listKind: String) {
        switch listKind {
        case "ServiceList": self = .services
        case "EndpointSliceList": self = .endpointslices
        case "NodeList": self = .nodes
        case "EndpointsList": self = .endpoints
        default: return nil
        }
    }
}

/// The body's `kind` and `apiVersion`: from the protobuf envelope, or the JSON's top-level keys.
func listType(of body: [UInt8]) -> (kind: String, apiVersion: String)? {
    if body.starts(with: [0x6B, 0x38, 0x73, 0x00]) {
        guard let e = try? ListBodyDecoder.envelopeType(body) else { return nil }
        return (e.kind, e.apiVersion)
    }
    struct Head: Decodable { var kind: String?; var apiVersion: String? }
    guard let h = try? JSONDecoder().decode(Head.self, from: Data(body)) else { return nil }
    return (h.kind ?? "", h.apiVersion ?? "")
}

/// CPU seconds of this process so far (user + system).
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return s(usage.ru_utime) + s(usage.ru_stime)
}

/// Decodes `body` `runs` times; returns the object count and the medians (ms) of CPU and wall time.
func timeDecode<T: KubeObject>(_ type: T.Type, _ body: [UInt8], encoding: APIEncoding, apiVersion: String,
                               runs: Int) throws -> (objects: Int, cpu: Double, wall: Double) {
    var cpu: [Double] = [], wall: [Double] = []
    var objects = 0
    for _ in 0..<max(1, runs) {
        let c0 = cpuSeconds(), t0 = ContinuousClock.now
        let page = try ListBodyDecoder.decode(T.self, body: body, encoding: encoding, apiVersion: apiVersion)
        // Timed up to here; freeing the objects is not decoding (the daemon keeps them).
        let (c1, t1) = withExtendedLifetime(page) { (cpuSeconds(), ContinuousClock.now) }
        objects = page.items.count
        cpu.append((c1 - c0) * 1000)
        wall.append((t1 - t0).milliseconds)
    }
    func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
    return (objects, median(cpu), median(wall))
}

func decodeBench(files: [String], kind forced: DecodeKind?, runs: Int) -> Int32 {
    print("file\tencoding\tkind\tbytes\tobjects\tcpu_ms\twall_ms")
    var failed = false
    for file in files {
        guard let data = FileManager.default.contents(atPath: file) else {
            printError("\(file): cannot read")
            failed = true
            continue
        }
        let body = [UInt8](data)
        let encoding: APIEncoding = body.starts(with: [0x6B, 0x38, 0x73, 0x00]) ? .protobuf : .json
        let type = listType(of: body)
        guard let kind = forced ?? type.flatMap({ DecodeKind(listKind: $0.kind) }) else {
            printError("\(file): the body names no list kind this reads (\(type?.kind ?? "none")); use --decode-kind")
            failed = true
            continue
        }
        // A JSON body's objects are read alike in every version; a protobuf one names its own.
        let apiVersion = type?.apiVersion ?? ""
        do {
            let r: (objects: Int, cpu: Double, wall: Double)
            switch kind {
            case .services: r = try timeDecode(ServiceResource.self, body, encoding: encoding, apiVersion: apiVersion, runs: runs)
            case .endpointslices: r = try timeDecode(EndpointSliceResource.self, body, encoding: encoding, apiVersion: apiVersion, runs: runs)
            case .nodes: r = try timeDecode(NodeResource.self, body, encoding: encoding, apiVersion: apiVersion, runs: runs)
            case .endpoints: r = try timeDecode(EndpointsResource.self, body, encoding: encoding, apiVersion: apiVersion, runs: runs)
            }
            print("\(file)\t\(encoding.rawValue)\t\(kind.rawValue)\t\(body.count)\t\(r.objects)\t\(String(format: "%.1f", r.cpu))\t\(String(format: "%.1f", r.wall))")
        } catch {
            printError("\(file): \(ListBodyDecoder.describe(error))")
            failed = true
        }
    }
    return failed ? 1 : 0
}

func printError(_ s: String) {
    FileHandle.standardError.write(Data("kube-ipvs-bench: \(s)\n".utf8))
}
