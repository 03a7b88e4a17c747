import JSONRPC

/// `previewModeChanged` (server → client): the preview state after a change.
enum PreviewModeChangedNotification: NotificationType {
    typealias Params = PreviewState
    static let method = "previewModeChanged"
}
