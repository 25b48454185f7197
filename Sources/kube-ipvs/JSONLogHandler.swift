#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel
import Logging

/// `--logging-format=json`: one JSON object per line on standard error, with the fields of
/// Kubernetes' JSON log format that apply (`ts` in Unix seconds, `msg`, `v`) plus `level` and the
/// message's metadata, so that log pipelines set up for kube-proxy's JSON logs read these too.
struct JSONLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    let label: String

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        StandardStream.error(Self.line(level: event.level, message: "\(event.message)",
                                       metadata: metadata.merging(event.metadata ?? [:]) { $1 },
                                       time: Date()))
    }

    /// One log line (with its newline).
    static func line(level: Logger.Level, message: String, metadata: Logger.Metadata, time: Date) -> String {
        // klog's verbosity of the level: debug is -v=4, trace -v=6 (the mapping --v uses).
        let v = level == .trace ? 6 : level == .debug ? 4 : 0
        var fields: [(String, String)] = [("ts", FixedDecimal.format(time.timeIntervalSince1970, digits: 6)),
                                          ("level", quote("\(level)")), ("msg", quote(message)), ("v", "\(v)")]
        for (k, value) in metadata.sorted(by: { $0.key < $1.key }) { fields.append((k, quote("\(value)"))) }
        return "{" + fields.map { quote($0.0) + ":" + $0.1 }.joined(separator: ",") + "}\n"
    }

    /// A JSON string literal.
    static func quote(_ s: String) -> String { GoJSON.string(s) }
}
