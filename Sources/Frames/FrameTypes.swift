import Media

/// How a picture is delivered: its size, format and JPEG quality. Requests and preloading of the same shape
/// share cached images.
public struct FrameShape: Sendable, Hashable {
    /// Requested sides (nil: from the display aspect ratio, or the display size when both are nil).
    public var width: Int?
    public var height: Int?
    public var format: ImageFormat
    /// JPEG quality 1…100 (ignored for PNG and RGBA).
    public var quality: Int

    public static let defaultQuality = 85
    /// The largest side accepted (8K and a margin).
    public static let maxSide = 16_384

    public init(width: Int? = nil, height: Int? = nil, format: ImageFormat = .jpeg, quality: Int = FrameShape.defaultQuality) {
        self.width = width
        self.height = height
        self.format = format
        self.quality = format == .jpeg ? quality : 0
    }
}

/// A request for the picture shown at a time in a file.
public struct FrameRequest: Sendable {
    /// The file to read (the source, or its proxy: the caller chooses).
    public var path: String
    /// Seconds on the file's timeline (0 is the start of its media).
    public var time: Double
    public var shape: FrameShape
    /// The picture shown at `time` (true), or the keyframe at or before it, faster (false).
    public var accurate: Bool

    public init(path: String, time: Double, shape: FrameShape, accurate: Bool = true) {
        self.path = path
        self.time = time
        self.shape = shape
        self.accurate = accurate
    }
}

/// An encoded picture.
public struct FrameImage: Sendable {
    /// Presentation time of the picture (seconds on the file's timeline).
    public var time: Double
    public var width: Int
    public var height: Int
    public var format: ImageFormat
    public var bytes: [UInt8]
    /// Whether it came from the frame cache (no decoding).
    public var fromCache: Bool
    public let key: FrameKey
}

/// Requests that cannot be answered as asked.
public enum FrameError: Error, Sendable, Equatable, CustomStringConvertible {
    case timeOutOfRange(time: Double, duration: Double)
    case badSize(String)
    case badQuality(Int)

    public var description: String {
        switch self {
        case .timeOutOfRange(let time, let duration):
            return "time \(time) s is outside the video (0 to \((duration * 1000).rounded() / 1000) s)"
        case .badSize(let reason): return reason
        case .badQuality(let quality): return "quality must be between 1 and 100, not \(quality)"
        }
    }
}

/// Counters and sizes of the frame cache and decoders, for `stats`.
public struct FrameCacheStats: Sendable, Equatable {
    public var entries: Int
    public var sizeBytes: Int
    public var limitBytes: Int
    public var hits: Int
    public var misses: Int
    public var evictions: Int
    public var preloaded: Int
    public var warmDecoders: Int
}

/// What this process delivered as files: the frame cache directory, and the files and bytes of its folder there.
public struct FrameFileUsage: Sendable, Equatable {
    public var directory: String
    public var files: Int
    public var bytes: Int64

    public init(directory: String, files: Int, bytes: Int64) {
        self.directory = directory
        self.files = files
        self.bytes = bytes
    }
}
