/// The id of a JSON-RPC request: an integer or a string, echoed unchanged in its response.
///
/// JSON-RPC allows `null` too, but only for responses to messages whose id could not be read;
/// a request with a null id is refused as invalid (-32600), as LSP does.
public enum RequestID: Sendable, Hashable, Codable, CustomStringConvertible {
    case number(Int)
    case string(String)

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self) {
            self = .number(number)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let number): try container.encode(number)
        case .string(let string): try container.encode(string)
        }
    }

    /// The id read from a raw JSON value, or nil when the value is not a usable id.
    public init?(_ value: JSONValue) {
        switch value {
        case .int(let number): self = .number(number)
        case .string(let string): self = .string(string)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .number(let number): return String(number)
        case .string(let string): return "\"\(string)\""
        }
    }
}

/// A progress token (LSP `ProgressToken`): an integer or a string chosen by whoever will receive `$/progress`.
public typealias ProgressToken = RequestID
