import Foundation
import JSONRPC
import Waveforms

/// The waveform methods' handlers: `requestWaveformRange` and `exportWaveform`.
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
            let audioStream = try Self.audioStream(params.audioStream)
            let windowSeconds = params.windowSeconds ?? WaveformRangeRequest.defaultWindowSeconds
            guard windowSeconds > 0.01 && windowSeconds <= 3600 else {
                throw ResponseError.invalidParams("parameter 'windowSeconds' must be between 0.01 and 3600")
            }
            for (name, value) in [
                ("startTime", params.startTime), ("endTime", params.endTime), ("visibleStart", params.visibleStart ?? 0),
                ("visibleEnd", params.visibleEnd ?? 0),
            ] where !value.isFinite {
                throw ResponseError.invalidParams("parameter '\(name)' must be a finite number")
            }
            let request = WaveformRangeRequest(
                sourcePath: params.sourcePath, startTime: params.startTime, endTime: params.endTime,
                resolution: resolution, channels: params.channels ?? .mixed,
                visibleStart: params.visibleStart, visibleEnd: params.visibleEnd,
                windowSeconds: windowSeconds, audioStream: audioStream)
            if let visibleStart = params.visibleStart {
                // What the timeline shows is where the user looks: its proxy segment is made first.
                (try? await proxyService())?.notePlayhead(sourcePath: params.sourcePath, seconds: visibleStart)
            }
            let perChannel = request.channels == .all
            let encoding = params.encoding ?? .json
            let service = try await waveformService()
            let streaming = context.partialResultToken != nil
            var collected: [(index: Int, json: [UInt8])] = []
            var latencies: [Double] = []
            let started = ContinuousClock.now
            let windows = service.windows(for: request)
            for try await window in windows {
                latencies.append(Self.seconds(since: started))
                var json = WaveformJSON()
                json.window(window, perChannel: perChannel, encoding: encoding)
                if streaming {
                    // A partial result: {"windows": [window]}.
                    context.sendPartialResult(EncodedJSON(Data(#"{"windows":["#.utf8) + Data(json.bytes) + Data("]}".utf8)))
                } else {
                    collected.append((window.index, json.bytes))
                }
            }
            guard let summary = windows.summary else { throw CancellationError() }
            for seconds in latencies {
                telemetry.recordWaveformWindow(seconds: seconds, hit: summary.fromCache)
            }
            var result = WaveformJSON()
            result.summary(summary, windows: streaming ? nil : collected.sorted { $0.index < $1.index }.map(\.json))
            return result.encoded
        }

        table.register(ExportWaveformRequest.self) { [self] params, _ in
            try requireSourcePath(params.sourcePath)
            let request = WaveformExportRequest(
                sourcePath: params.sourcePath, outputPath: params.outputPath,
                format: params.format ?? .dat, samplesPerPixel: params.samplesPerPixel ?? 256,
                bits: params.bits ?? 16, channels: params.channels ?? .mixed,
                audioStream: try Self.audioStream(params.audioStream))
            let result = try await waveformService().export(request)
            return ExportWaveformResult(
                outputPath: result.outputPath, format: result.format.rawValue, version: result.version,
                channels: result.channels, sampleRate: result.sampleRate,
                samplesPerPixel: result.samplesPerPixel, bits: result.bits, length: result.length,
                sizeBytes: result.sizeBytes, audioStream: request.audioStream)
        }
    }

    /// The `audioStream` param: 0 (the primary) when absent; whether the file has it is the service's check.
    private static func audioStream(_ value: Int?) throws -> Int {
        guard let value else { return 0 }
        guard value >= 0 else { throw ResponseError.invalidParams("parameter 'audioStream' must be 0 or more") }
        return value
    }
}
