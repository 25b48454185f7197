import Foundation
import KubeModel

// libFuzzer target: one API object as the daemon receives it (JSON from the API server), decoded
// as each kind kube-ipvs reads and then validated. The first byte picks the kind, so that the
// fuzzer can specialise inputs per kind.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzObject(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let body = Data(bytes: data + 1, count: size - 1)
    let decoder = JSONDecoder()
    switch data[0] % 4 {
    case 0: if let r = try? decoder.decode(ServiceResource.self, from: body) { describe(r.checked()) }
    case 1: if let r = try? decoder.decode(EndpointSliceResource.self, from: body) { describe(r.checked()) }
    case 2: if let r = try? decoder.decode(EndpointsResource.self, from: body) { describe(r.checked()) }
    default:
        if let r = try? decoder.decode(NodeResource.self, from: body) {
            describe(r.checked())
            _ = r.hostIPsInPreferenceOrder
        }
    }
    return 0
}

private func describe<V>(_ c: Checked<V>) {
    if case .invalid(let d) = c { _ = d.description }
}
