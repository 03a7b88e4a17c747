import JSONRPC
import Proxies

/// `importMedia {paths, quality?, recursive?}` → `{items, queuedProxies, queuedWaveforms}` (protocol/spec.md §8).
struct ImportMediaRequest: RequestType {
    typealias Response = ImportMediaResult
    static let method = "importMedia"

    /// Absolute paths of files and folders.
    var paths: [String]
    /// The proxies' quality (default: the `defaultQuality` setting).
    var quality: ProxyQuality?
    /// Whether folders are imported with their subfolders (default false).
    var recursive: Bool?
}

struct ImportMediaResult: Encodable, Sendable {
    var items: [ImportItem]
    var queuedProxies: Int
    var queuedWaveforms: Int
}
