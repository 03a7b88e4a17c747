/// What `MediaProbe` found in a file: container-level facts plus one `StreamInfo` per stream.
///
/// Invariants: `streams` is in container order and `streams[i].index == i`; optional fields are `nil`
/// when the container does not say (never a made-up 0); `sizeBytes` is the size on disk.
public struct MediaInfo: Sendable, Equatable, Codable {
    /// libav's short demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm".
    public var formatName: String
    public var formatLongName: String?
    public var durationSeconds: Double?
    public var startTimeSeconds: Double?
    public var sizeBytes: Int64
    /// Overall bit rate in bits per second.
    public var bitRate: Int64?
    public var streams: [StreamInfo]

    public init(
        formatName: String, formatLongName: String?, durationSeconds: Double?, startTimeSeconds: Double?,
        sizeBytes: Int64, bitRate: Int64?, streams: [StreamInfo]
    ) {
        self.formatName = formatName
        self.formatLongName = formatLongName
        self.durationSeconds = durationSeconds
        self.startTimeSeconds = startTimeSeconds
        self.sizeBytes = sizeBytes
        self.bitRate = bitRate
        self.streams = streams
    }

    /// The first video stream that is real video (not cover art), if any.
    public var primaryVideoStream: StreamInfo? { streams.first { $0.type == "video" && !$0.isAttachedPicture } }
    /// The first audio stream, if any (`audioStream` 0).
    public var primaryAudioStream: StreamInfo? { streams.first { $0.type == "audio" } }
    /// The audio streams in container order: `audioStreams[n].audioStream == n`.
    public var audioStreams: [StreamInfo] { streams.filter { $0.type == "audio" } }
}

/// One stream of a media file as `MediaProbe` reports it.
///
/// Conventions: `type` is one of "video", "audio", "subtitle", "data", "attachment", "unknown";
/// `rotation` is the **clockwise** rotation in degrees (0, 90, 180 or 270) a player applies to show the
/// picture upright — the opposite sign of `av_display_rotation_get`, which is counter-clockwise — and `nil`
/// when the stream has no display matrix. `sampleAspectRatio` is "num:den" ("1:1" for square pixels), `nil`
/// when unspecified. Colour fields are libav's names ("bt709", "tv"…), `nil` when unspecified.
public struct StreamInfo: Sendable, Equatable, Codable {
    public var index: Int
    public var type: String
    public var codec: String
    public var codecLongName: String?
    public var profile: String?
    public var width: Int?
    public var height: Int?
    public var sampleAspectRatio: String?
    public var pixelFormat: String?
    /// avg_frame_rate, else r_frame_rate.
    public var frameRate: Double?
    public var rotation: Double?
    public var sampleRate: Int?
    public var channels: Int?
    /// e.g. "stereo", "5.1(side)".
    public var channelLayout: String?
    public var bitRate: Int64?
    public var durationSeconds: Double?
    public var frameCount: Int64?
    /// Cover art carried as a one-frame "video" stream (mp3/m4a artwork).
    public var isAttachedPicture: Bool
    public var colorPrimaries: String?
    public var colorTransfer: String?
    public var colorSpace: String?
    public var colorRange: String?
    /// Video: the HDR transfer (PQ or HLG), nil for SDR.
    public var hdr: HDRTransfer?
    /// Audio: this stream's number among the file's audio streams (0 is the primary), the `audioStream` that
    /// waveform requests name.
    public var audioStream: Int?
    /// The stream's language (ISO 639-2, e.g. "eng"), nil when untagged or "und".
    public var language: String?
    /// The stream's title ("Boom", "Lav 1"), nil when untagged.
    public var title: String?

    public init(
        index: Int, type: String, codec: String, codecLongName: String? = nil, profile: String? = nil,
        width: Int? = nil, height: Int? = nil, sampleAspectRatio: String? = nil, pixelFormat: String? = nil,
        frameRate: Double? = nil, rotation: Double? = nil, sampleRate: Int? = nil, channels: Int? = nil,
        channelLayout: String? = nil, bitRate: Int64? = nil, durationSeconds: Double? = nil,
        frameCount: Int64? = nil, isAttachedPicture: Bool = false, colorPrimaries: String? = nil,
        colorTransfer: String? = nil, colorSpace: String? = nil, colorRange: String? = nil
    ) {
        self.index = index
        self.type = type
        self.codec = codec
        self.codecLongName = codecLongName
        self.profile = profile
        self.width = width
        self.height = height
        self.sampleAspectRatio = sampleAspectRatio
        self.pixelFormat = pixelFormat
        self.frameRate = frameRate
        self.rotation = rotation
        self.sampleRate = sampleRate
        self.channels = channels
        self.channelLayout = channelLayout
        self.bitRate = bitRate
        self.durationSeconds = durationSeconds
        self.frameCount = frameCount
        self.isAttachedPicture = isAttachedPicture
        self.colorPrimaries = colorPrimaries
        self.colorTransfer = colorTransfer
        self.colorSpace = colorSpace
        self.colorRange = colorRange
    }
}

extension StreamInfo {
    /// The picture a player shows for this (video) stream: coded size, sample aspect ratio and rotation; nil without a
    /// size.
    public var displayGeometry: DisplayGeometry? {
        guard let width, let height, width > 0, height > 0 else { return nil }
        let ratio = sampleAspectRatio?.split(separator: ":").compactMap { Int($0) }
        return DisplayGeometry(
            codedWidth: width, codedHeight: height,
            sampleAspectRatio: ratio?.count == 2 ? (ratio![0], ratio![1]) : nil,
            clockwiseRotation: Int(rotation ?? 0))
    }
}
