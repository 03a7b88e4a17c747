import Foundation

/// A value whose JSON text is built without `JSONEncoder`, for hot paths (waveform windows: thousands of numbers
/// per message). Results, notification params and partial results that conform go out as `json` says.
public protocol PreEncodedJSON: Sendable {
    /// One valid JSON value, object keys sorted like everything the server writes.
    var json: Data { get }
}

/// JSON text the caller made itself.
public struct EncodedJSON: Encodable, PreEncodedJSON {
    public let json: Data

    public init(_ json: Data) {
        self.json = json
    }

    /// Inside another `Encodable` (not a fast path): parsed back and encoded as a `JSONValue`.
    public func encode(to encoder: Encoder) throws {
        try JSONParser.parse(json).encode(to: encoder)
    }
}

extension ProgressParams: PreEncodedJSON where Value == EncodedJSON {
    /// `{"token":…,"value":…}` around the pre-encoded value.
    public var json: Data {
        let encoder = JSONEncoder()
        var params = Data(#"{"token":"#.utf8)
        params.append((try? encoder.encode(token)) ?? Data("null".utf8))
        params.append(Data(#","value":"#.utf8))
        params.append(value.json)
        params.append(UInt8(ascii: "}"))
        return params
    }
}
