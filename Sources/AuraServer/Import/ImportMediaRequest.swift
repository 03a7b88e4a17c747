import JSONRPC
import MediaImport
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
    var items: [ImportItemPayload]
    var queuedProxies: Int
    var queuedWaveforms: Int
}

/// An import item on the wire: the item's members, and for a failed item the JSON-RPC error object (`code`, `message`,
/// `data`) that a request for the file would have got.
struct ImportItemPayload: Encodable, Sendable {
    var item: ImportItem

    private enum CodingKeys: String, CodingKey {
        case error
    }

    func encode(to encoder: any Encoder) throws {
        try item.encode(to: encoder)
        guard let error = item.error else { return }
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode((error as? ResponseErrorConvertible)?.responseError ?? .internalError("\(error)"), forKey: .error)
    }
}
