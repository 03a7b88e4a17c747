import Foundation

/// How a waveform request is answered: the resolution actually used, the pixel grid, the windows, and the order
/// they are sent in.
struct WaveformPlan: Sendable {
    /// Facts about the stream the plan needs.
    struct Stream: Sendable {
        var sampleRate: Int
        var channelCount: Int
        /// Exact once analysed; the container's estimate before.
        var sampleCount: Int64
        var startSeconds: Double
    }

    /// At most this many pixels per request: a whole 3-hour file at 256 samples per pixel is about 2 million.
    static let maxPixels = 4_000_000
    /// Coarser than this many samples per pixel is not a waveform any more.
    static let maxSamplesPerPixel = 1 << 24

    let stream: Stream
    let samplesPerPixel: Int
    let originSample: Int64
    let endSample: Int64
    let pixelsPerWindow: Int
    let windowCount: Int
    /// Window indices in the order they are sent: those overlapping the visible range, then the rest by distance.
    let order: [Int]
    let visible: Set<Int>

    /// Served from the pyramid (a multiple of its 256-sample buckets), else decoded directly.
    var usesPyramid: Bool { samplesPerPixel % WaveformPyramid.baseBucketSamples == 0 }
    var totalPixels: Int { Int((endSample - originSample + Int64(samplesPerPixel) - 1) / Int64(samplesPerPixel)) }

    init(_ request: WaveformRangeRequest, stream: Stream) throws(WaveformError) {
        self.stream = stream
        let rate = Double(stream.sampleRate)
        let duration = Double(stream.sampleCount) / rate
        guard request.startTime >= 0 else { throw .invalidRange(field: "startTime", reason: "must not be negative") }
        guard request.endTime > request.startTime else {
            throw .invalidRange(field: "endTime", reason: "must be greater than 'startTime' (the range is empty or negative)")
        }
        guard request.startTime < duration else {
            throw .invalidRange(field: "startTime", reason: "is past the end of the audio (\(Self.seconds(duration)) s)")
        }
        let asked: Int
        switch request.resolution {
        case .samplesPerPixel(let value):
            guard value >= 1 && value <= Self.maxSamplesPerPixel else {
                throw .invalidRange(field: "samplesPerPixel", reason: "must be between 1 and \(Self.maxSamplesPerPixel)")
            }
            asked = value
        case .pixelsPerSecond(let value):
            guard value > 0 && value.isFinite && value <= rate else {
                throw .invalidRange(field: "pixelsPerSecond", reason: "must be more than 0 and at most the sample rate (\(stream.sampleRate))")
            }
            asked = max(1, Int((rate / value).rounded()))
            guard asked <= Self.maxSamplesPerPixel else {
                throw .invalidRange(field: "pixelsPerSecond", reason: "is too small: a pixel would hold more than \(Self.maxSamplesPerPixel) samples")
            }
        }
        let base = WaveformPyramid.baseBucketSamples
        samplesPerPixel = asked < base ? asked : max(base, Int((Double(asked) / Double(base)).rounded()) * base)
        var origin = Int64((request.startTime * rate).rounded(.down))
        if samplesPerPixel % base == 0 { origin -= origin % Int64(base) }
        originSample = origin
        endSample = min(stream.sampleCount, Int64((request.endTime * rate).rounded(.up)))
        let total = Int((endSample - originSample + Int64(samplesPerPixel) - 1) / Int64(samplesPerPixel))
        guard total <= Self.maxPixels else {
            throw .invalidRange(
                field: request.resolution.field,
                reason: "asks for \(total) pixels; at most \(Self.maxPixels) fit in one request (zoom out or shorten the range)")
        }
        pixelsPerWindow = max(1, Int((request.windowSeconds * rate / Double(samplesPerPixel)).rounded()))
        windowCount = max(1, (total + pixelsPerWindow - 1) / pixelsPerWindow)

        var visibleStart = request.visibleStart, visibleEnd = request.visibleEnd
        if visibleStart == nil && visibleEnd == nil {
            order = Array(0..<windowCount)
            visible = []
            return
        }
        visibleStart = visibleStart ?? visibleEnd
        visibleEnd = visibleEnd ?? visibleStart
        guard visibleEnd! >= visibleStart! else {
            throw .invalidRange(field: "visibleEnd", reason: "must not be before 'visibleStart'")
        }
        let lower = visibleStart! * rate, upper = visibleEnd! * rate
        var ranked: [(index: Int, hidden: Int, distance: Double, start: Double)] = []
        var overlapping = Set<Int>()
        for index in 0..<windowCount {
            let (start, count) = Self.bounds(
                window: index, origin: originSample, samplesPerPixel: samplesPerPixel,
                pixelsPerWindow: pixelsPerWindow, totalPixels: total)
            let first = Double(start), last = Double(start + Int64(count * samplesPerPixel))
            // A window [first, last) is visible when it shares time with the visible range; one that only touches
            // the range at its edge shows no pixel of it. A range of one instant shows the window holding it (the
            // last window also holds its own end).
            let shown =
                upper > lower
                ? first < upper && last > lower
                : first <= lower && (lower < last || (index == windowCount - 1 && lower == last))
            if shown { overlapping.insert(index) }
            let distance = shown ? 0 : (first >= upper ? first - upper : max(0, lower - last))
            ranked.append((index, shown ? 0 : 1, distance, first))
        }
        order = ranked.sorted { ($0.hidden, $0.distance, $0.start) < ($1.hidden, $1.distance, $1.start) }.map(\.index)
        visible = overlapping
    }

    /// Window `index`: its first sample and its pixel count.
    func window(_ index: Int) -> (startSample: Int64, pixelCount: Int) {
        Self.bounds(
            window: index, origin: originSample, samplesPerPixel: samplesPerPixel, pixelsPerWindow: pixelsPerWindow,
            totalPixels: totalPixels)
    }

    private static func bounds(
        window index: Int, origin: Int64, samplesPerPixel: Int, pixelsPerWindow: Int,
        totalPixels: Int
    ) -> (Int64, Int) {
        let first = index * pixelsPerWindow
        return (origin + Int64(first) * Int64(samplesPerPixel), max(0, min(pixelsPerWindow, totalPixels - first)))
    }

    /// The series a request wants: the mixed one, or each channel.
    func series(for channels: WaveformRangeRequest.Channels) -> [Int] {
        switch channels {
        case .mixed: return [0]
        case .all: return stream.channelCount > 1 ? Array(1...stream.channelCount) : [0]
        }
    }

    /// The window as sent: times from its samples (the last one ends with the stream).
    func makeWindow(_ index: Int, pixels: WaveformPixels) -> WaveformWindow {
        let (start, _) = window(index)
        let rate = Double(stream.sampleRate)
        let end = min(start + Int64(pixels.pixelCount * samplesPerPixel), endSample, stream.sampleCount)
        return WaveformWindow(
            startTime: Double(start) / rate, endTime: Double(max(end, start)) / rate, index: index,
            samplesPerPixel: samplesPerPixel, pixels: pixels)
    }

    private static func seconds(_ value: Double) -> String { String(format: "%.3f", value) }
}

extension WaveformRangeRequest.Resolution {
    /// The parameter that set it, for error messages.
    var field: String {
        switch self {
        case .samplesPerPixel: return "samplesPerPixel"
        case .pixelsPerSecond: return "pixelsPerSecond"
        }
    }
}
