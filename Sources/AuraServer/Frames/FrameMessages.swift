import JSONRPC

/// The frame messages: each name tied to its params and result (protocol/spec.md §8.16-8.17).

/// `requestFrame` → the picture shown at a time, inline (base64) or as a file.
enum RequestFrameRequest: RequestType {
    typealias Params = RequestFrameParams
    typealias Result = RequestFrameResult
    static let method = "requestFrame"
}

/// `setPlayhead` (client → server): where the playhead is and how it moves; the server decodes ahead of it.
enum SetPlayheadNotification: NotificationType {
    typealias Params = SetPlayheadParams
    static let method = "setPlayhead"
}
