import Foundation

/// Builds the messages the server sends (responses, errors, notifications) and hands each whole body to the
/// connection's `MessageOutput`.
///
/// Responses, `$/progress` and `window/logMessage` come from many tasks and threads at once; each call hands
/// over one whole message, so messages are never interleaved on the wire, and no caller ever blocks on the
/// client (back-pressure pauses the input reader instead: see `OutputQueue`).
public final class MessageWriter: NotificationSink {
    /// Where the messages go.
    public let output: any MessageOutput
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    public init(output: any MessageOutput) {
        self.output = output
    }

    /// Writes frames to `fileDescriptor` (normally a duplicate of the original stdout) through an `OutputQueue`;
    /// `onClose` is called once if the client stops taking them (a write fails: EPIPE).
    public convenience init(
        fileDescriptor: Int32, limits: OutputQueue.Limits = .standard,
        onClose: @escaping @Sendable (_ reason: String) -> Void = { _ in }
    ) {
        self.init(output: OutputQueue(fileDescriptor: fileDescriptor, limits: limits, onClose: onClose))
    }

    /// Whether the peer has gone (a write failed with EPIPE or similar); later writes are dropped.
    public var isClosed: Bool { output.isClosed }

    /// Queues one JSON body. Returns false when the peer is gone.
    @discardableResult
    public func write(body: Data) -> Bool {
        output.send(body: body)
    }

    /// Sends an error response.
    public func sendError(id: RequestID?, _ error: ResponseError) {
        write(body: errorResponseJSON(id: id, error))
    }

    /// The body of an error response (batches collect these before sending).
    public func errorResponseJSON(id: RequestID?, _ error: ResponseError) -> Data {
        var body = Data(#"{"jsonrpc":"2.0","id":"#.utf8)
        body.append(idJSON(id))
        body.append(Data(#","error":"#.utf8))
        body.append((try? encoder.encode(error)) ?? Data(#"{"code":-32603,"message":"unencodable error"}"#.utf8))
        body.append(UInt8(ascii: "}"))
        return body
    }

    /// The body of a successful response.
    public func resultResponseJSON(id: RequestID, resultJSON: Data) -> Data {
        var body = Data(#"{"jsonrpc":"2.0","id":"#.utf8)
        body.append(idJSON(id))
        body.append(Data(#","result":"#.utf8))
        body.append(resultJSON)
        body.append(UInt8(ascii: "}"))
        return body
    }

    /// Sends a notification. Params that conform to `PreEncodedJSON` go out as they are; a notification whose
    /// params cannot be encoded is dropped.
    public func send<Notification: NotificationType>(_ notification: Notification.Type, _ params: Notification.Params)
    where Notification.Params: Encodable {
        guard let paramsJSON = (params as? any PreEncodedJSON)?.json ?? (try? encoder.encode(params)),
            let methodJSON = try? encoder.encode(Notification.method)
        else { return }
        var body = Data(#"{"jsonrpc":"2.0","method":"#.utf8)
        body.append(methodJSON)
        body.append(Data(#","params":"#.utf8))
        body.append(paramsJSON)
        body.append(UInt8(ascii: "}"))
        write(body: body)
    }

    private func idJSON(_ id: RequestID?) -> Data {
        switch id {
        case nil: return Data("null".utf8)
        case .number(let number)?: return Data(String(number).utf8)
        case .string(let string)?: return (try? encoder.encode(string)) ?? Data("null".utf8)
        }
    }
}
