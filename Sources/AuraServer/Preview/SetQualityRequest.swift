import JSONRPC
import Proxies

/// `setQuality {mode, quality?}` → the new preview state.
struct SetQualityRequest: RequestType {
    typealias Response = PreviewState
    static let method = "setQuality"

    var mode: PreviewState.Mode
    var quality: ProxyQuality?
}
