import Foundation
import JSONRPC
import Media
import Synchronization
import Waveforms

/// `requestWaveformRange` and `exportWaveform`.
struct RequestWaveformRangeParams: Decodable, Sendable {
    enum Encoding: String, Decodable, Sendable {
        /// Arrays of numbers in −1…1 (RMS 0…1).
        case json
        /// Base64 of little-endian 16-bit integers: peaks −32767…32767, RMS 0…65535.
        case base64
    }

    var sourcePath: String
    var startTime: Double
    var endTime: Double
    var samplesPerPixel: Int?
    var pixelsPerSecond: Double?
    var channels: WaveformRangeRequest.Channels?
    var visibleStart: Double?
    var visibleEnd: Double?
    var windowSeconds: Double?
    var encoding: Encoding?
}

extension WaveformRangeRequest.Channels: Decodable {}
extension WaveformExportRequest.Format: Decodable {}

struct ExportWaveformParams: Decodable, Sendable {
    var sourcePath: String
    var outputPath: String
    var format: WaveformExportRequest.Format?
    var samplesPerPixel: Int?
    var bits: Int?
    var channels: WaveformRangeRequest.Channels?
}

/// One window as the protocol shows it. `min`, `max` and `rms` are one array for the mixed view, one array per
/// channel for `channels: "all"`; numbers or base64 strings by `encoding`.
struct WaveformWindowPayload: Encodable, Sendable {
    var index: Int
    var startTime: Double
    var endTime: Double
    var samplesPerPixel: Int
    var channelCount: Int
    var min: Values
    var max: Values
    var rms: Values

    enum Values: Encodable, Sendable {
        case numbers([Double])
        case perChannelNumbers([[Double]])
        case base64(String)
        case perChannelBase64([String])

        func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .numbers(let values): try container.encode(values)
            case .perChannelNumbers(let values): try container.encode(values)
            case .base64(let value): try container.encode(value)
            case .perChannelBase64(let values): try container.encode(values)
            }
        }
    }

    init(_ window: WaveformWindow, perChannel: Bool, encoding: RequestWaveformRangeParams.Encoding) {
        index = window.index
        startTime = Self.rounded(window.startTime, 6)
        endTime = Self.rounded(window.endTime, 6)
        samplesPerPixel = window.samplesPerPixel
        channelCount = window.pixels.series.count
        let series = window.pixels.series
        func values(_ pick: (WaveformPyramid.Series) -> [Double], _ raw: (WaveformPyramid.Series) -> Data) -> Values {
            switch (encoding, perChannel) {
            case (.json, false): return .numbers(pick(series[0]))
            case (.json, true): return .perChannelNumbers(series.map(pick))
            case (.base64, false): return .base64(raw(series[0]).base64EncodedString())
            case (.base64, true): return .perChannelBase64(series.map { raw($0).base64EncodedString() })
            }
        }
        min = values({ $0.min.map { Self.rounded(Double($0) / 32767, 5) } }, { Self.bytes($0.min) })
        max = values({ $0.max.map { Self.rounded(Double($0) / 32767, 5) } }, { Self.bytes($0.max) })
        rms = values({ $0.rms.map { Self.rounded(Double($0) / 65535, 5) } }, { Self.bytes($0.rms) })
    }

    static func rounded(_ value: Double, _ digits: Int) -> Double {
        let scale = [1.0, 10, 100, 1e3, 1e4, 1e5, 1e6][digits]
        return (value * scale).rounded() / scale
    }

    static func bytes<T: FixedWidthInteger>(_ values: [T]) -> Data {
        values.withUnsafeBytes { Data($0) }  // Little-endian hosts: as in memory.
    }
}

struct WaveformSummaryPayload: Encodable, Sendable {
    var windowCount: Int
    var sampleRate: Int
    var channelCount: Int
    var duration: Double
    var audioStartTime: Double
    var fromCache: Bool
    var samplesPerPixel: Int
    var startTime: Double
    var endTime: Double
    /// Present when the windows are in the response (no `partialResultToken`), in time order.
    var windows: [WaveformWindowPayload]?

    init(_ summary: WaveformSummary, windows: [WaveformWindowPayload]?) {
        windowCount = summary.windowCount
        sampleRate = summary.sampleRate
        channelCount = summary.channelCount
        duration = WaveformWindowPayload.rounded(summary.duration, 6)
        audioStartTime = WaveformWindowPayload.rounded(summary.audioStartTime, 6)
        fromCache = summary.fromCache
        samplesPerPixel = summary.samplesPerPixel
        startTime = WaveformWindowPayload.rounded(summary.startTime, 6)
        endTime = WaveformWindowPayload.rounded(summary.endTime, 6)
        self.windows = windows
    }
}

/// The value of a partial result: windows as they are ready.
struct WaveformPartialResult: Encodable, Sendable {
    var windows: [WaveformWindowPayload]
}

struct ExportWaveformResult: Encodable, Sendable {
    var outputPath: String
    var format: String
    var version: Int
    var channels: Int
    var sampleRate: Int
    var samplesPerPixel: Int
    var bits: Int
    var length: Int
    var sizeBytes: Int64
}

extension WaveformError: ResponseErrorConvertible {
    public var responseError: ResponseError {
        ResponseError.invalidParams(description)
    }
}

extension AuraMediaServer {
    func registerWaveformMethods(in table: inout MethodTable) {
        table.register("requestWaveformRange", RequestWaveformRangeParams.self) { [self] params, context in
            try requireSourcePath(params.sourcePath)
            let resolution: WaveformRangeRequest.Resolution
            switch (params.samplesPerPixel, params.pixelsPerSecond) {
            case (let samples?, nil): resolution = .samplesPerPixel(samples)
            case (nil, let pixels?): resolution = .pixelsPerSecond(pixels)
            default: throw ResponseError.invalidParams("exactly one of 'samplesPerPixel' and 'pixelsPerSecond' is required")
            }
            let windowSeconds = params.windowSeconds ?? WaveformRangeRequest.defaultWindowSeconds
            guard windowSeconds > 0.01 && windowSeconds <= 3600 else {
                throw ResponseError.invalidParams("parameter 'windowSeconds' must be between 0.01 and 3600")
            }
            for (name, value) in [("startTime", params.startTime), ("endTime", params.endTime), ("visibleStart", params.visibleStart ?? 0),
                                  ("visibleEnd", params.visibleEnd ?? 0)] where !value.isFinite {
                throw ResponseError.invalidParams("parameter '\(name)' must be a finite number")
            }
            let request = WaveformRangeRequest(sourcePath: params.sourcePath, startTime: params.startTime, endTime: params.endTime,
                                               resolution: resolution, channels: params.channels ?? .mixed,
                                               visibleStart: params.visibleStart, visibleEnd: params.visibleEnd,
                                               windowSeconds: windowSeconds)
            let perChannel = request.channels == .all
            let encoding = params.encoding ?? .json
            let service = try await waveformService()
            let streaming = context.partialResultToken != nil
            let collected = WindowCollector()
            let summary = try await service.windows(for: request) { window in
                let payload = WaveformWindowPayload(window, perChannel: perChannel, encoding: encoding)
                if streaming {
                    context.sendPartialResult(WaveformPartialResult(windows: [payload]))
                } else {
                    collected.add(payload)
                }
            }
            return WaveformSummaryPayload(summary, windows: streaming ? nil : collected.inTimeOrder)
        }

        table.register("exportWaveform", ExportWaveformParams.self) { [self] params, _ in
            try requireSourcePath(params.sourcePath)
            let request = WaveformExportRequest(sourcePath: params.sourcePath, outputPath: params.outputPath,
                                                format: params.format ?? .dat, samplesPerPixel: params.samplesPerPixel ?? 256,
                                                bits: params.bits ?? 16, channels: params.channels ?? .mixed)
            let result = try await waveformService().export(request)
            return ExportWaveformResult(outputPath: result.outputPath, format: result.format.rawValue, version: result.version,
                                        channels: result.channels, sampleRate: result.sampleRate,
                                        samplesPerPixel: result.samplesPerPixel, bits: result.bits, length: result.length,
                                        sizeBytes: result.sizeBytes)
        }
    }
}

/// Windows gathered for a response without a partial-result token.
final class WindowCollector: Sendable {
    private let windows = Mutex<[WaveformWindowPayload]>([])
    func add(_ window: WaveformWindowPayload) { windows.withLock { $0.append(window) } }
    var inTimeOrder: [WaveformWindowPayload] { windows.withLock { $0.sorted { $0.index < $1.index } } }
}
