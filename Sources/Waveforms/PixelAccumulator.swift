import Media

/// Turns decoded samples into pixels of `samplesPerPixel` samples: per series (mixed, then each channel) the
/// minimum, maximum and RMS, quantised to 16 bits as `WaveformPyramid` stores them.
///
/// Used for a stream's level 0 (256 samples per pixel, from sample 0, the whole stream) and for windows decoded
/// directly at any resolution (a cold cache's visible range, zooms finer than level 0, exports). Memory is the
/// pixels only: samples are consumed chunk by chunk.
struct PixelAccumulator {
    let samplesPerPixel: Int
    let channelCount: Int
    /// Pixel 0 starts at this sample; earlier samples are ignored.
    let originSample: Int64
    /// Stop after this many pixels (nil: until the stream ends).
    let pixelLimit: Int?
    private(set) var output: [WaveformPyramid.Series]

    private var inPixel = 0
    private var mins: [Float]
    private var maxs: [Float]
    private var squares: [Double]
    private var seriesCount: Int { channelCount > 1 ? channelCount + 1 : 1 }

    init(samplesPerPixel: Int, channelCount: Int, originSample: Int64 = 0, pixelLimit: Int? = nil, expectedPixels: Int = 0) {
        precondition(samplesPerPixel > 0 && channelCount > 0)
        self.samplesPerPixel = samplesPerPixel
        self.channelCount = channelCount
        self.originSample = originSample
        self.pixelLimit = pixelLimit
        let series = channelCount > 1 ? channelCount + 1 : 1
        var empty = WaveformPyramid.Series()
        empty.min.reserveCapacity(expectedPixels)
        empty.max.reserveCapacity(expectedPixels)
        empty.rms.reserveCapacity(expectedPixels)
        output = Array(repeating: empty, count: series)
        mins = Array(repeating: .infinity, count: series)
        maxs = Array(repeating: -.infinity, count: series)
        squares = Array(repeating: 0, count: series)
    }

    var pixelCount: Int { output[0].min.count }
    var isFull: Bool { pixelLimit.map { pixelCount >= $0 } ?? false }

    /// Adds a chunk (chunks must come in order, without gaps). Returns false once the pixel limit is reached.
    mutating func add(_ chunk: AudioChunk) -> Bool {
        guard !isFull else { return false }
        precondition(chunk.channels.count == channelCount)
        var offset = 0
        if chunk.firstSample < originSample {
            offset = Int(min(originSample - chunk.firstSample, Int64(chunk.frameCount)))
        }
        while offset < chunk.frameCount && !isFull {
            let length = min(samplesPerPixel - inPixel, chunk.frameCount - offset)
            accumulate(chunk, from: offset, count: length)
            inPixel += length
            offset += length
            if inPixel == samplesPerPixel { closePixel() }
        }
        return !isFull
    }

    /// Closes the last, partial pixel (the stream ended inside it).
    mutating func finish() {
        if inPixel > 0 && !isFull { closePixel() }
    }

    private mutating func accumulate(_ chunk: AudioChunk, from offset: Int, count: Int) {
        let base = channelCount > 1 ? 1 : 0
        for channel in 0..<channelCount {
            guard let samples = chunk.channels[channel].baseAddress.map({ $0 + offset }) else { continue }
            var low = mins[base + channel], high = maxs[base + channel]
            var sum = 0.0
            var partial: Float = 0
            for index in 0..<count {
                let value = samples[index]
                low = Swift.min(low, value)
                high = Swift.max(high, value)
                partial += value * value
                if index & 255 == 255 {
                    sum += Double(partial)
                    partial = 0
                }
            }
            mins[base + channel] = low
            maxs[base + channel] = high
            squares[base + channel] += sum + Double(partial)
        }
        guard channelCount > 1 else { return }
        // The mixed view: channels averaged sample by sample.
        let scale = 1 / Float(channelCount)
        var low = mins[0], high = maxs[0]
        var sum = 0.0
        var partial: Float = 0
        if channelCount == 2, let left = chunk.channels[0].baseAddress, let right = chunk.channels[1].baseAddress {
            for index in offset..<(offset + count) {
                let value = (left[index] + right[index]) * 0.5
                low = Swift.min(low, value)
                high = Swift.max(high, value)
                partial += value * value
                if index & 255 == 255 {
                    sum += Double(partial)
                    partial = 0
                }
            }
        } else {
            let pointers = chunk.channels.map { $0.baseAddress! }
            for index in offset..<(offset + count) {
                var total: Float = 0
                for channel in 0..<channelCount { total += pointers[channel][index] }
                let value = total * scale
                low = Swift.min(low, value)
                high = Swift.max(high, value)
                partial += value * value
                if index & 255 == 255 {
                    sum += Double(partial)
                    partial = 0
                }
            }
        }
        mins[0] = low
        maxs[0] = high
        squares[0] += sum + Double(partial)
    }

    private mutating func closePixel() {
        for series in 0..<seriesCount {
            output[series].min.append(Self.peak(mins[series]))
            output[series].max.append(Self.peak(maxs[series]))
            let rms = (squares[series] / Double(inPixel)).squareRoot()
            output[series].rms.append(UInt16(min(max((rms * 65535).rounded(), 0), 65535)))
            mins[series] = .infinity
            maxs[series] = -.infinity
            squares[series] = 0
        }
        inPixel = 0
    }

    /// A peak as a 16-bit value: −1…1 → −32767…32767, clamped.
    static func peak(_ value: Float) -> Int16 {
        Int16(min(max((Double(value) * 32767).rounded(), -32767), 32767))
    }
}
