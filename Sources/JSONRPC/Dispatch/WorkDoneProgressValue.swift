/// The `value` of a `$/progress` notification for work-done progress (LSP `WorkDoneProgressBegin/Report/End`).
public enum WorkDoneProgressValue: Sendable, Equatable, Encodable {
    case begin(title: String, cancellable: Bool, message: String? = nil, percentage: Int? = nil)
    case report(message: String? = nil, percentage: Int? = nil, cancellable: Bool? = nil, details: [String: JSONValue] = [:])
    case end(message: String? = nil, details: [String: JSONValue] = [:])

    private struct CodingKeys: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
        static let kind = CodingKeys(stringValue: "kind")
        static let title = CodingKeys(stringValue: "title")
        static let cancellable = CodingKeys(stringValue: "cancellable")
        static let message = CodingKeys(stringValue: "message")
        static let percentage = CodingKeys(stringValue: "percentage")
    }

    /// Server-specific members (for example `framesPerSecond`) travel beside LSP's; LSP clients ignore them.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .begin(let title, let cancellable, let message, let percentage):
            try container.encode("begin", forKey: .kind)
            try container.encode(title, forKey: .title)
            try container.encode(cancellable, forKey: .cancellable)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(percentage, forKey: .percentage)
        case .report(let message, let percentage, let cancellable, let details):
            for (key, value) in details { try container.encode(value, forKey: CodingKeys(stringValue: key)) }
            try container.encode("report", forKey: .kind)
            try container.encodeIfPresent(cancellable, forKey: .cancellable)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encodeIfPresent(percentage, forKey: .percentage)
        case .end(let message, let details):
            for (key, value) in details { try container.encode(value, forKey: CodingKeys(stringValue: key)) }
            try container.encode("end", forKey: .kind)
            try container.encodeIfPresent(message, forKey: .message)
        }
    }
}
