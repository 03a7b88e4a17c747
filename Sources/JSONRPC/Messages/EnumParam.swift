/// A parameter whose value is one of a fixed set of strings. Conforming enums decode with an error that names the
/// accepted values (`parameter 'channels' is invalid: expected one of "mixed", "all", not "left"`) instead of
/// Swift's generic one.
///
/// The params decoder decodes every conforming type this way, also one whose `Decodable` conformance was declared
/// elsewhere (a service's enum that is stored with its raw value too, made a parameter by a retroactive
/// `extension ProxyQuality: EnumParam {}`).
public protocol EnumParam: RawRepresentable, CaseIterable, Decodable where RawValue == String {}

extension EnumParam {
    public init(from decoder: Decoder) throws {
        self = try Self.decodeParam(from: decoder)
    }

    static func decodeParam(from decoder: Decoder) throws -> Self {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: name) else {
            let accepted = Self.allCases.map { $0.rawValue.debugDescription }.joined(separator: ", ")
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "expected one of \(accepted), not \(name.debugDescription)"))
        }
        return value
    }
}
