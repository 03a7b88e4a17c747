import Foundation
import TestSupport
import Testing

@testable import Media

/// `AudioSampleReader` against the ffmpeg CLI's own decode of the same files (an independent reference).
@Suite struct AudioSampleReaderTests {
    static let formats: [(String, Int)] = [
        (MediaFixtures.wavMono, 1), (MediaFixtures.flacStereo, 2), (MediaFixtures.mp3Stereo, 2), (MediaFixtures.aacSurround, 6),
        (MediaFixtures.opusStereo, 2),
    ]

    /// The CLI's float samples of the first audio stream, per channel.
    static func reference(_ path: String, channels: Int) throws -> [[Float]] {
        let output = try ReferenceTools.ffmpeg(["-v", "error", "-i", path, "-map", "0:a:0", "-f", "f32le", "-c:a", "pcm_f32le", "-"])
        try #require(output.status == 0, "\(output.stderr)")
        let samples = output.stdout.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return (0..<channels).map { channel in stride(from: channel, to: samples.count, by: channels).map { samples[$0] } }
    }

    /// Everything the reader delivers from `sample` on (a seek) or from the start, per channel.
    static func read(_ path: String, from sample: Int64? = nil) throws -> (first: Int64, channels: [[Float]]) {
        let reader = try AudioSampleReader(source: MediaSource(path: path))
        var channels = Array(repeating: [Float](), count: reader.channelCount)
        var first: Int64?
        var expected: Int64?
        try reader.read(from: sample) { chunk in
            if first == nil { first = chunk.firstSample }
            if let expected { #expect(chunk.firstSample == expected, "chunks are contiguous") }
            expected = chunk.firstSample + Int64(chunk.frameCount)
            for (index, buffer) in chunk.channels.enumerated() { channels[index].append(contentsOf: buffer) }
            return true
        }
        return (first ?? -1, channels)
    }

    @Test(arguments: formats)
    func aStraightReadGivesTheSamplesTheCLIDecodes(path: String, channels: Int) throws {
        let reader = try AudioSampleReader(source: MediaSource(path: path))
        #expect(reader.channelCount == channels)
        let expected = try Self.reference(path, channels: channels)
        let (first, got) = try Self.read(path)
        #expect(first == 0)
        #expect(got.map(\.count) == expected.map(\.count), "sample counts per channel")
        for channel in 0..<channels {
            let difference = zip(got[channel], expected[channel]).map { abs($0 - $1) }.max() ?? 0
            #expect(difference < 1e-6, "\(URL(fileURLWithPath: path).lastPathComponent) channel \(channel): max difference \(difference)")
        }
    }

    /// A read that starts mid-file (a seek with pre-roll) gives the same samples as a straight read, placed at the
    /// same indices.
    @Test(arguments: formats)
    func aReadFromASampleMatchesAStraightRead(path: String, channels: Int) throws {
        let whole = try Self.read(path).channels
        let start: Int64 = 40_000
        let (first, part) = try Self.read(path, from: start)
        #expect(first == start)
        for channel in 0..<channels {
            let reference = Array(whole[channel][Int(start)...])
            #expect(part[channel].count == reference.count)
            let difference = zip(part[channel], reference).map { abs($0 - $1) }.max() ?? 0
            #expect(difference < 1e-4, "\(URL(fileURLWithPath: path).lastPathComponent) channel \(channel): max difference \(difference)")
        }
    }

    /// One reader asked for 300 places in a long FLAC, in a scattered order (as waveform windows are asked for):
    /// each read starts exactly where asked with the samples of a straight read. A seek libav cannot do (its binary
    /// search failing part-way) goes back to the start and reads on; it was reported as "Permission denied"
    /// (libav's generic -1 is AVERROR(EPERM)).
    @Test func manyScatteredSeeksInALongFLACAllLandWhereAsked() throws {
        let path = MediaFixtures.flacLong
        let whole = try Self.read(path).channels
        let reader = try AudioSampleReader(source: MediaSource(path: path))
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<300 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            // Half of them in the last three seconds, where the search has least room.
            let span = state & 1 == 0 ? UInt64(whole[0].count - 4096) : 3 * 48_000
            let start = Int64(whole[0].count - 4096) - Int64((state >> 33) % span)
            var got = [Float]()
            var first: Int64?
            try reader.read(from: start) { chunk in
                if first == nil { first = chunk.firstSample }
                got.append(contentsOf: chunk.channels[1])
                return got.count < 2048
            }
            #expect(first == start)
            let reference = whole[1][Int(start)..<Int(start) + min(got.count, 2048)]
            let difference = zip(got, reference).map { abs($0 - $1) }.max() ?? 1
            #expect(got.count >= 2048 && difference < 1e-4, "from sample \(start): \(got.count) samples, max difference \(difference)")
        }
    }

    @Test func aFileWithoutAudioIsUnsupported() throws {
        #expect(throws: MediaError.self) { try AudioSampleReader(source: MediaSource(path: MediaFixtures.videoOnly)) }
        do {
            _ = try AudioSampleReader(source: MediaSource(path: MediaFixtures.videoOnly))
        } catch let error as MediaError {
            guard case .unsupported(let path, let reason) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(path == MediaFixtures.videoOnly && reason.contains("no audio"))
        }
    }
}
