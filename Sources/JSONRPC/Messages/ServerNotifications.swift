/// `$/progress {token, value}`: work-done progress (`WorkDoneProgressValue`) or a partial result, on a token the
/// receiver chose.
public enum ProgressNotification<Value: Encodable & Sendable>: NotificationType {
    public typealias Params = ProgressParams<Value>
    public static var method: String { "$/progress" }
}

/// The params of `$/progress`: a token and a value whose shape the token's owner knows.
public struct ProgressParams<Value: Encodable & Sendable>: Encodable, Sendable {
    public var token: ProgressToken
    public var value: Value

    public init(token: ProgressToken, value: Value) {
        self.token = token
        self.value = value
    }
}

/// `window/logMessage {type, message}`: server warnings the client should show or record.
public enum LogMessageNotification: NotificationType {
    public typealias Params = LogMessageParams
    public static let method = "window/logMessage"
}

/// `window/logMessage` severities (LSP `MessageType`).
public enum MessageType: Int, Sendable, Codable {
    case error = 1, warning = 2, info = 3, log = 4
}

/// The params of `window/logMessage`.
public struct LogMessageParams: Codable, Sendable {
    public var type: MessageType
    public var message: String
    public init(type: MessageType, message: String) {
        self.type = type
        self.message = message
    }
}
