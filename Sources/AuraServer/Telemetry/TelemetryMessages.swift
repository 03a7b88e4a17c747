import JSONRPC
import Telemetry

/// The telemetry messages: each name tied to its params and result (protocol/spec.md §8).

/// `getMetricsSummary {}` → the metrics over the telemetry window, judged against the guide's targets.
enum GetMetricsSummaryRequest: RequestType {
    typealias Params = NoParams
    typealias Result = MetricsSummary
    static let method = "getMetricsSummary"
}

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
