import JSONRPC
import Telemetry

/// `getMetricsSummary {}` → the metrics over the telemetry window, judged against the guide's targets.
struct GetMetricsSummaryRequest: RequestType, ParamsIgnored {
    typealias Response = MetricsSummary
    static let method = "getMetricsSummary"
}
