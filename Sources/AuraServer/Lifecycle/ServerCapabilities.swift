import JSONRPC
import Proxies

/// What the server supports, so a client can adapt without knowing the server's version.
struct ServerCapabilities: Encodable, Sendable {
    struct Notifications: Encodable, Sendable {
        /// Notifications the server accepts.
        var client: [String]
        /// Notifications the server sends.
        var server: [String]
    }
    struct Preset: Encodable, Sendable {
        var name: String
        var width: Int
        var height: Int
        var videoBitRate: Int
        var audioBitRate: Int
        var isDefault: Bool
    }
    struct Progress: Encodable, Sendable {
        var workDoneProgress: Bool
        var partialResults: Bool
    }
    /// Every request method.
    var methods: [String]
    var notifications: Notifications
    var proxyPresets: [Preset]
    var progress: Progress
    /// JSON-RPC batches are answered element by element, in one array.
    var batches: Bool
    /// The largest message body accepted, in bytes.
    var maxMessageBytes: Int
    /// The server-defined error codes, by name.
    var errorCodes: [String: Int]

    static func make(methods: MethodTable, maxMessageBytes: Int) -> ServerCapabilities {
        ServerCapabilities(
            methods: (methods.requestMethods + [InitializeRequest.method, ShutdownRequest.method]).sorted(),
            notifications: Notifications(
                client: Array(Set(methods.notificationMethods + [ExitNotification.method, CancelRequestNotification.method])).sorted(),
                server: [
                    ProgressNotification<WorkDoneProgressValue>.method, LogMessageNotification.method,
                    PreviewModeChangedNotification.method,
                ]),
            proxyPresets: ProxyQuality.allCases.map {
                Preset(
                    name: $0.rawValue, width: $0.width, height: $0.height, videoBitRate: $0.videoBitRate,
                    audioBitRate: ProxyQuality.audioBitRate, isDefault: $0 == .default)
            },
            progress: Progress(workDoneProgress: true, partialResults: true),
            batches: true,
            maxMessageBytes: maxMessageBytes,
            errorCodes: [
                "fileNotFound": ServerErrorCode.fileNotFound,
                "notARegularFile": ServerErrorCode.notARegularFile,
                "permissionDenied": ServerErrorCode.permissionDenied,
                "emptyFile": ServerErrorCode.emptyFile,
                "notMedia": ServerErrorCode.notMedia,
                "truncatedMedia": ServerErrorCode.truncatedMedia,
                "corruptMedia": ServerErrorCode.corruptMedia,
                "unsupportedMedia": ServerErrorCode.unsupportedMedia,
                "diskFull": ServerErrorCode.diskFull,
                "ioError": ServerErrorCode.ioError,
                "jobNotFound": ServerErrorCode.jobNotFound,
                "cacheDirectoryRejected": ServerErrorCode.cacheDirectoryRejected,
                "generationFailed": ServerErrorCode.generationFailed,
            ])
    }
}
