import JSONRPC
import Proxies

/// `status {sourcePath, quality?}` → the catalogue record of a source's proxy at a quality, or `{status: "none"}`.
struct StatusRequest: RequestType {
    typealias Response = StatusResult
    static let method = "status"

    var sourcePath: String
    var quality: ProxyQuality?
}

/// Either a record or "nothing known", encoded as one or the other.
enum StatusResult: Encodable, Sendable {
    case record(ProxyRecordPayload)
    case none(NoProxyResult)

    func encode(to encoder: Encoder) throws {
        switch self {
        case .record(let record): try record.encode(to: encoder)
        case .none(let none): try none.encode(to: encoder)
        }
    }
}

struct NoProxyResult: Encodable, Sendable {
    var status = "none"
    var sourcePath: String
    var quality: ProxyQuality
}
