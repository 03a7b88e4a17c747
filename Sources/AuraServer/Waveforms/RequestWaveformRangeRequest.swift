import JSONRPC
import Waveforms

/// `requestWaveformRange` → windows (streamed as partial results, or in the response) and a summary, written
/// by `WaveformJSON` (protocol/spec.md §8.14).
struct RequestWaveformRangeRequest: RequestType {
    typealias Response = EncodedJSON
    static let method = "requestWaveformRange"

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
    /// Which audio stream (its number among the source's audio streams, `StreamInfo.audioStream`); 0 by default.
    var audioStream: Int?
}

extension WaveformRangeRequest.Channels: EnumParam {}
