import Synchronization

/// The `value` of a `$/progress` notification for work-done progress (LSP `WorkDoneProgressBegin/Report/End`).
public enum WorkDoneProgressValue: Sendable, Equatable, Encodable {
    case begin(title: String, cancellable: Bool, message: String? = nil, percentage: Int? = nil)
    case report(message: String? = nil, percentage: Int? = nil, cancellable: Bool? = nil, details: [String: JSONValue] = [:])
    case end(message: String? = nil, details: [String: JSONValue] = [:])

    private struct CodingKeys: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
        static let kind = CodingKeys(stringValue: "kind")
        static let title = CodingKeys(stringValue: "title")
        static let cancellable = CodingKeys(stringValue: "cancellable")
        static let message = CodingKeys(stringValue: "message")
        static let percentage = CodingKeys(stringValue: "percentage")
    }

    /// Server-specific members (for example `framesPerSecond`) travel beside LSP's; LSP clients ignore them.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .begin(let title, let cancellable, let message, let percentage):
            try container.encode("begin", forKey: .kind)
            try container.encode(title, forKey: .title)
            try container.encode(cancellable, forKey: .cancellable)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(percentage, forKey: .percentage)
        case .report(let message, let percentage, let cancellable, let details):
            for (key, value) in details { try container.encode(value, forKey: CodingKeys(stringValue: key)) }
            try container.encode("report", forKey: .kind)
            try container.encodeIfPresent(cancellable, forKey: .cancellable)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(percentage, forKey: .percentage)
        case .end(let message, let details):
            for (key, value) in details { try container.encode(value, forKey: CodingKeys(stringValue: key)) }
            try container.encode("end", forKey: .kind)
            try container.encodeIfPresent(message, forKey: .message)
        }
    }
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

/// Reports work-done progress on one token: one `begin`, any number of `report`s, one `end`.
///
/// Invariant: nothing is sent after `end`, and `end` is sent at most once, so a handler may call `end`
/// from a `defer` and again on its success path without confusing the client. Percentages are clamped
/// to 0…100 and never go backwards, as LSP requires.
public final class WorkDoneProgress: Sendable {
    /// The token the client (or the server, for job tokens) chose.
    public let token: ProgressToken
    private let sink: any NotificationSink
    private let state = Mutex(ProgressState())

    private struct ProgressState {
        var ended = false
        var lastPercentage = 0
    }

    /// Sends `begin` at once.
    public init(token: ProgressToken, sink: any NotificationSink, title: String, cancellable: Bool,
                message: String? = nil, percentage: Int? = nil) {
        self.token = token
        self.sink = sink
        sink.sendNotification("$/progress", ProgressParams(
            token: token,
            value: WorkDoneProgressValue.begin(title: title, cancellable: cancellable, message: message,
                                               percentage: percentage.map { min(max($0, 0), 100) })))
    }

    /// Sends `report`.
    public func report(message: String? = nil, percentage: Int? = nil, details: [String: JSONValue] = [:]) {
        let clamped: Int?? = state.withLock { state in
            if state.ended { return .none }
            guard let percentage else { return .some(nil) }
            state.lastPercentage = max(state.lastPercentage, min(max(percentage, 0), 100))
            return .some(state.lastPercentage)
        }
        guard case .some(let value) = clamped else { return }
        sink.sendNotification("$/progress", ProgressParams(
            token: token, value: WorkDoneProgressValue.report(message: message, percentage: value, details: details)))
    }

    /// Sends `end`, once.
    public func end(message: String? = nil, details: [String: JSONValue] = [:]) {
        let first = state.withLock { state -> Bool in
            defer { state.ended = true }
            return !state.ended
        }
        guard first else { return }
        sink.sendNotification("$/progress", ProgressParams(token: token, value: WorkDoneProgressValue.end(message: message, details: details)))
    }
}

/// Anything that can send a notification to the client.
public protocol NotificationSink: Sendable {
    func sendNotification<Params: Encodable>(_ method: String, _ params: Params)
}

extension MessageWriter: NotificationSink {}

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

extension NotificationSink {
    /// Sends `window/logMessage`: server warnings the client should show or record.
    public func logMessage(_ type: MessageType, _ message: String) {
        sendNotification("window/logMessage", LogMessageParams(type: type, message: message))
    }
}
