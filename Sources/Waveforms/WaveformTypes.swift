import Locking

/// A request for waveform windows over a time range of one of a source's audio streams (the primary by default).
///
/// Times are seconds of the audio stream (0 = its first sample). Resolution is samples per pixel (or pixels per
/// second, turned into samples per pixel at the stream's rate). From 256 samples per pixel up, windows come from
/// the pyramid and the resolution is the nearest multiple of 256; below, they are decoded directly at exactly the
/// asked resolution. The answer says which resolution it used.
public struct WaveformRangeRequest: Sendable, Equatable {
    public enum Resolution: Sendable, Equatable {
        case samplesPerPixel(Int)
        case pixelsPerSecond(Double)
    }

    public enum Channels: String, Sendable, Equatable, CaseIterable {
        /// One series: the channels averaged sample by sample.
        case mixed
        /// One series per channel.
        case all
    }

    public var sourcePath: String
    public var startTime: Double
    public var endTime: Double
    public var resolution: Resolution
    public var channels: Channels
    /// The part the user sees: windows overlapping it come first, then the rest by distance from it.
    public var visibleStart: Double?
    public var visibleEnd: Double?
    /// Seconds of audio per window.
    public var windowSeconds: Double
    /// Which audio stream: its number among the source's audio streams (0, the primary, by default).
    public var audioStream: Int

    public static let defaultWindowSeconds = 10.0

    public init(
        sourcePath: String, startTime: Double, endTime: Double, resolution: Resolution, channels: Channels = .mixed,
        visibleStart: Double? = nil, visibleEnd: Double? = nil, windowSeconds: Double = defaultWindowSeconds,
        audioStream: Int = 0
    ) {
        self.audioStream = audioStream
        self.sourcePath = sourcePath
        self.startTime = startTime
        self.endTime = endTime
        self.resolution = resolution
        self.channels = channels
        self.visibleStart = visibleStart
        self.visibleEnd = visibleEnd
        self.windowSeconds = windowSeconds
    }
}

/// One window of a waveform answer: consecutive pixels of `samplesPerPixel` samples.
public struct WaveformWindow: Sendable, Equatable {
    /// Where the window starts and ends (seconds of the audio stream; the last window ends with the stream).
    public var startTime: Double
    public var endTime: Double
    /// Index of the window in time order (0 = the first of the range).
    public var index: Int
    public var samplesPerPixel: Int
    /// Per series (one for `mixed`, one per channel for `all`): min, max and RMS of each pixel, 16-bit.
    public var pixels: WaveformPixels
}

/// What a whole waveform answer covered.
public struct WaveformSummary: Sendable, Equatable {
    public var windowCount: Int
    public var sampleRate: Int
    /// Channels of the stream (the windows carry one series for `mixed`).
    public var channelCount: Int
    /// Seconds of audio in the stream.
    public var duration: Double
    /// Where the audio starts on the source's timeline (seconds; non-zero when it starts after the video).
    public var audioStartTime: Double
    /// Whether every window came from the persisted pyramid (no decoding for this request).
    public var fromCache: Bool
    /// The resolution used.
    public var samplesPerPixel: Int
    /// The range covered: the asked one, its start aligned to the resolution's grid, its end clamped to the stream.
    public var startTime: Double
    public var endTime: Double
}

/// Waveform requests the service refuses (the file-related ones are `MediaError`s).
public enum WaveformError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A parameter is out of range for this file; `field` names it.
    case invalidRange(field: String, reason: String)

    public var description: String {
        switch self {
        case .invalidRange(let field, let reason): return "parameter '\(field)' \(reason)"
        }
    }
}

/// The windows of one `WaveformService.windows(for:)` request, in priority order, as they are made.
///
/// One iteration per request. `summary` is set once the last window is out (nil before, and after a failure).
public struct WaveformWindows: AsyncSequence, Sendable {
    public typealias Element = WaveformWindow

    private let stream: AsyncThrowingStream<WaveformWindow, any Error>
    private let covered: Mutex<WaveformSummary?>

    init(stream: AsyncThrowingStream<WaveformWindow, any Error>, summary: Mutex<WaveformSummary?>) {
        self.stream = stream
        covered = summary
    }

    /// What the request covered: set when every window has been made.
    public var summary: WaveformSummary? { covered.withLock { $0 } }

    public func makeAsyncIterator() -> AsyncThrowingStream<WaveformWindow, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}
