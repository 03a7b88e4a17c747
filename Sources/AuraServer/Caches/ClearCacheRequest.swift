import JSONRPC

/// `clearCache {scope?, sourcePath?}` → files deleted, bytes freed, files kept because they are in use.
struct ClearCacheRequest: RequestType {
    typealias Response = ClearCacheResult
    static let method = "clearCache"

    enum Scope: String, EnumParam, Sendable { case proxies, waveforms, frames, all }
    var scope: Scope?
    var sourcePath: String?
}

struct ClearCacheResult: Encodable, Sendable {
    var deletedFiles: Int
    var freedBytes: Int64
    var keptInUse: Int
    /// Pictures dropped from the frame cache (scopes `frames` and `all`); their bytes are in `freedBytes`.
    var clearedFrames: Int
}
