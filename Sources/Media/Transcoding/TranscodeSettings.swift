/// Whether to try GPU encoders before libx264.
public enum HardwareAcceleration: String, Sendable, Codable {
    /// Always libx264.
    case off
    /// Try h264_nvenc, h264_qsv, h264_vaapi in turn; fall back to libx264 and say why.
    case auto
}

/// What a transcoded copy (a proxy) should look like. Bit rates are bits per second.
///
/// Invariants the transcoder relies on: `videoBitRate > 0`; the GOP is at most `maxGOPSeconds` (default
/// 0.8 s) so any frame is reachable by decoding at most that much; `threads == 0` means one per core.
/// 0.8 s (20 frames at 25 fps) is the shortest GOP that keeps the Preview proxy above SSIM 0.985 on the
/// benchmark source (12 frames fell to 0.9831, 18 to 0.9847); it bounds cold scrubbing.
public struct TranscodeSettings: Sendable {
    public var target: TranscodeTarget
    public var videoBitRate: Int
    public var audioBitRate: Int
    public var maxGOPSeconds: Double
    public var hardwareAcceleration: HardwareAcceleration
    public var threads: Int

    public init(
        target: TranscodeTarget, videoBitRate: Int, audioBitRate: Int = 128_000, maxGOPSeconds: Double = 0.8,
        hardwareAcceleration: HardwareAcceleration = .off, threads: Int = 0
    ) {
        self.target = target
        self.videoBitRate = videoBitRate
        self.audioBitRate = audioBitRate
        self.maxGOPSeconds = maxGOPSeconds
        self.hardwareAcceleration = hardwareAcceleration
        self.threads = threads
    }
}

extension TranscodeSettings {
    /// Everything that decides what an encode of these settings makes, as text: the transcoder's version
    /// (`Transcoder.pictureVersion`), the size, bit rates, GOP, encoder choice and the x264 preset and parameters.
    /// Equal identities make parts that join into one proxy; a change to any of them makes another proxy.
    public var identity: String {
        let size: String
        switch target {
        case .box(let width, let height): size = "box\(width)x\(height)"
        case .scalePercent(let percent): size = "scale\(percent)"
        }
        return [
            "v\(Transcoder.pictureVersion)", size, "\(videoBitRate)", "\(audioBitRate)", "gop\(maxGOPSeconds)",
            hardwareAcceleration.rawValue, "x264:\(VideoEncoder.x264Preset):\(VideoEncoder.x264Parameters)",
        ].joined(separator: "|")
    }
}

/// A progress report from `Transcoder.run`.
///
/// `percent` is in 0...100 and never decreases within one run; `estimatedTotalFrames` and `etaSeconds`
/// are nil when the source does not state its duration.
public struct TranscodeProgress: Sendable {
    public var framesEncoded: Int64
    public var estimatedTotalFrames: Int64?
    public var percent: Double
    public var framesPerSecond: Double
    public var etaSeconds: Double?
    public var message: String
}

/// What a finished copy is. `frameRate` is the constant output rate; `durationSeconds` is
/// frameCount / frameRate (video) or the audio length if longer.
public struct TranscodeResult: Sendable {
    public var width: Int
    public var height: Int
    public var videoBitRate: Int
    /// The first audio track's bit rate (the source's primary audio stream); nil without audio.
    public var audioBitRate: Int?
    public var durationSeconds: Double
    public var hasAudio: Bool
    /// One per audio stream of the source, in order.
    public var audioTracks: [AudioTrack]
    /// Audio streams after the first that were left out because they cannot be decoded, each with the reason.
    public var skippedAudioStreams: [String]
    /// The encoder actually used, e.g. "libx264".
    public var videoEncoder: String
    /// Why hardware encoding was not used when `.auto` was requested; nil otherwise.
    public var hardwareFallbackReason: String?
    public var frameCount: Int64
    public var frameRate: Double
    /// Whether the source was HDR (PQ, HLG) and its pictures were tone-mapped to SDR.
    public var toneMapped: Bool
    /// Whether the source was interlaced and its pictures were deinterlaced.
    public var deinterlaced: Bool

    public init(
        width: Int, height: Int, videoBitRate: Int, audioBitRate: Int?, durationSeconds: Double, hasAudio: Bool,
        audioTracks: [AudioTrack], skippedAudioStreams: [String], videoEncoder: String, hardwareFallbackReason: String?,
        frameCount: Int64, frameRate: Double, toneMapped: Bool, deinterlaced: Bool
    ) {
        self.width = width
        self.height = height
        self.videoBitRate = videoBitRate
        self.audioBitRate = audioBitRate
        self.durationSeconds = durationSeconds
        self.hasAudio = hasAudio
        self.audioTracks = audioTracks
        self.skippedAudioStreams = skippedAudioStreams
        self.videoEncoder = videoEncoder
        self.hardwareFallbackReason = hardwareFallbackReason
        self.frameCount = frameCount
        self.frameRate = frameRate
        self.toneMapped = toneMapped
        self.deinterlaced = deinterlaced
    }

    /// An audio track of the proxy.
    public struct AudioTrack: Sendable, Equatable {
        public var channels: Int
        public var bitRate: Int

        public init(channels: Int, bitRate: Int) {
            self.channels = channels
            self.bitRate = bitRate
        }
    }
}
