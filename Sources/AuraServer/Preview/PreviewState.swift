import JSONRPC
import Proxies

/// The quality toggle's state, answered by `setQuality` and sent in `previewModeChanged`.
///
/// Proxy mode is the guide's "Fast Mode" (blue "Proxy Active" badge): previews use proxies of the chosen
/// quality when they exist. Source mode is "High Quality" (green "Source Quality" badge): previews use the
/// originals. Final renders always use sources; the toggle never starts, cancels or deletes jobs.
struct PreviewState: Codable, Sendable, Equatable {
    enum Mode: String, EnumParam, Encodable, Sendable { case proxy, source }
    struct Badge: Codable, Sendable, Equatable {
        var label: String
        var color: String
    }
    var mode: Mode
    var quality: ProxyQuality
    var badge: Badge

    init(mode: Mode, quality: ProxyQuality) {
        self.mode = mode
        self.quality = quality
        badge = mode == .proxy ? Badge(label: "Proxy Active", color: "blue") : Badge(label: "Source Quality", color: "green")
    }
}
