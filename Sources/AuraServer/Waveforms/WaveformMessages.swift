import JSONRPC

/// The waveform methods: each name tied to its params and result (protocol/spec.md §8.14-8.15).

/// `requestWaveformRange` → windows (streamed as partial results, or in the response) and a summary, written
/// by `WaveformJSON`.
enum RequestWaveformRangeRequest: RequestType {
    typealias Params = RequestWaveformRangeParams
    typealias Result = EncodedJSON
    static let method = "requestWaveformRange"
}

/// `exportWaveform` → what was written.
enum ExportWaveformRequest: RequestType {
    typealias Params = ExportWaveformParams
    typealias Result = ExportWaveformResult
    static let method = "exportWaveform"
}
