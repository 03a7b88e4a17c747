import JSONRPC

/// The quality toggle's messages: each name tied to its params and result (protocol/spec.md §8).

/// `setQuality` → the new preview state.
enum SetQualityRequest: RequestType {
    typealias Params = SetQualityParams
    typealias Result = PreviewState
    static let method = "setQuality"
}

/// `resolve` → which file to preview a clip from, and why.
enum ResolveRequest: RequestType {
    typealias Params = ResolveParams
    typealias Result = ResolveResult
    static let method = "resolve"
}

/// `previewModeChanged` (server → client): the preview state after a change.
enum PreviewModeChangedNotification: NotificationType {
    typealias Params = PreviewState
    static let method = "previewModeChanged"
}
