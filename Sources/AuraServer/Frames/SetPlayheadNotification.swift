import Media
import JSONRPC

/// `setPlayhead` (client → server): where the playhead is and how it moves; the server decodes ahead of it
/// (protocol/spec.md §8.17).
enum SetPlayheadNotification: NotificationType {
    typealias Params = SetPlayheadParams
    static let method = "setPlayhead"
}

struct SetPlayheadParams: Decodable, Sendable {
    var sourcePath: String
    var time: Double
    /// 0 paused, 1 playing, negative in reverse, other values shuttle speeds.
    var rate: Double
    var width: Int?
    var height: Int?
    var format: ImageFormat?
    var quality: Int?
}
