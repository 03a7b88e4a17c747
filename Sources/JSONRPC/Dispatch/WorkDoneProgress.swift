import Locking

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
    public init(
        token: ProgressToken, sink: any NotificationSink, title: String, cancellable: Bool,
        message: String? = nil, percentage: Int? = nil
    ) {
        self.token = token
        self.sink = sink
        let begun = percentage.map { min(max($0, 0), 100) }
        // Later reports never go below where `begin` started (a job joined at 97% stays at 97% or more).
        state.withLock { $0.lastPercentage = begun ?? 0 }
        sink.send(
            ProgressNotification<WorkDoneProgressValue>.self,
            ProgressParams(
                token: token,
                value: WorkDoneProgressValue.begin(title: title, cancellable: cancellable, message: message, percentage: begun)))
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
        sink.send(
            ProgressNotification<WorkDoneProgressValue>.self,
            ProgressParams(
                token: token, value: WorkDoneProgressValue.report(message: message, percentage: value, details: details)))
    }

    /// Sends `end`, once.
    public func end(message: String? = nil, details: [String: JSONValue] = [:]) {
        let first = state.withLock { state -> Bool in
            defer { state.ended = true }
            return !state.ended
        }
        guard first else { return }
        sink.send(
            ProgressNotification<WorkDoneProgressValue>.self,
            ProgressParams(token: token, value: WorkDoneProgressValue.end(message: message, details: details)))
    }
}
