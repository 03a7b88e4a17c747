import Foundation
import Jobs
import Locking
import Logging
import Media
import MediaCache
import TestSupport
import Testing

@testable import Waveforms

/// PCM decoded by the ffmpeg CLI (the independent reference) and the peaks/RMS computed from it directly.
struct Reference: Sendable {
    let channels: [[Float]]
    /// The samples of each series: 0 = mixed (channels averaged sample by sample), 1… = each channel (mono: 0 is the
    /// channel).
    let allSeries: [[Float]]

    init(_ path: String, channels count: Int, audioStream: Int = 0) throws {
        let output = try ReferenceTools.ffmpeg([
            "-v", "error", "-i", path, "-map", "0:a:\(audioStream)", "-f", "f32le", "-c:a", "pcm_f32le", "-",
        ])
        try #require(output.status == 0, "\(output.stderr)")
        let samples = output.stdout.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let channels = (0..<count).map { channel in stride(from: channel, to: samples.count, by: count).map { samples[$0] } }
        self.channels = channels
        if count == 1 {
            allSeries = channels
        } else {
            let mixed = (0..<channels[0].count).map { sample in channels.reduce(Float(0)) { $0 + $1[sample] } / Float(count) }
            allSeries = [mixed] + channels
        }
    }

    var sampleCount: Int { channels[0].count }

    func series(_ index: Int) -> [Float] { allSeries[index] }

    /// Min, max and RMS of each pixel of `samplesPerPixel` samples from `origin`, for `count` pixels.
    func pixels(_ series: [Float], samplesPerPixel: Int, origin: Int, count: Int) -> [(min: Float, max: Float, rms: Double)] {
        (0..<count).compactMap { pixel in
            let start = origin + pixel * samplesPerPixel
            guard start < series.count else { return nil }
            let slice = series[start..<min(start + samplesPerPixel, series.count)]
            let squares = slice.reduce(0.0) { $0 + Double($1) * Double($1) }
            return (slice.min()!, slice.max()!, (squares / Double(slice.count)).squareRoot())
        }
    }
}

func quietLogger() -> Logger {
    var logger = Logger(label: "waveform-tests")
    logger.logLevel = .critical
    return logger
}

func makeService(_ directory: URL? = nil) throws -> WaveformService {
    try WaveformService(directoryPath: (directory ?? TestFiles.scratch("waveform-cache")).path, logger: quietLogger())
}

/// Every window of a request, in the order delivered.
func collect(_ service: WaveformService, _ request: WaveformRangeRequest) async throws -> ([WaveformWindow], WaveformSummary) {
    let sequence = service.windows(for: request)
    var windows: [WaveformWindow] = []
    for try await window in sequence { windows.append(window) }
    return (windows, try #require(sequence.summary, "every window is out: the summary is set"))
}

@Suite(.timeLimit(.minutes(10)))
struct WaveformTests {

    /// A window that only touches the visible range at its edge shows none of it: with 10-second windows and
    /// 1790–1800 on screen, 1790–1800 comes first, then its neighbours 1780–1790 and 1800–1810.
    @Test func windowsTouchingTheVisibleRangeAtAnEdgeAreNotVisible() throws {
        let stream = WaveformPlan.Stream(sampleRate: 48000, channelCount: 2, sampleCount: 48000 * 1810, startSeconds: 0)
        func plan(_ start: Double, _ end: Double) throws -> WaveformPlan {
            try WaveformPlan(
                WaveformRangeRequest(
                    sourcePath: "/unused", startTime: 0, endTime: 1810, resolution: .samplesPerPixel(256),
                    visibleStart: start, visibleEnd: end, windowSeconds: 10),
                stream: stream)
        }
        let edges = try plan(1790, 1800)
        #expect(edges.windowCount == 181 && edges.pixelsPerWindow == 1875)
        #expect(edges.visible == [179])
        #expect(Array(edges.order.prefix(4)) == [179, 178, 180, 177])
        let inside = try plan(1791, 1799)
        #expect(inside.visible == [179] && inside.order.first == 179)
        let across = try plan(1785, 1795)
        #expect(across.visible == [178, 179] && Array(across.order.prefix(2)) == [178, 179])
        let instant = try plan(1790, 1790)
        #expect(instant.visible == [179] && instant.order.first == 179)
        let end = try plan(1810, 1810)
        #expect(end.visible == [180] && end.order.first == 180)
        let beyond = try plan(1900, 1900)
        #expect(beyond.visible.isEmpty && beyond.order.first == 180)
    }
    static let formats: [(String, Int)] = [
        (MediaFixtures.wavMono, 1), (MediaFixtures.flacStereo, 2), (MediaFixtures.mp3Stereo, 2), (MediaFixtures.aacSurround, 6),
    ]

    /// Served windows against peaks and RMS computed from the CLI's PCM, at several zoom levels (from the pyramid,
    /// levels 0 to 4, and below its buckets), for the mixed view and every channel.
    @Test(arguments: formats)
    func windowsMatchAnIndependentComputation(path: String, channels: Int) async throws {
        let reference = try await BlockingQueue.run { try Reference(path, channels: channels) }
        let service = try makeService()
        defer { Task { await service.shutdown() } }
        let duration = Double(reference.sampleCount) / Double(try AudioSampleReader(source: MediaSource(path: path)).sampleRate)
        for samplesPerPixel in [256, 512, 768, 1024, 4096, 100] {
            for selection in [WaveformRangeRequest.Channels.mixed, .all] {
                let request = WaveformRangeRequest(
                    sourcePath: path, startTime: 0.3, endTime: duration, resolution: .samplesPerPixel(samplesPerPixel),
                    channels: selection, windowSeconds: 0.5)
                let (windows, summary) = try await collect(service, request)
                #expect(summary.samplesPerPixel == samplesPerPixel)
                #expect(windows.count == summary.windowCount)
                let seriesIndices = selection == .mixed ? [0] : (channels > 1 ? Array(1...channels) : [0])
                // The comparison is heavy in a debug build: off the concurrency pool, which other suites need.
                let problem = try await BlockingQueue.run { () -> String? in
                    for window in windows.sorted(by: { $0.index < $1.index }) {
                        let origin = Int((window.startTime * Double(summary.sampleRate)).rounded())
                        for (position, seriesIndex) in seriesIndices.enumerated() {
                            let got = window.pixels.series[position]
                            let expected = reference.pixels(
                                reference.series(seriesIndex), samplesPerPixel: samplesPerPixel, origin: origin,
                                count: got.min.count)
                            guard got.min.count == expected.count else {
                                return "window \(window.index): \(got.min.count) pixels, expected \(expected.count)"
                            }
                            for (pixel, want) in expected.enumerated() {
                                let minError = abs(Double(got.min[pixel]) - Double(want.min) * 32767)
                                let maxError = abs(Double(got.max[pixel]) - Double(want.max) * 32767)
                                let rmsError = abs(Double(got.rms[pixel]) - want.rms * 65535)
                                if minError > 1.01 || maxError > 1.01 || rmsError > 3 {
                                    return
                                        "series \(seriesIndex) window \(window.index) pixel \(pixel): min \(minError) max \(maxError) rms \(rmsError) LSB off"
                                }
                            }
                        }
                    }
                    return nil
                }
                if let problem {
                    Issue.record("\(URL(fileURLWithPath: path).lastPathComponent) at \(samplesPerPixel) samples per pixel: \(problem)")
                    return
                }
            }
        }
    }

    /// A source with three audio streams (mono, stereo, 5.1): each stream's windows, from the pyramid and decoded
    /// directly, equal peaks and RMS computed from that stream's PCM as the CLI decodes it; each stream has a pyramid
    /// of its own in the cache; a fourth stream is an error naming `audioStream`; clearing the source removes all.
    @Test func everyAudioStreamMatchesAnIndependentComputation() async throws {
        let path = MediaFixtures.threeAudioStreams
        let directory = TestFiles.scratch("waveform-streams")
        let service = try makeService(directory)
        defer { Task { await service.shutdown() } }
        for (audioStream, channels) in [(0, 1), (1, 2), (2, 6)] {
            let reference = try await BlockingQueue.run { try Reference(path, channels: channels, audioStream: audioStream) }
            // Up to 0.1 s before the end: windows below 256 samples per pixel are decoded after a seek, and the last
            // AAC frames (the encoder's padding, trimmed at the end) then come out a few units off a straight read's.
            let duration = Double(reference.sampleCount) / 48000 - 0.1
            for samplesPerPixel in [256, 1024, 100] {
                let request = WaveformRangeRequest(
                    sourcePath: path, startTime: 0.3, endTime: duration, resolution: .samplesPerPixel(samplesPerPixel),
                    channels: .all, windowSeconds: 0.5, audioStream: audioStream)
                let (windows, summary) = try await collect(service, request)
                #expect(summary.channelCount == channels && summary.samplesPerPixel == samplesPerPixel)
                let peakTolerance = 1.01
                let problem = try await BlockingQueue.run { () -> String? in
                    for window in windows.sorted(by: { $0.index < $1.index }) {
                        let origin = Int((window.startTime * 48000).rounded())
                        for position in 0..<channels {
                            let got = window.pixels.series[position]
                            let expected = reference.pixels(
                                reference.series(channels == 1 ? 0 : position + 1), samplesPerPixel: samplesPerPixel,
                                origin: origin, count: got.min.count)
                            guard got.min.count == expected.count else { return "window \(window.index): \(got.min.count) pixels" }
                            for (pixel, want) in expected.enumerated()
                            where abs(Double(got.min[pixel]) - Double(want.min) * 32767) > peakTolerance
                                || abs(Double(got.max[pixel]) - Double(want.max) * 32767) > peakTolerance
                                || abs(Double(got.rms[pixel]) - want.rms * 65535) > 3
                            {
                                return
                                    "channel \(position) window \(window.index) pixel \(pixel) of \(got.min.count): got \(got.min[pixel]) \(got.max[pixel]) \(got.rms[pixel]), want \(want.min * 32767) \(want.max * 32767) \(want.rms * 65535); \(reference.sampleCount) samples"
                            }
                        }
                    }
                    return nil
                }
                #expect(problem == nil, "audio stream \(audioStream) at \(samplesPerPixel) samples per pixel: \(problem ?? "")")
            }
            // The reference is the stream meant: its first channel's level is that stream's tone (sine's 1/8, 0.9, 0.1).
            let first = reference.channels[0]
            let rms = (first.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(first.count)).squareRoot()
            let expected = [0.125, 0.9, 0.1][audioStream] / 2.squareRoot()
            #expect(abs(rms - expected) < expected * 0.15, "stream \(audioStream): RMS \(rms), expected \(expected)")
        }
        let waves = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("waveforms").path)
            .filter { $0.hasSuffix(".wave") }
        #expect(waves.count == 3, "one pyramid per stream: \(waves)")
        do {
            _ = try await collect(
                service, WaveformRangeRequest(sourcePath: path, startTime: 0, endTime: 1, resolution: .samplesPerPixel(256), audioStream: 3))
            Issue.record("a fourth audio stream was served")
        } catch let error as WaveformError {
            guard case .invalidRange(let field, let reason) = error else { return }
            #expect(field == "audioStream" && reason.contains("3 audio streams"), "\(reason)")
        }
        let cleared = try await service.clear(sourcePath: path)
        #expect(cleared.files == 3)
    }

    @Test func windowsComeVisibleFirstThenByDistance() async throws {
        let service = try makeService()
        defer { Task { await service.shutdown() } }
        let request = WaveformRangeRequest(
            sourcePath: MediaFixtures.flacStereo, startTime: 0, endTime: 2, resolution: .samplesPerPixel(256),
            visibleStart: 1.05, visibleEnd: 1.25, windowSeconds: 0.2)
        for pass in 0..<2 {  // cold (direct decode, then the pyramid), then warm
            let (windows, summary) = try await collect(service, request)
            #expect(summary.fromCache == (pass == 1))
            let order = windows.map(\.index)
            #expect(Set(order) == Set(0..<summary.windowCount), "every window exactly once")
            #expect(order.count == summary.windowCount)
            let visible = windows.prefix { $0.endTime > 1.05 && $0.startTime < 1.25 }
            #expect(visible.count >= 1 && visible.map(\.index) == visible.map(\.index).sorted())
            let distances = windows.map { window -> Double in
                window.endTime > 1.05 && window.startTime < 1.25 ? 0 : (window.startTime >= 1.25 ? window.startTime - 1.25 : 1.05 - window.endTime)
            }
            #expect(distances == distances.sorted(), "by distance from the visible range: \(distances)")
        }
    }

    @Test func thePyramidIsPersistedAndADamagedFileIsRebuilt() async throws {
        let directory = TestFiles.scratch("waveform-persist")
        let source = MediaFixtures.flacStereo
        let request = WaveformRangeRequest(sourcePath: source, startTime: 0, endTime: 2, resolution: .samplesPerPixel(512))
        let first = try makeService(directory)
        let (cold, coldSummary) = try await collect(first, request)
        #expect(!coldSummary.fromCache)
        await first.shutdown()
        let key = try SourceFingerprint.of(path: source).key
        let file = directory.appendingPathComponent("waveforms/\(key).wave")
        #expect(FileManager.default.fileExists(atPath: file.path))

        // A new process reads it back: same windows, from the cache.
        let second = try makeService(directory)
        let (warm, warmSummary) = try await collect(second, request)
        #expect(warmSummary.fromCache && warm == cold)
        await second.shutdown()

        // Cut short or damaged: detected, rebuilt, never served.
        for damage in ["truncate", "flip"] {
            var bytes = try Data(contentsOf: file)
            if damage == "truncate" { bytes = bytes.prefix(bytes.count - 100) } else { bytes[bytes.count / 2] ^= 0x5A }
            try bytes.write(to: file)
            let service = try makeService(directory)
            let (rebuilt, summary) = try await collect(service, request)
            #expect(!summary.fromCache, "a \(damage)d file must not be served")
            #expect(rebuilt == cold)
            await service.shutdown()
            #expect(try WaveformFile.decode([UInt8](Data(contentsOf: file)), key: key).sampleCount > 0, "rewritten whole")
        }
    }

    /// The checksum is computed while the file streams out in pieces of any length; it must equal FNV-1a over the
    /// whole file's 8-byte words (the tail zero-padded), computed here independently.
    @Test func theStreamedChecksumIsTheWholeFilesChecksum() throws {
        func reference(_ bytes: [UInt8]) -> UInt64 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            var padded = bytes
            padded += [UInt8](repeating: 0, count: (8 - bytes.count % 8) % 8)
            for word in stride(from: 0, to: padded.count, by: 8) {
                var value: UInt64 = 0
                for byte in 0..<8 { value |= UInt64(padded[word + byte]) << (8 * UInt64(byte)) }
                hash = (hash ^ value) &* 0x0000_0100_0000_01b3
            }
            if bytes.count % 8 == 0 { hash = hash &* 0x0000_0100_0000_01b3 }  // an empty tail is mixed in too
            return hash
        }
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 7, 8, 9, 63, 64, 1000, 4099] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            var pieces = WaveformFile.Checksum()
            var offset = 0
            while offset < length {
                let end = min(length, offset + Int.random(in: 1...20, using: &generator))
                bytes[offset..<end].withUnsafeBytes { pieces.update($0) }
                offset = end
            }
            #expect(pieces.value == reference(bytes), "length \(length)")
            #expect(WaveformFile.checksum(bytes[...]) == reference(bytes), "length \(length)")
        }
    }

    @Test func aChangedSourceIsAnalysedAgain() async throws {
        let directory = TestFiles.scratch("waveform-change")
        let source = directory.appendingPathComponent("clip.wav")
        try Data(contentsOf: URL(fileURLWithPath: MediaFixtures.wavMono)).write(to: source)
        let service = try makeService()
        defer { Task { await service.shutdown() } }
        let request = WaveformRangeRequest(sourcePath: source.path, startTime: 0, endTime: 1, resolution: .samplesPerPixel(256))
        let (before, _) = try await collect(service, request)
        _ = try await collect(service, request)
        // Rewrite with other content (the stereo tones, converted to WAV by the CLI).
        let other = try ReferenceTools.ffmpeg(["-v", "error", "-y", "-i", MediaFixtures.flacStereo, "-ac", "1", "-ar", "44100", source.path])
        try #require(other.status == 0)
        let (after, summary) = try await collect(service, request)
        #expect(!summary.fromCache, "another content is another pyramid")
        #expect(after != before)
    }

    @Test func badRequestsGetClearErrors() async throws {
        let service = try makeService()
        defer { Task { await service.shutdown() } }
        func error(_ request: WaveformRangeRequest) async -> (any Error)? {
            do {
                _ = try await collect(service, request)
                return nil
            } catch {
                return error
            }
        }
        let path = MediaFixtures.flacStereo
        let cases: [(WaveformRangeRequest, String)] = [
            (.init(sourcePath: path, startTime: 5, endTime: 6, resolution: .samplesPerPixel(256)), "startTime"),
            (.init(sourcePath: path, startTime: -1, endTime: 1, resolution: .samplesPerPixel(256)), "startTime"),
            (.init(sourcePath: path, startTime: 1, endTime: 1, resolution: .samplesPerPixel(256)), "endTime"),
            (.init(sourcePath: path, startTime: 1, endTime: 0.5, resolution: .samplesPerPixel(256)), "endTime"),
            (.init(sourcePath: path, startTime: 0, endTime: 1, resolution: .samplesPerPixel(0)), "samplesPerPixel"),
            (.init(sourcePath: path, startTime: 0, endTime: 1, resolution: .samplesPerPixel(1 << 30)), "samplesPerPixel"),
            (.init(sourcePath: path, startTime: 0, endTime: 1, resolution: .pixelsPerSecond(-3)), "pixelsPerSecond"),
            (.init(sourcePath: path, startTime: 0, endTime: 1, resolution: .pixelsPerSecond(1_000_000)), "pixelsPerSecond"),
            (.init(sourcePath: path, startTime: 0, endTime: 1, resolution: .samplesPerPixel(256), visibleStart: 0.8, visibleEnd: 0.2), "visibleEnd"),
        ]
        for (request, field) in cases {
            let caught = await error(request)
            guard case .invalidRange(let named, _)? = caught as? WaveformError else {
                Issue.record("\(request) gave \(String(describing: caught))")
                continue
            }
            #expect(named == field)
        }
        let noAudio = await error(.init(sourcePath: MediaFixtures.videoOnly, startTime: 0, endTime: 1, resolution: .samplesPerPixel(256)))
        guard case .unsupported? = noAudio as? MediaError else {
            Issue.record("no audio gave \(String(describing: noAudio))")
            return
        }
        let missing = await error(.init(sourcePath: "/no/such.wav", startTime: 0, endTime: 1, resolution: .samplesPerPixel(256)))
        #expect(missing as? MediaError == .fileNotFound(path: "/no/such.wav"))
        let notMedia = await error(
            .init(
                sourcePath: MediaFixtures.write("text.wav", Data("hello".utf8)), startTime: 0, endTime: 1,
                resolution: .samplesPerPixel(256)))
        #expect(notMedia is MediaError)
    }
}
