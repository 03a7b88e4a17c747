import JSONRPC

/// `resolve {sourcePath}` → which file to preview a clip from, and why.
struct ResolveRequest: RequestType {
    typealias Response = ResolveResult
    static let method = "resolve"

    var sourcePath: String
}

struct ResolveResult: Encodable, Sendable {
    var path: String
    var usingProxy: Bool
    var mode: String
    var quality: String
    var reason: String
    var proxyStatus: String
    var progressPercent: Double?
}
