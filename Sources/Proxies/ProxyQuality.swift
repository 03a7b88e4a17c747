import GRDB

/// A proxy quality, the protocol's `quality` ("Draft", "Preview", "High"): a bounding box and a video bitrate (the
/// guide's three presets). Stored in the catalogue by its raw value.
///
/// The box is a bound, not an output size: the proxy keeps the source's display aspect ratio, is never
/// larger than the source, and a portrait source is fitted to the box turned upright (720x1280 for Preview).
public enum ProxyQuality: String, Sendable, CaseIterable, Codable, DatabaseValueConvertible {
    case draft = "Draft"
    case preview = "Preview"
    case high = "High"

    /// The quality used when a request names none.
    public static let `default` = ProxyQuality.preview

    /// Width of the bounding box (landscape orientation), in pixels.
    public var width: Int {
        switch self {
        case .draft: return 854
        case .preview: return 1280
        case .high: return 1920
        }
    }

    /// Height of the bounding box (landscape orientation), in pixels.
    public var height: Int {
        switch self {
        case .draft: return 480
        case .preview: return 720
        case .high: return 1080
        }
    }

    /// Target video bitrate, bits per second.
    public var videoBitRate: Int {
        switch self {
        case .draft: return 1_500_000
        case .preview: return 3_000_000
        case .high: return 5_000_000
        }
    }

    /// Audio bitrate of every proxy, bits per second (AAC stereo).
    public static let audioBitRate = 128_000
}

extension ProxyQuality: CustomStringConvertible {
    /// The name, as in the protocol and the catalogue.
    public var description: String { rawValue }
}
