import Foundation

/// One JSON-RPC message received from the client, classified but with params still untyped.
public enum IncomingMessage: Sendable, Equatable {
    /// A call that expects a response carrying `id`.
    case request(id: RequestID, method: String, params: JSONValue?)
    /// A call without an id; never answered.
    case notification(method: String, params: JSONValue?)
    /// A response to a request the server sent (the server sends none today; such messages are logged and dropped).
    case response(id: RequestID?, result: JSONValue?, error: ResponseError?)
    /// A JSON value that is not a valid message; `id` is the request's id when one could be read,
    /// so the -32600 answer can carry it.
    case invalid(id: RequestID?, reason: String)

    /// Classifies one decoded JSON object (one element of a batch, or a whole body).
    public init(_ value: JSONValue) {
        guard case .object(let members) = value else {
            self = .invalid(id: nil, reason: "a message must be a JSON object, not \(value.typeName)")
            return
        }
        let rawId = members["id"]
        let id = rawId.flatMap(RequestID.init)
        guard members["jsonrpc"] == .string("2.0") else {
            self = .invalid(id: id, reason: "missing or wrong \"jsonrpc\" member: it must be \"2.0\"")
            return
        }
        if let methodValue = members["method"] {
            guard case .string(let method) = methodValue else {
                self = .invalid(id: id, reason: "\"method\" must be a string, not \(methodValue.typeName)")
                return
            }
            let params = members["params"]
            switch params {
            case nil, .object?, .array?:
                break
            case let other?:
                self = .invalid(id: id, reason: "\"params\" must be an object or an array, not \(other.typeName)")
                return
            }
            switch rawId {
            case nil:
                self = .notification(method: method, params: params)
            case let raw? where id == nil:
                self = .invalid(id: nil, reason: "\"id\" must be an integer or a string, not \(raw.typeName)")
            default:
                self = .request(id: id!, method: method, params: params)
            }
            return
        }
        if members["result"] != nil || members["error"] != nil {
            var error: ResponseError?
            if let errorValue = members["error"] {
                error = try? JSONValueDecoding.decode(ResponseError.self, from: errorValue)
            }
            self = .response(id: id, result: members["result"], error: error)
            return
        }
        self = .invalid(id: id, reason: "a message needs a \"method\" (request or notification) or a \"result\"/\"error\" (response)")
    }
}

/// Converts `JSONValue`s into typed `Decodable` values.
enum JSONValueDecoding {
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try JSONValueDecoder().decode(T.self, from: value)
    }
}
