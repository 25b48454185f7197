import Foundation
@testable import KubeClient
import KubeModel

// libFuzzer target: the body of a watch response through the client's line framing and event
// decoding, as APIClient.watch reads it. The first byte picks the object kind (`s` Service, `e`
// EndpointSlice, `n` Node, anything else Endpoints); the rest is the body, fed in chunks whose size
// also comes from the input (the framing must not depend on where chunks end). Any input must give
// events or errors: never a crash, a hang, or memory out of proportion to the input.
// `@testable`: LineSplitter and WatchLine are internal (build KubeClient with -enable-testing).
/// The libFuzzer entry point: one kind byte and one watch body per call.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWatchEvent(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let body = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    switch data[0] {
    case UInt8(ascii: "s"): replay(ServiceResource.self, body)
    case UInt8(ascii: "e"): replay(EndpointSliceResource.self, body)
    case UInt8(ascii: "n"): replay(NodeResource.self, body)
    default: replay(EndpointsResource.self, body)
    }
    return 0
}

private func replay<T: KubeObject>(_ type: T.Type, _ body: [UInt8]) {
    var splitter = LineSplitter(maximumLineLength: 1 << 20)
    let chunk = body.count % 13 + 1
    var lines: [[UInt8]] = []
    var start = 0
    do {
        while start < body.count {
            let end = min(start + chunk, body.count)
            lines += try splitter.append(body[start..<end])
            start = end
        }
        if let last = splitter.finish() { lines.append(last) }
    } catch {
        _ = "\(error)"  // a line over the limit: the watch fails with invalidResponse
    }
    let decoder = JSONDecoder()
    for line in lines {
        do {
            switch try decoder.decode(WatchLine<T>.self, from: Data(line)).event {
            case .added(let o), .modified(let o), .deleted(let o): _ = o.metadata?.resourceVersion
            case .bookmark(let rv): _ = rv
            case .error(let status): _ = status.description
            }
        } catch {
            _ = APIClient.describe(error)
        }
    }
}
