import JSONRPC
import Proxies

/// `cancelGeneration {jobId} | {sourcePath, quality?}` → what became of the job.
struct CancelGenerationRequest: RequestType {
    typealias Response = CancelGenerationResult
    static let method = "cancelGeneration"

    var jobId: String?
    var sourcePath: String?
    var quality: ProxyQuality?
}

struct CancelGenerationResult: Encodable, Sendable {
    var jobId: String
    var cancelled: Bool
    var status: ProxyStatus
}
