import Foundation

/// Frames messages and hands them to the `OutputQueue`, which writes them to the client in order.
///
/// Responses, `$/progress` and `window/logMessage` come from many tasks and threads at once; each call hands
/// over one whole frame, so frames are never interleaved on the wire, and no caller ever blocks on the client
/// (back-pressure pauses the input reader instead: see `OutputQueue`).
public final class MessageWriter: Sendable {
    /// The frames on their way out.
    public let output: OutputQueue
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    /// - Parameter fileDescriptor: the protocol output (normally a duplicate of the original stdout).
    public init(fileDescriptor: Int32, limits: OutputQueue.Limits = .standard) {
        output = OutputQueue(fileDescriptor: fileDescriptor, limits: limits)
    }

    /// Whether the peer has gone (a write failed with EPIPE or similar); later writes are dropped.
    public var isClosed: Bool { output.isClosed }

    /// Frames and queues one JSON body. Returns false when the peer is gone.
    @discardableResult
    public func write(body: Data) -> Bool {
        output.enqueue(FrameEncoder.frame(body))
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

    /// Sends a notification (`$/progress`, `window/logMessage`, ...). Encoding failures are logged by the caller's
    /// choice of types; a notification that cannot be encoded is dropped.
    public func sendNotification<Params: Encodable>(_ method: String, _ params: Params) {
        guard let paramsJSON = (params as? EncodedJSON)?.data ?? (try? encoder.encode(params)),
              let methodJSON = try? encoder.encode(method) else { return }
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
