import JSONRPC

/// The settings methods: each name tied to its params and result (protocol/spec.md §8).

/// `getSettings` → every setting.
enum GetSettingsRequest: RequestType {
    typealias Params = NoParams
    typealias Result = ServerSettings
    static let method = "getSettings"
}

/// `updateSettings {settings}` → every setting after the change (all of the patch applied, or none of it).
enum UpdateSettingsRequest: RequestType {
    typealias Params = UpdateSettingsParams
    typealias Result = ServerSettings
    static let method = "updateSettings"
}
