/// Peaks and loudness of one audio stream at every zoom level: a pyramid.
///
/// Level 0 keeps, per bucket of `baseBucketSamples` (256) samples, the minimum, the maximum and the RMS of each
/// series; level k+1 halves level k (min of mins, max of maxes, RMS from the summed squares), up to a level of one
/// bucket. Every zoom level is therefore served without decoding again. Series 0 is the "mixed" view (the channels
/// averaged sample by sample); series 1…n are the channels, when there are two or more (a mono stream has only
/// series 0, which is both).
///
/// Values are 16-bit: peaks as `Int16` (−32767…32767 for −1…1, clamped where a lossy decode overshoots), RMS as
/// `UInt16` (0…65535 for 0…1). A 3-hour stereo 48 kHz stream holds about 75 MB in all levels.
public struct WaveformPyramid: Sendable, Equatable {
    /// Samples per bucket at level 0.
    public static let baseBucketSamples = 256

    public struct Series: Sendable, Equatable {
        public var min: [Int16]
        public var max: [Int16]
        public var rms: [UInt16]

        public init(min: [Int16] = [], max: [Int16] = [], rms: [UInt16] = []) {
            self.min = min
            self.max = max
            self.rms = rms
        }
    }

    public struct Level: Sendable, Equatable {
        /// Samples per bucket: `baseBucketSamples << index`.
        public var bucketSamples: Int
        /// One entry per series.
        public var series: [Series]
        public var bucketCount: Int { series.first?.min.count ?? 0 }
    }

    public var sampleRate: Int
    public var channelCount: Int
    /// Samples per channel in the stream.
    public var sampleCount: Int64
    /// Where the audio starts on the source's timeline (seconds).
    public var startSeconds: Double
    public var levels: [Level]

    /// 1 for mono, channels + 1 (mixed first) otherwise.
    public var seriesCount: Int { channelCount > 1 ? channelCount + 1 : 1 }
    public var durationSeconds: Double { Double(sampleCount) / Double(sampleRate) }

    /// Builds every coarser level from level 0.
    public init(sampleRate: Int, channelCount: Int, sampleCount: Int64, startSeconds: Double, base: [Series]) {
        self.sampleRate = sampleRate
        self.channelCount = channelCount
        self.sampleCount = sampleCount
        self.startSeconds = startSeconds
        levels = [Level(bucketSamples: Self.baseBucketSamples, series: base)]
        while let last = levels.last, last.bucketCount > 1 {
            levels.append(Self.halve(last, sampleCount: sampleCount))
        }
    }

    /// A pyramid read back from storage, levels as they were.
    init(sampleRate: Int, channelCount: Int, sampleCount: Int64, startSeconds: Double, levels: [Level]) {
        self.sampleRate = sampleRate
        self.channelCount = channelCount
        self.sampleCount = sampleCount
        self.startSeconds = startSeconds
        self.levels = levels
    }

    /// Bytes the levels hold.
    public var byteCount: Int {
        levels.reduce(0) { $0 + $1.bucketCount * 6 * $1.series.count }
    }

    /// Samples bucket `index` of a level of `bucketSamples` covers (the last one may be short).
    static func samples(inBucket index: Int, of bucketSamples: Int, sampleCount: Int64) -> Int {
        Int(min(Int64(bucketSamples), sampleCount - Int64(index) * Int64(bucketSamples)))
    }

    private static func halve(_ level: Level, sampleCount: Int64) -> Level {
        let count = (level.bucketCount + 1) / 2
        let series = level.series.map { source -> Series in
            var merged = Series(
                min: .init(repeating: 0, count: count), max: .init(repeating: 0, count: count),
                rms: .init(repeating: 0, count: count))
            for index in 0..<count {
                let left = 2 * index, right = left + 1
                if right < level.bucketCount {
                    merged.min[index] = Swift.min(source.min[left], source.min[right])
                    merged.max[index] = Swift.max(source.max[left], source.max[right])
                    let leftSamples = Double(samples(inBucket: left, of: level.bucketSamples, sampleCount: sampleCount))
                    let rightSamples = Double(samples(inBucket: right, of: level.bucketSamples, sampleCount: sampleCount))
                    let leftRMS = Double(source.rms[left]), rightRMS = Double(source.rms[right])
                    let meanSquare = (leftRMS * leftRMS * leftSamples + rightRMS * rightRMS * rightSamples) / (leftSamples + rightSamples)
                    merged.rms[index] = UInt16(Swift.min(meanSquare.squareRoot().rounded(), 65535))
                } else {
                    merged.min[index] = source.min[left]
                    merged.max[index] = source.max[left]
                    merged.rms[index] = source.rms[left]
                }
            }
            return merged
        }
        return Level(bucketSamples: level.bucketSamples * 2, series: series)
    }
}

/// Peaks and RMS of pixels of `samplesPerPixel` samples: the unit every waveform answer is made of.
public struct WaveformPixels: Sendable, Equatable {
    /// Per series: minimum, maximum and RMS of each pixel, as 16-bit values (see `WaveformPyramid`).
    public var series: [WaveformPyramid.Series]
    public var pixelCount: Int { series.first?.min.count ?? 0 }
}

extension WaveformPyramid {
    /// Pixels `firstPixel ..< firstPixel + count` of `samplesPerPixel` samples (a multiple of `baseBucketSamples`),
    /// counted from sample `originSample` (a multiple of `baseBucketSamples`), of the chosen series. Pixels past the
    /// end of the stream are left out; the last one may cover fewer samples.
    public func pixels(samplesPerPixel: Int, originSample: Int64, firstPixel: Int, count: Int, series chosen: [Int]) -> WaveformPixels {
        precondition(samplesPerPixel % Self.baseBucketSamples == 0 && originSample % Int64(Self.baseBucketSamples) == 0)
        // The coarsest level whose buckets tile both the pixels and their origin exactly.
        var levelIndex = 0
        while levelIndex + 1 < levels.count {
            let next = Int64(levels[levelIndex + 1].bucketSamples)
            guard Int64(samplesPerPixel) % next == 0 && originSample % next == 0 else { break }
            levelIndex += 1
        }
        let level = levels[levelIndex]
        let perPixel = samplesPerPixel / level.bucketSamples
        let firstSample = originSample + Int64(firstPixel) * Int64(samplesPerPixel)
        let available = max(0, Int((sampleCount - firstSample + Int64(samplesPerPixel) - 1) / Int64(samplesPerPixel)))
        let pixelCount = max(0, min(count, available))
        let firstBucket = Int(firstSample / Int64(level.bucketSamples))
        var output = chosen.map { _ in
            Series(
                min: .init(repeating: 0, count: pixelCount), max: .init(repeating: 0, count: pixelCount),
                rms: .init(repeating: 0, count: pixelCount))
        }
        for (outputIndex, seriesIndex) in chosen.enumerated() {
            let source = level.series[seriesIndex]
            source.min.withUnsafeBufferPointer { mins in
                source.max.withUnsafeBufferPointer { maxs in
                    source.rms.withUnsafeBufferPointer { rmss in
                        for pixel in 0..<pixelCount {
                            let start = firstBucket + pixel * perPixel
                            let end = min(start + perPixel, level.bucketCount)
                            var low = Int16.max, high = Int16.min
                            var squares = 0.0, samples = 0.0
                            for bucket in start..<end {
                                low = Swift.min(low, mins[bucket])
                                high = Swift.max(high, maxs[bucket])
                                let n = Double(Self.samples(inBucket: bucket, of: level.bucketSamples, sampleCount: sampleCount))
                                let r = Double(rmss[bucket])
                                squares += r * r * n
                                samples += n
                            }
                            output[outputIndex].min[pixel] = low
                            output[outputIndex].max[pixel] = high
                            output[outputIndex].rms[pixel] = samples > 0 ? UInt16(min((squares / samples).squareRoot().rounded(), 65535)) : 0
                        }
                    }
                }
            }
        }
        return WaveformPixels(series: output)
    }
}
