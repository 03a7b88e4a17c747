import JSONRPC
import Settings

/// `initialize` → server info, capabilities, settings and the preview state. Every member of the params is optional;
/// unknown members are ignored, as in LSP.
struct InitializeRequest: RequestType {
    typealias Response = InitializeResult
    static let method = Dispatcher.initializeMethod

    struct ClientInfo: Decodable, Sendable {
        var name: String
        var version: String?
    }
    var processId: Int?
    var clientInfo: ClientInfo?
    var capabilities: JSONValue?
    /// Settings applied before the first request runs (see `ServerSettings.Patch`).
    var initializationOptions: ServerSettings.Patch?
}

/// `initialize` result: who the server is and everything it supports.
struct InitializeResult: Encodable, Sendable {
    struct ServerInfo: Encodable, Sendable {
        var name: String
        var version: String
    }
    var serverInfo: ServerInfo
    var capabilities: ServerCapabilities
    /// The settings in force after `initializationOptions` were applied.
    var settings: ServerSettings
    /// The preview mode the session starts in.
    var previewState: PreviewState
    /// The saved settings' file, and whether it was read (absent when the server keeps no settings file).
    var settingsFile: SettingsFileStatus?
}

/// Where saved settings live and what became of them at start.
struct SettingsFileStatus: Encodable, Sendable {
    var path: String
    /// "loaded", "missing" (defaults used) or "damaged" (defaults used; the file is kept).
    var status: String
    /// What is wrong with a damaged file.
    var error: String?
}
