import Foundation
import JSONRPC
import Proxies

/// A catalogue record as the protocol shows it (`ProxyRecord` in protocol/spec.md): the record's own `Codable`
/// members less the catalogue's bookkeeping, times in ISO 8601 with milliseconds, the progress to one decimal.
///
/// Derived from the record's encoding rather than a second list of its members: a member added to `ProxyRecord`
/// reaches the wire unless it is named in `catalogueOnly` (protocol/spec.md must then describe it).
struct ProxyRecordPayload: Encodable, Sendable {
    /// Members of the record that stay in the catalogue.
    static let catalogueOnly: Set<String> = ["id", "sourceModificationTime", "sourceEdgeHash", "ownerId", "pictureVersion"]

    var record: ProxyRecord

    init(_ record: ProxyRecord) {
        self.record = record
    }

    func encode(to encoder: Encoder) throws {
        var shown = record
        shown.progressPercent = (record.progressPercent * 10).rounded() / 10
        let recordEncoder = JSONEncoder()
        recordEncoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Self.timestamp(date))
        }
        guard case .object(var members) = try JSONParser.parse(recordEncoder.encode(shown)) else {
            throw EncodingError.invalidValue(record, .init(codingPath: encoder.codingPath, debugDescription: "a record encodes as an object"))
        }
        for name in Self.catalogueOnly { members[name] = nil }
        try JSONValue.object(members).encode(to: encoder)
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
