import Foundation

/// One JSON value whose text the caller made itself — for a hot path that `JSONEncoder` would slow down (waveform
/// windows: thousands of numbers per response). It goes out as it is wherever a result, notification params or a
/// partial result goes. The caller guarantees the text is one valid JSON value (with object keys sorted, like
/// everything the server writes).
public struct EncodedJSON: Encodable, Sendable {
    public let data: Data

    public init(_ data: Data) {
        self.data = data
    }

    /// Inside another `Encodable` (not a fast path): parsed back and encoded as a `JSONValue`.
    public func encode(to encoder: Encoder) throws {
        try JSONParser.parse(data).encode(to: encoder)
    }
}
