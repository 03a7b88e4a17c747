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
        if channelCount == 2, let left = chunk.channels[0].baseAddress, let right = chunk.channels[1].baseAddress {
            accumulateStereo(left + offset, right + offset, count: count)
            return
        }
        let base = channelCount > 1 ? 1 : 0
        for channel in 0..<channelCount {
            guard let samples = chunk.channels[channel].baseAddress.map({ $0 + offset }) else { continue }
            Self.summarise(samples, count: count, into: &mins[base + channel], &maxs[base + channel], &squares[base + channel])
        }
        guard channelCount > 1 else { return }
        // The mixed view: channels averaged sample by sample.
        let scale = 1 / Float(channelCount)
        let pointers = chunk.channels.map { $0.baseAddress! + offset }
        Self.summarise(count: count, into: &mins[0], &maxs[0], &squares[0]) { index in
            var total: Float = 0
            for channel in 0..<pointers.count { total += pointers[channel][index] }
            return total * scale
        }
    }

    /// Stereo, the common case: both channels and their mix in one pass, eight samples at a time.
    private mutating func accumulateStereo(_ left: UnsafePointer<Float>, _ right: UnsafePointer<Float>, count: Int) {
        typealias Lanes = SIMD8<Float>
        var lowL = Lanes(repeating: mins[1]), highL = Lanes(repeating: maxs[1]), squaresL = Lanes()
        var lowR = Lanes(repeating: mins[2]), highR = Lanes(repeating: maxs[2]), squaresR = Lanes()
        var lowM = Lanes(repeating: mins[0]), highM = Lanes(repeating: maxs[0]), squaresM = Lanes()
        var sumL = 0.0, sumR = 0.0, sumM = 0.0
        let vectors = count / 8
        let rawLeft = UnsafeRawPointer(left), rawRight = UnsafeRawPointer(right)
        var index = 0
        while index < vectors {
            let l = rawLeft.loadUnaligned(fromByteOffset: index * 32, as: Lanes.self)
            let r = rawRight.loadUnaligned(fromByteOffset: index * 32, as: Lanes.self)
            let m = (l + r) * 0.5
            // `replace(with:where:)` compiles to vector compare-and-select; `pointwiseMin` here did not inline.
            lowL.replace(with: l, where: l .< lowL)
            highL.replace(with: l, where: l .> highL)
            squaresL += l * l
            lowR.replace(with: r, where: r .< lowR)
            highR.replace(with: r, where: r .> highR)
            squaresR += r * r
            lowM.replace(with: m, where: m .< lowM)
            highM.replace(with: m, where: m .> highM)
            squaresM += m * m
            index += 1
            if index & 31 == 0 {  // Every 256 samples the float lanes go into doubles, so long pixels stay exact.
                sumL += Double(squaresL.sum())
                sumR += Double(squaresR.sum())
                sumM += Double(squaresM.sum())
                squaresL = Lanes()
                squaresR = Lanes()
                squaresM = Lanes()
            }
        }
        var minL = lowL.min(), maxL = highL.max(), minR = lowR.min(), maxR = highR.max(), minM = lowM.min(), maxM = highM.max()
        sumL += Double(squaresL.sum())
        sumR += Double(squaresR.sum())
        sumM += Double(squaresM.sum())
        for tail in (vectors * 8)..<count {
            let l = left[tail], r = right[tail], m = (l + r) * 0.5
            minL = Swift.min(minL, l)
            maxL = Swift.max(maxL, l)
            sumL += Double(l * l)
            minR = Swift.min(minR, r)
            maxR = Swift.max(maxR, r)
            sumR += Double(r * r)
            minM = Swift.min(minM, m)
            maxM = Swift.max(maxM, m)
            sumM += Double(m * m)
        }
        mins[1] = minL
        maxs[1] = maxL
        squares[1] += sumL
        mins[2] = minR
        maxs[2] = maxR
        squares[2] += sumR
        mins[0] = minM
        maxs[0] = maxM
        squares[0] += sumM
    }

    /// Min, max and sum of squares of `count` contiguous samples, eight at a time, folded into a pixel's.
    private static func summarise(
        _ samples: UnsafePointer<Float>, count: Int, into low: inout Float, _ high: inout Float,
        _ squares: inout Double
    ) {
        typealias Lanes = SIMD8<Float>
        var lows = Lanes(repeating: low), highs = Lanes(repeating: high), sums = Lanes()
        var sum = 0.0
        let vectors = count / 8
        let raw = UnsafeRawPointer(samples)
        var index = 0
        while index < vectors {
            let value = raw.loadUnaligned(fromByteOffset: index * 32, as: Lanes.self)
            lows.replace(with: value, where: value .< lows)
            highs.replace(with: value, where: value .> highs)
            sums += value * value
            index += 1
            if index & 31 == 0 {
                sum += Double(sums.sum())
                sums = Lanes()
            }
        }
        var minimum = lows.min(), maximum = highs.max()
        sum += Double(sums.sum())
        for tail in (vectors * 8)..<count {
            let value = samples[tail]
            minimum = Swift.min(minimum, value)
            maximum = Swift.max(maximum, value)
            sum += Double(value * value)
        }
        low = minimum
        high = maximum
        squares += sum
    }

    /// Min, max and sum of squares of `count` computed values (the mix of several channels), folded into a pixel's.
    @inline(__always)
    private static func summarise(
        count: Int, into low: inout Float, _ high: inout Float, _ squares: inout Double,
        _ value: (Int) -> Float
    ) {
        var minimum = low, maximum = high
        var sum = 0.0
        var partial: Float = 0
        for index in 0..<count {
            let sample = value(index)
            minimum = Swift.min(minimum, sample)
            maximum = Swift.max(maximum, sample)
            partial += sample * sample
            if index & 255 == 255 {
                sum += Double(partial)
                partial = 0
            }
        }
        low = minimum
        high = maximum
        squares += sum + Double(partial)
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
