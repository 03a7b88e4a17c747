import FileErrors
import Foundation
import Jobs
import Media
import MediaCache

/// A waveform written in BBC audiowaveform's formats, as waveform-data.js and peaks.js read them.
public struct WaveformExportRequest: Sendable, Equatable {
    public enum Format: String, Sendable, Equatable, CaseIterable {
        /// Binary: version 1 (one channel) or 2 (several), little-endian.
        case dat
        /// `{version: 2, channels, sample_rate, samples_per_pixel, bits, length, data: [min, max, …]}`.
        case json
    }

    public var sourcePath: String
    public var outputPath: String
    public var format: Format
    public var samplesPerPixel: Int
    /// 8 or 16.
    public var bits: Int
    public var channels: WaveformRangeRequest.Channels
    /// Which audio stream: its number among the source's audio streams (0, the primary, by default).
    public var audioStream: Int

    public init(
        sourcePath: String, outputPath: String, format: Format = .dat, samplesPerPixel: Int = 256, bits: Int = 16,
        channels: WaveformRangeRequest.Channels = .mixed, audioStream: Int = 0
    ) {
        self.audioStream = audioStream
        self.sourcePath = sourcePath
        self.outputPath = outputPath
        self.format = format
        self.samplesPerPixel = samplesPerPixel
        self.bits = bits
        self.channels = channels
    }
}

/// What an export wrote.
public struct WaveformExportResult: Sendable, Equatable {
    public var outputPath: String
    public var format: WaveformExportRequest.Format
    /// The format version written (dat: 1 for one channel, 2 for several; json: 2).
    public var version: Int
    public var channels: Int
    public var sampleRate: Int
    public var samplesPerPixel: Int
    public var bits: Int
    /// Pixels per channel.
    public var length: Int
    public var sizeBytes: Int64
}

extension WaveformService {
    /// Writes the waveform of a source in audiowaveform's format. Resolutions that are a multiple of 256 come from
    /// the pyramid (analysing the file first when needed); others are decoded directly. The file appears whole
    /// (written beside its final name and renamed) or not at all.
    public func export(_ request: WaveformExportRequest) async throws -> WaveformExportResult {
        guard request.samplesPerPixel >= 2 && request.samplesPerPixel <= WaveformPlan.maxSamplesPerPixel else {
            throw WaveformError.invalidRange(field: "samplesPerPixel", reason: "must be between 2 and \(WaveformPlan.maxSamplesPerPixel)")
        }
        guard request.bits == 8 || request.bits == 16 else {
            throw WaveformError.invalidRange(field: "bits", reason: "must be 8 or 16")
        }
        try Self.checkOutput(request)
        let pixels: WaveformPixels
        let sampleRate: Int
        if request.samplesPerPixel % WaveformPyramid.baseBucketSamples == 0 {
            let pyramid = try await pyramid(of: request.sourcePath, audioStream: request.audioStream)
            let plan = try WaveformPlan(
                WaveformRangeRequest(
                    sourcePath: request.sourcePath, startTime: 0, endTime: pyramid.durationSeconds,
                    resolution: .samplesPerPixel(request.samplesPerPixel)),
                stream: Self.stream(of: pyramid))
            let count = Int((pyramid.sampleCount + Int64(request.samplesPerPixel) - 1) / Int64(request.samplesPerPixel))
            pixels = pyramid.pixels(
                samplesPerPixel: request.samplesPerPixel, originSample: 0, firstPixel: 0, count: count,
                series: plan.series(for: request.channels))
            sampleRate = pyramid.sampleRate
        } else {
            let cancelled = CancellationFlag()
            (pixels, sampleRate) = try await withTaskCancellationHandler {
                try await BlockingQueue.run {
                    let reader = try Self.reader(path: request.sourcePath, audioStream: request.audioStream)
                    var accumulator = PixelAccumulator(samplesPerPixel: request.samplesPerPixel, channelCount: reader.channelCount)
                    try reader.read { chunk in !cancelled.isSet && accumulator.add(chunk) }
                    if cancelled.isSet { throw CancellationError() }
                    accumulator.finish()
                    let series = request.channels == .mixed || reader.channelCount == 1 ? [0] : Array(1...reader.channelCount)
                    return (WaveformPixels(series: series.map { accumulator.output[$0] }), reader.sampleRate)
                }
            } onCancel: {
                cancelled.set()
            }
        }
        let bytes = Self.encode(pixels, request: request, sampleRate: sampleRate)
        try await BlockingQueue.run {
            let output = URL(fileURLWithPath: request.outputPath)
            let partial = output.deletingLastPathComponent().appendingPathComponent(
                ".\(output.lastPathComponent).\(UUID().uuidString.prefix(8)).partial")
            try MediaError.mapping { () throws(FileError) in try DurableFile.write(bytes, to: output, via: partial, mode: 0o644) }
        }
        return WaveformExportResult(
            outputPath: request.outputPath, format: request.format,
            version: request.format == .json || pixels.series.count > 1 ? 2 : 1,
            channels: pixels.series.count, sampleRate: sampleRate,
            samplesPerPixel: request.samplesPerPixel, bits: request.bits, length: pixels.pixelCount,
            sizeBytes: Int64(bytes.count))
    }

    /// audiowaveform's data for `pixels`: per pixel, per channel, min then max, at 8 or 16 bits.
    static func encode(_ pixels: WaveformPixels, request: WaveformExportRequest, sampleRate: Int) -> [UInt8] {
        let channels = pixels.series.count
        func value(_ peak: Int16) -> Int {
            request.bits == 16 ? Int(peak) : Int(min(max((Double(peak) / 32767 * 127).rounded(), -128), 127))
        }
        switch request.format {
        case .dat:
            var bytes: [UInt8] = []
            func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
            append(Int32(channels > 1 ? 2 : 1))
            append(UInt32(request.bits == 8 ? 1 : 0))
            append(Int32(sampleRate))
            append(Int32(request.samplesPerPixel))
            append(UInt32(pixels.pixelCount))
            if channels > 1 { append(Int32(channels)) }
            bytes.reserveCapacity(bytes.count + pixels.pixelCount * channels * 2 * (request.bits / 8))
            for pixel in 0..<pixels.pixelCount {
                for series in pixels.series {
                    if request.bits == 16 {
                        append(Int16(value(series.min[pixel])))
                        append(Int16(value(series.max[pixel])))
                    } else {
                        append(Int8(value(series.min[pixel])))
                        append(Int8(value(series.max[pixel])))
                    }
                }
            }
            return bytes
        case .json:
            var text =
                "{\"version\":2,\"channels\":\(channels),\"sample_rate\":\(sampleRate),"
                + "\"samples_per_pixel\":\(request.samplesPerPixel),\"bits\":\(request.bits),\"length\":\(pixels.pixelCount),\"data\":["
            var first = true
            for pixel in 0..<pixels.pixelCount {
                for series in pixels.series {
                    text += first ? "" : ","
                    first = false
                    text += "\(value(series.min[pixel])),\(value(series.max[pixel]))"
                }
            }
            text += "]}"
            return Array(text.utf8)
        }
    }

    /// The output must be an absolute path in an existing directory, not a directory itself, not the source.
    static func checkOutput(_ request: WaveformExportRequest) throws {
        let output = URL(fileURLWithPath: request.outputPath).standardizedFileURL
        guard request.outputPath.hasPrefix("/") else {
            throw WaveformError.invalidRange(field: "outputPath", reason: "must be an absolute path")
        }
        guard output.path != URL(fileURLWithPath: request.sourcePath).standardizedFileURL.path else {
            throw WaveformError.invalidRange(field: "outputPath", reason: "must not be the source itself")
        }
        var info = stat()
        if stat(output.path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            throw MediaError.notARegularFile(path: output.path)
        }
        let parent = output.deletingLastPathComponent().path
        guard stat(parent, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { throw MediaError.fileNotFound(path: parent) }
        guard access(parent, W_OK | X_OK) == 0 else { throw MediaError.permissionDenied(path: parent) }
    }
}
