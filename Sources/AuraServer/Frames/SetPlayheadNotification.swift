import JSONRPC
import Media

/// `setPlayhead` (client → server): where the playhead is and how it moves; the server decodes ahead of it
/// (protocol/spec.md §8.17). Like a request type, the notification is its params.
struct SetPlayheadNotification: NotificationType, Decodable {
    typealias Params = SetPlayheadNotification
    static let method = "setPlayhead"

    var sourcePath: String
    var time: Double
    /// 0 paused, 1 playing, negative in reverse, other values shuttle speeds.
    var rate: Double
    var width: Int?
    var height: Int?
    var format: ImageFormat?
    var quality: Int?
}
