/// What a request handler knows about the request it serves, and its channel back to the client.
///
/// Cancellation is the surrounding `Task`'s: `$/cancelRequest` cancels it, so handlers check
/// `Task.isCancelled` (or `try Task.checkCancellation()`) between units of work. The client has already been
/// answered -32800 by then; whatever the handler returns afterwards is dropped.
public struct RequestContext: Sendable {
    /// The request's id.
    public let id: RequestID
    /// The method called.
    public let method: String
    /// `params.workDoneToken`, when the client asked for work-done progress.
    public let workDoneToken: ProgressToken?
    /// `params.partialResultToken`, when the client asked for partial results.
    public let partialResultToken: ProgressToken?
    /// Sends notifications (`$/progress`, `window/logMessage`, server events) to the client.
    public let client: any NotificationSink

    public init(
        id: RequestID, method: String, workDoneToken: ProgressToken?, partialResultToken: ProgressToken?,
        client: any NotificationSink
    ) {
        self.id = id
        self.method = method
        self.workDoneToken = workDoneToken
        self.partialResultToken = partialResultToken
        self.client = client
    }

    /// Starts work-done progress on the request's token (sends `begin`); nil when the client gave no token.
    public func beginProgress(
        title: String, cancellable: Bool = true, message: String? = nil,
        percentage: Int? = nil
    ) -> WorkDoneProgress? {
        guard let workDoneToken else { return nil }
        return WorkDoneProgress(
            token: workDoneToken, sink: client, title: title, cancellable: cancellable,
            message: message, percentage: percentage)
    }

    /// Streams part of the result as `$/progress {token: partialResultToken, value}`.
    /// Returns false (and sends nothing) when the client gave no partial-result token.
    @discardableResult
    public func sendPartialResult<Value: Encodable & Sendable>(_ value: Value) -> Bool {
        guard let partialResultToken else { return false }
        // `EncodedJSON` values take the writer's pre-encoded path (`ProgressParams: PreEncodedJSON`).
        client.send(ProgressNotification<Value>.self, ProgressParams(token: partialResultToken, value: value))
        return true
    }
}

/// An error that knows its JSON-RPC form. Handlers may throw any error; those conforming to this protocol
/// are answered with their own code, others with -32603.
public protocol ResponseErrorConvertible: Error {
    var responseError: ResponseError { get }
}

extension ResponseError: ResponseErrorConvertible {
    public var responseError: ResponseError { self }
}
