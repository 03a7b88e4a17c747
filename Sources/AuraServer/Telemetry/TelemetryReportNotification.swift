import JSONRPC

/// `telemetry/report {playbackFps?, scrubLatencyMs?, droppedFrames?, cacheHit?}`: what the client measured.
enum TelemetryReportNotification: NotificationType {
    typealias Params = TelemetryReportParams
    static let method = "telemetry/report"
}

struct TelemetryReportParams: Decodable, Sendable {
    var playbackFps: Double?
    var scrubLatencyMs: Double?
    var droppedFrames: Int?
    var cacheHit: Bool?
}
