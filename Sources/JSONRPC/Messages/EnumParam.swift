/// A parameter whose value is one of a fixed set of strings. Conforming enums decode with an error that names the
/// accepted values (`parameter 'channels' is invalid: expected one of "mixed", "all", not "left"`) instead of
/// Swift's generic one.
public protocol EnumParam: RawRepresentable, CaseIterable, Decodable where RawValue == String {}

extension EnumParam {
    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: name) else {
            let accepted = Self.allCases.map { $0.rawValue.debugDescription }.joined(separator: ", ")
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "expected one of \(accepted), not \(name.debugDescription)"))
        }
        self = value
    }
}
