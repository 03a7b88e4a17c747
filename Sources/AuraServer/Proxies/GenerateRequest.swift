import JSONRPC
import Proxies

/// `generate {sourcePath, quality?, backgroundGeneration?, priority?, overwrite?, scalePercent?, force?, startTime?}` → a job
/// ticket, the finished proxy when it waited, or `notNeeded` (protocol/spec.md §8).
struct GenerateRequest: RequestType {
    typealias Response = GenerateResult
    static let method = "generate"

    var sourcePath: String
    var quality: ProxyQuality?
    var backgroundGeneration: Bool?
    var priority: Int?
    var overwrite: Bool?
    var scalePercent: Int?
    var force: Bool?
    /// The time (seconds) the user looks at: its segment is made first.
    var startTime: Double?
}

struct GenerateResult: Encodable, Sendable {
    /// The job's status, or `notNeeded` (no job: the source is no larger than the quality's box).
    enum Status: Encodable, Sendable, Equatable {
        case job(ProxyStatus)
        case notNeeded

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .job(let status): try container.encode(status)
            case .notNeeded: try container.encode("notNeeded")
            }
        }
    }

    /// The job's id; empty when `status` is `notNeeded` (no job).
    var jobId: String
    var status: Status
    var sourcePath: String
    var quality: ProxyQuality
    var progressPercent: Double
    var joined: Bool
    var proxy: ProxyRecordPayload?
    /// Why no proxy is made (`notNeeded`).
    var reason: String?
    /// How many finished parts of an earlier, interrupted attempt the job continues from (0 when none).
    var resumedSegments: Int = 0
}

extension GenerateResult {
    init(_ ticket: ProxyTicket, proxy: ProxyRecord?) {
        self.init(
            jobId: ticket.jobId, status: .job(ticket.status), sourcePath: ticket.sourcePath,
            quality: ticket.quality, progressPercent: ticket.progressPercent, joined: ticket.joined,
            proxy: proxy.map(ProxyRecordPayload.init), resumedSegments: ticket.resumedSegments)
    }

    /// The answer for a source that needs no proxy at this quality.
    static func notNeeded(sourcePath: String, quality: ProxyQuality, reason: String) -> GenerateResult {
        GenerateResult(
            jobId: "", status: .notNeeded, sourcePath: sourcePath, quality: quality, progressPercent: 0, joined: false,
            reason: reason)
    }
}
