import Foundation
import JSONRPC
import Media
import Locking
import Waveforms

/// `requestWaveformRange` and `exportWaveform`.
struct RequestWaveformRangeParams: Decodable, Sendable {
    enum Encoding: String, EnumParam, Sendable {
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

extension WaveformRangeRequest.Channels: EnumParam {}
extension WaveformExportRequest.Format: EnumParam {}

struct ExportWaveformParams: Decodable, Sendable {
    var sourcePath: String
    var outputPath: String
    var format: WaveformExportRequest.Format?
    var samplesPerPixel: Int?
    var bits: Int?
    var channels: WaveformRangeRequest.Channels?
}

/// Writes waveform answers as JSON text directly (`EncodedJSON`): a window holds thousands of numbers, which
/// `JSONEncoder` writes many times slower. Keys are sorted, as everywhere in the server's output.
///
/// A window is `{channelCount, endTime, index, max, min, rms, samplesPerPixel, startTime}`; `min`, `max` and `rms` are
/// one array for the mixed view, one array per channel for `channels: "all"`; numbers (5 decimals) or base64
/// strings of little-endian 16-bit integers by `encoding`.
struct WaveformJSON {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    mutating func window(_ window: WaveformWindow, perChannel: Bool, encoding: RequestWaveformRangeParams.Encoding) {
        let series = perChannel ? window.pixels.series : [window.pixels.series[0]]
        bytes.reserveCapacity(bytes.count + 160 + window.pixels.pixelCount * series.count * 24)
        append(#"{"channelCount":"#)
        integer(series.count)
        append(#","endTime":"#)
        fixed(window.endTime, digits: 6)
        append(#","index":"#)
        integer(window.index)
        values(#","max":"#, series, perChannel: perChannel, encoding: encoding, \.max)
        values(#","min":"#, series, perChannel: perChannel, encoding: encoding, \.min)
        rmsValues(series, perChannel: perChannel, encoding: encoding)
        append(#","samplesPerPixel":"#)
        integer(window.samplesPerPixel)
        append(#","startTime":"#)
        fixed(window.startTime, digits: 6)
        append("}")
    }

    /// The summary, with `windows` (already written, in time order) when they go in the response.
    mutating func summary(_ summary: WaveformSummary, windows: [[UInt8]]?) {
        append(#"{"audioStartTime":"#)
        fixed(summary.audioStartTime, digits: 6)
        append(#","channelCount":"#)
        integer(summary.channelCount)
        append(#","duration":"#)
        fixed(summary.duration, digits: 6)
        append(#","endTime":"#)
        fixed(summary.endTime, digits: 6)
        append(#","fromCache":"#)
        append(summary.fromCache ? "true" : "false")
        append(#","sampleRate":"#)
        integer(summary.sampleRate)
        append(#","samplesPerPixel":"#)
        integer(summary.samplesPerPixel)
        append(#","startTime":"#)
        fixed(summary.startTime, digits: 6)
        append(#","windowCount":"#)
        integer(summary.windowCount)
        if let windows {
            append(#","windows":["#)
            for (index, window) in windows.enumerated() {
                if index > 0 { append(",") }
                bytes += window
            }
            append("]")
        }
        append("}")
    }

    var encoded: EncodedJSON { EncodedJSON(Data(bytes)) }

    private mutating func values(_ key: String, _ series: [WaveformPyramid.Series], perChannel: Bool,
                                 encoding: RequestWaveformRangeParams.Encoding, _ pick: KeyPath<WaveformPyramid.Series, [Int16]>) {
        append(key)
        if perChannel { append("[") }
        for (index, channel) in series.enumerated() {
            if index > 0 { append(",") }
            switch encoding {
            case .json:
                append("[")
                for (position, value) in channel[keyPath: pick].enumerated() {
                    if position > 0 { append(",") }
                    scaled(Int((Double(value) * 100_000 / 32767).rounded()))
                }
                append("]")
            case .base64:
                base64(channel[keyPath: pick])
            }
        }
        if perChannel { append("]") }
    }

    private mutating func rmsValues(_ series: [WaveformPyramid.Series], perChannel: Bool, encoding: RequestWaveformRangeParams.Encoding) {
        append(#","rms":"#)
        if perChannel { append("[") }
        for (index, channel) in series.enumerated() {
            if index > 0 { append(",") }
            switch encoding {
            case .json:
                append("[")
                for (position, value) in channel.rms.enumerated() {
                    if position > 0 { append(",") }
                    scaled(Int((Double(value) * 100_000 / 65535).rounded()))
                }
                append("]")
            case .base64:
                base64(channel.rms)
            }
        }
        if perChannel { append("]") }
    }

    private mutating func base64<T: FixedWidthInteger>(_ values: [T]) {
        append("\"")
        append(values.withUnsafeBytes { Data($0) }.base64EncodedString())  // Little-endian hosts: as in memory.
        append("\"")
    }

    private mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    private mutating func integer(_ value: Int) {
        append(String(value))
    }

    /// `value` rounded to `digits` decimals, trailing zeros dropped.
    private mutating func fixed(_ value: Double, digits: Int) {
        guard value.isFinite, value.magnitude < 1e12 else {  // Never reached by times of real streams; no trap if it is.
            append("0")
            return
        }
        let scale = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000][digits]
        write(Int((value * Double(scale)).rounded()), scale: scale, digits: digits)
    }

    /// A number given in hundred-thousandths.
    private mutating func scaled(_ value: Int) {
        write(value, scale: 100_000, digits: 5)
    }

    private mutating func write(_ value: Int, scale: Int, digits: Int) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        let whole = magnitude / UInt(scale)
        var fraction = magnitude % UInt(scale)
        if whole < 10 { bytes.append(UInt8(ascii: "0") + UInt8(whole)) } else { append(String(whole)) }
        guard fraction > 0 else { return }
        var width = digits
        while fraction % 10 == 0 {
            fraction /= 10
            width -= 1
        }
        bytes.append(UInt8(ascii: "."))
        var divisor: UInt = 1
        for _ in 1..<width { divisor *= 10 }
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / divisor % 10))
            divisor /= 10
        }
    }
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
        table.register(RequestWaveformRangeRequest.self) { [self] params, context in
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
            let started = ContinuousClock.now
            let latencies = Mutex<[Double]>([])
            let summary = try await service.windows(for: request) { window in
                latencies.withLock { $0.append(Self.seconds(since: started)) }
                var json = WaveformJSON()
                json.window(window, perChannel: perChannel, encoding: encoding)
                if streaming {
                    // A partial result: {"windows": [window]}.
                    context.sendPartialResult(EncodedJSON(Data(#"{"windows":["#.utf8) + Data(json.bytes) + Data("]}".utf8)))
                } else {
                    collected.add(index: window.index, json.bytes)
                }
            }
            for seconds in latencies.withLock({ $0 }) {
                telemetry.recordWaveformWindow(seconds: seconds, hit: summary.fromCache)
            }
            var result = WaveformJSON()
            result.summary(summary, windows: streaming ? nil : collected.inTimeOrder)
            return result.encoded
        }

        table.register(ExportWaveformRequest.self) { [self] params, _ in
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

/// Windows (as JSON text) gathered for a response without a partial-result token.
final class WindowCollector: Sendable {
    private let windows = Mutex<[(index: Int, json: [UInt8])]>([])
    func add(index: Int, _ json: [UInt8]) { windows.withLock { $0.append((index, json)) } }
    var inTimeOrder: [[UInt8]] { windows.withLock { $0.sorted { $0.index < $1.index }.map(\.json) } }
}
