import KubeModel

// libFuzzer target: manifest text (YAML or JSON; text starting with `{` takes the JSON path) through
// ManifestLoader.parse, as `sync -f` reads a file. Any input must give objects, diagnostics or a
// refusal: never a crash, a hang, or memory out of proportion to the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzManifest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let result = ManifestLoader().parse(text: text, source: "fuzz")
    // Touch what a caller prints, so that their descriptions are exercised too.
    for d in result.diagnostics + result.warnings { _ = d.description }
    for r in result.refusals { _ = r.description }
    return 0
}
