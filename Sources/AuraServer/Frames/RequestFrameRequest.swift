import JSONRPC
import Media

/// `requestFrame` → the picture shown at a time, inline (base64) or as a file (protocol/spec.md §8.16).
struct RequestFrameRequest: RequestType {
    typealias Response = RequestFrameResult
    static let method = "requestFrame"

    enum Delivery: String, EnumParam, Sendable {
        /// Base64 in the response's `data`.
        case inline
        /// A file in the frame cache directory, named in `path`.
        case file
    }

    var sourcePath: String
    var time: Double
    var width: Int?
    var height: Int?
    var format: ImageFormat?
    var quality: Int?
    var accurate: Bool?
    var delivery: Delivery?
}

struct RequestFrameResult: Encodable, Sendable {
    /// Presentation time of the picture returned (seconds on the file's timeline).
    var time: Double
    var width: Int
    var height: Int
    var format: String
    /// Whether the picture was read from the proxy (else from the source).
    var fromProxy: Bool
    /// Whether it came from the frame cache without decoding.
    var fromCache: Bool
    /// Base64 of the image (inline delivery).
    var data: String?
    /// The image's file (file delivery); valid until the frame cache evicts it.
    var path: String?
}

extension ImageFormat: EnumParam {}
