import Foundation
import JSONRPC
import Waveforms

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

    mutating func window(_ window: WaveformWindow, perChannel: Bool, encoding: RequestWaveformRangeRequest.Encoding) {
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

    private mutating func values(
        _ key: String, _ series: [WaveformPyramid.Series], perChannel: Bool,
        encoding: RequestWaveformRangeRequest.Encoding, _ pick: KeyPath<WaveformPyramid.Series, [Int16]>
    ) {
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

    private mutating func rmsValues(_ series: [WaveformPyramid.Series], perChannel: Bool, encoding: RequestWaveformRangeRequest.Encoding) {
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
