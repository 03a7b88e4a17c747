import JSONRPC
import Settings

/// `updateSettings {settings}` → every setting after the change (all of the patch applied, or none of it).
struct UpdateSettingsRequest: RequestType {
    typealias Response = ServerSettings
    static let method = "updateSettings"

    var settings: ServerSettings.Patch
}
