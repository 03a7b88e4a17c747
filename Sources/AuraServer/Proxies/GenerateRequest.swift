import JSONRPC
import Proxies

/// `generate {sourcePath, quality?, backgroundGeneration?, priority?, overwrite?, scalePercent?}` → a job ticket, or
/// the finished proxy when it waited (protocol/spec.md §8).
struct GenerateRequest: RequestType {
    typealias Response = GenerateResult
    static let method = "generate"

    var sourcePath: String
    var quality: ProxyQuality?
    var backgroundGeneration: Bool?
    var priority: Int?
    var overwrite: Bool?
    var scalePercent: Int?
}

struct GenerateResult: Encodable, Sendable {
    var jobId: String
    var status: ProxyStatus
    var sourcePath: String
    var quality: ProxyQuality
    var progressPercent: Double
    var joined: Bool
    var proxy: ProxyRecordPayload?
}

extension GenerateResult {
    init(_ ticket: ProxyTicket, proxy: ProxyRecord?) {
        self.init(
            jobId: ticket.jobId, status: ticket.status, sourcePath: ticket.sourcePath,
            quality: ticket.quality, progressPercent: ticket.progressPercent, joined: ticket.joined,
            proxy: proxy.map(ProxyRecordPayload.init))
    }
}
