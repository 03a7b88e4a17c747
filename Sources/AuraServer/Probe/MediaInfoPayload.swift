import Foundation
import JSONRPC
import Media

/// `MediaInfo` as the protocol shows it (§7.1): the probe's own `Codable` members, plus `hdr: null` on every video
/// stream that is SDR, so a client reads `hdr` as `"pq" | "hlg" | null` on each video stream.
struct MediaInfoPayload: Encodable, Sendable {
    var info: MediaInfo

    init(_ info: MediaInfo) {
        self.info = info
    }

    func encode(to encoder: Encoder) throws {
        guard case .object(var members) = try JSONParser.parse(JSONEncoder().encode(info)),
            case .array(let streams) = members["streams"]
        else {
            throw EncodingError.invalidValue(info, .init(codingPath: encoder.codingPath, debugDescription: "MediaInfo encodes as an object"))
        }
        members["streams"] = .array(
            streams.map { stream in
                guard case .object(var fields) = stream, fields["type"] == .string("video"), fields["hdr"] == nil else { return stream }
                fields["hdr"] = .null
                return .object(fields)
            })
        try JSONValue.object(members).encode(to: encoder)
    }
}
