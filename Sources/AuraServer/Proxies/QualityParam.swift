import JSONRPC
import Proxies

/// A quality name in params: exactly "Draft", "Preview" or "High"; anything else is -32602 naming the field.
struct QualityParam: Decodable, Sendable {
    let preset: ProxyPreset

    init(_ preset: ProxyPreset) { self.preset = preset }

    init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let preset = ProxyPreset(rawValue: name) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "expected one of Draft, Preview, High, not \(name.debugDescription)"))
        }
        self.preset = preset
    }
}
