/// A pair of path prefixes: a source's path on the machine that ordered its proxy, and the same folder on this one (as
/// Flamenco's path variables and Tdarr's path translation do). The content's fingerprint confirms that a mapped file
/// is the ordered one.
public struct PathMapping: Sendable, Codable, Equatable {
    public var from: String
    public var to: String

    public init(from: String, to: String) {
        self.from = from
        self.to = to
    }

    /// Parses `FROM=TO`.
    public init?(argument: String) {
        guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else { return nil }
        from = String(argument[..<equals])
        to = String(argument[argument.index(after: equals)...])
        guard !to.isEmpty else { return nil }
    }

    /// `path` with the first matching mapping's prefix replaced (a prefix matches whole folder names only); `path` when
    /// none matches.
    public static func apply(_ mappings: [PathMapping], to path: String) -> String {
        for mapping in mappings {
            let from = mapping.from.hasSuffix("/") ? String(mapping.from.dropLast()) : mapping.from
            let to = mapping.to.hasSuffix("/") ? String(mapping.to.dropLast()) : mapping.to
            if path == from { return to }
            if path.hasPrefix(from + "/") { return to + path.dropFirst(from.count) }
        }
        return path
    }
}
