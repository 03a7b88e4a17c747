import Foundation

/// The methods and notifications a server answers, with their typed handlers.
///
/// Built once before serving and immutable afterwards (the dispatcher copies it), so lookups need no lock.
/// Typed registration decodes `params` into the handler's type and turns decoding failures into -32602
/// errors that name the field.
public struct MethodTable: Sendable {
    /// A request handler over raw params; returns the encoded result.
    public typealias RequestHandler = @Sendable (JSONValue?, RequestContext) async throws -> Data
    /// A notification handler over raw params. Runs on the reader, in arrival order: keep it quick.
    public typealias NotificationHandler = @Sendable (JSONValue?) throws -> Void

    var requests: [String: RequestHandler] = [:]
    var notifications: [String: NotificationHandler] = [:]

    public init() {}

    /// Names of the registered request methods, sorted.
    public var requestMethods: [String] { requests.keys.sorted() }
    /// Names of the registered notifications, sorted.
    public var notificationMethods: [String] { notifications.keys.sorted() }

    /// Registers the handler of a request: it gets the request decoded from the message's params.
    public mutating func register<Request: RequestType>(
        _ request: Request.Type,
        _ handler: @escaping @Sendable (Request, RequestContext) async throws -> Request.Response
    ) {
        requests[Request.method] = { raw, context in
            let request = try ParamsDecoder.decode(Request.self, from: raw)
            let result = try await handler(request, context)
            return try ParamsDecoder.encodeResult(result)
        }
    }

    /// Registers the handler of a notification the client sends.
    public mutating func register<Notification: NotificationType>(
        _ notification: Notification.Type, _ handler: @escaping @Sendable (Notification.Params) -> Void
    ) where Notification.Params: Decodable {
        notifications[Notification.method] = { raw in handler(try ParamsDecoder.decode(Notification.Params.self, from: raw)) }
    }
}

/// Decodes params and encodes results, translating Swift's decoding errors into -32602 messages that name the
/// offending field (`params.quality: expected one of Draft, Preview, High`).
enum ParamsDecoder {
    static func decode<Params: Decodable>(_ type: Params.Type, from raw: JSONValue?) throws -> Params {
        if let ignored = Params.self as? any ParamsIgnored.Type {  // Whatever was sent is ignored.
            return ignored.init() as! Params
        }
        let value: JSONValue
        switch raw {
        case nil, .null?: value = .object([:])
        case .object?: value = raw!
        case let other?:
            throw ResponseError.invalidParams("params must be an object, not \(other.typeName)")
        }
        do {
            return try JSONValueDecoding.decode(Params.self, from: value)
        } catch let error as DecodingError {
            throw ResponseError.invalidParams(describe(error))
        } catch let error as ResponseErrorConvertible {
            throw error
        } catch {
            throw ResponseError.invalidParams("invalid params: \(error)")
        }
    }

    static func encodeResult<Result: Encodable>(_ result: Result) throws -> Data {
        if let encoded = result as? any PreEncodedJSON { return encoded.json }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
            return try encoder.encode(result)
        } catch {
            throw ResponseError.internalError("the result could not be encoded: \(error)")
        }
    }

    static func fieldPath(_ path: [CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context):
            return "missing required parameter '\(fieldPath(context.codingPath + [key]))'"
        case .valueNotFound(_, let context):
            return "parameter '\(fieldPath(context.codingPath))' must not be null"
        case .typeMismatch(let type, let context):
            return "parameter '\(fieldPath(context.codingPath))' has the wrong type: expected \(jsonTypeName(type))"
        case .dataCorrupted(let context):
            let field = fieldPath(context.codingPath)
            return field.isEmpty
                ? "invalid params: \(context.debugDescription)"
                : "parameter '\(field)' is invalid: \(context.debugDescription)"
        @unknown default:
            return "invalid params: \(error)"
        }
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "string"
        case is Bool.Type: return "boolean"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type: return "integer"
        case is Double.Type, is Float.Type: return "number"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "array" }
            if name.hasPrefix("Dictionary") { return "object" }
            return name
        }
    }
}
