import JSONRPC
import Settings

/// `getSettings` → every setting.
struct GetSettingsRequest: RequestType, ParamsIgnored {
    typealias Response = ServerSettings
    static let method = "getSettings"
}
