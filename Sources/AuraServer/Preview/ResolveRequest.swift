import JSONRPC
import Proxies

/// `resolve {sourcePath}` → which file to preview a clip from, and why.
struct ResolveRequest: RequestType {
    typealias Response = ResolveResult
    static let method = "resolve"

    var sourcePath: String
}

struct ResolveResult: Encodable, Sendable {
    var path: String
    var usingProxy: Bool
    var mode: PreviewState.Mode
    var quality: ProxyQuality
    var reason: String
    var proxyStatus: String
    var progressPercent: Double?
    /// A proxy in the making's HLS playlist of the finished segments around the playhead (§10.9).
    var partialProxy: PartialProxy?

    struct PartialProxy: Encodable, Sendable {
        var playlistPath: String
        /// `[start, end]`: the seconds the playlist covers.
        var coverage: [Double]
    }
}
