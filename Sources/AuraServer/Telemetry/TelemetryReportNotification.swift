import JSONRPC

/// `telemetry/report {playbackFps?, scrubLatencyMs?, droppedFrames?, cacheHit?}`: what the client measured. Like a
/// request type, the notification is its params.
struct TelemetryReportNotification: NotificationType, Decodable {
    typealias Params = TelemetryReportNotification
    static let method = "telemetry/report"

    var playbackFps: Double?
    var scrubLatencyMs: Double?
    var droppedFrames: Int?
    var cacheHit: Bool?
}
