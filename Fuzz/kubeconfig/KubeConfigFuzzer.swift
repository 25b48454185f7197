import Foundation
import KubeClient

// libFuzzer target: kubeconfig text through KubeConfig.parse, as `run --kubeconfig` reads a file.
// Any input must give a configuration or a KubeConfigError (naming the file and, where there is
// one, the field): never another error, a crash or a hang. Relative paths inside resolve against an
// empty directory, so they fail cleanly; absolute ones are read.
private let emptyDirectory: String = {
    let dir = NSTemporaryDirectory() + "kubeconfig-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

/// The libFuzzer entry point: one kubeconfig text per call.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKubeConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // An explicit context as well as current-context: both paths of the context lookup.
    for context in [nil, "fuzz"] as [String?] {
        do {
            let config = try KubeConfig.parse(yaml: text, file: "fuzz", baseDirectory: emptyDirectory, context: context)
            _ = config.server
        } catch let e as KubeConfigError {
            _ = e.description
        } catch {
            fatalError("kubeconfig parse failed with \(type(of: error)), not KubeConfigError: \(error)")
        }
    }
    return 0
}
