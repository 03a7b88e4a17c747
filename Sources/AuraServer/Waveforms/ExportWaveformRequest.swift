import JSONRPC
import Waveforms

/// `exportWaveform` → what was written (protocol/spec.md §8.15).
struct ExportWaveformRequest: RequestType {
    typealias Response = ExportWaveformResult
    static let method = "exportWaveform"

    var sourcePath: String
    var outputPath: String
    var format: WaveformExportRequest.Format?
    var samplesPerPixel: Int?
    var bits: Int?
    var channels: WaveformRangeRequest.Channels?
    /// Which audio stream (its number among the source's audio streams, `StreamInfo.audioStream`); 0 by default.
    var audioStream: Int?
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
    var audioStream: Int
}

extension WaveformExportRequest.Format: EnumParam {}
