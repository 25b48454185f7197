// MARK: - Which encoding the API server is asked for, and which one it answered with
//
// kube-proxy asks for protobuf by default (clientConnection.contentType): the server encodes it
// with less work and the client decodes it with far less. Lists and watches of the built-in
// types ask for protobuf first and JSON second; a server (or proxy) that answers JSON is read as
// JSON, so the choice only ever saves work. Everything else (version, discovery) asks for JSON.

/// The encoding list and watch requests ask for (`--kube-api-content-type`).
public enum APIEncoding: String, Sendable, Hashable {
    case json
    case protobuf

    /// The media type of the API's protobuf encoding.
    public static let protobufMediaType = "application/vnd.kubernetes.protobuf"

    /// The encoding `clientConnection.contentType` names: protobuf for the API's protobuf media
    /// type (parameters and case aside), JSON for anything else, as client-go falls back to JSON
    /// for a type it cannot decode.
    public init(contentType: String) {
        self = Self.isProtobuf(contentType) ? .protobuf : .json
    }

    /// The `Accept` header of list and watch requests: client-go's for protobuf, with JSON second
    /// so that a server without protobuf for a type still answers in something we read.
    public var accept: String {
        switch self {
        case .json: return "application/json"
        case .protobuf: return "\(Self.protobufMediaType), application/json"
        }
    }

    /// Whether a `Content-Type` value is the API's protobuf (`;stream=watch` and other parameters
    /// allowed); anything else, a missing header included, is read as JSON.
    static func isProtobuf(_ contentType: String?) -> Bool {
        guard let value = contentType else { return false }
        let media = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return media.trimmingSpacesAndTabs.lowercased() == protobufMediaType
    }

    /// The encoding of a response, by its `Content-Type`.
    static func ofResponse(contentType: String?) -> APIEncoding {
        isProtobuf(contentType) ? .protobuf : .json
    }
}

extension Substring {
    var trimmingSpacesAndTabs: Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}
