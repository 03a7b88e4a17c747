import Foundation
import JSONRPC

/// The methods the protocol fuzzer dispatches to: one per shape of params the server's real methods use
/// (strings, numbers, flags, enums, arrays, nested objects, optional members, none at all), so that wrong types
/// reach every branch of the params decoder. Handlers answer at once, except `fuzz/slow`, which waits up to half a millisecond so
/// that cancellations and duplicate ids find requests still in flight.
enum FuzzMethods {
    enum Mode: String, EnumParam, Encodable, Sendable { case fast, accurate }

    struct Nested: Codable, Sendable {
        var start: Double
        var end: Double?
        var channels: [Int]?
    }

    struct Echo: RequestType, Codable {
        static let method = "fuzz/echo"
        typealias Response = Echo
        var path: String
        var count: Int?
        var ratio: Double?
        var flag: Bool?
        var mode: Mode?
        var tags: [String]?
        var range: Nested?
        var limit: Int64?
        var priority: Int8?
    }

    struct Slow: RequestType {
        static let method = "fuzz/slow"
        typealias Response = Bool
        var microseconds: Int?
    }

    struct Fail: RequestType, ParamsIgnored {
        static let method = "fuzz/fail"
        typealias Response = Bool
    }

    struct NoteParams: Decodable, Sendable {
        var value: Double
    }

    enum Note: NotificationType {
        static let method = "fuzz/note"
        typealias Params = NoteParams
    }

    static func table() -> MethodTable {
        var table = MethodTable()
        table.register(Echo.self) { params, _ in params }
        table.register(Slow.self) { params, _ in
            try await Task.sleep(for: .microseconds(min(max(params.microseconds ?? 100, 0), 500)))
            return true
        }
        table.register(Fail.self) { _, _ in throw ResponseError.internalError("fuzz/fail always fails") }
        table.register(Note.self) { _ in }
        return table
    }

    /// The request methods above, for generators.
    static let requestMethods = [Echo.method, Slow.method, Fail.method]
}
