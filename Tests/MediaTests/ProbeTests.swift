import Foundation
import TestSupport
import Testing

@testable import Media

@Suite struct MediaProbeTests {
    @Test func h264AndAACFields() throws {
        let info = try MediaProbe.probe(path: MediaFixtures.h264AAC)
        #expect(info.formatName.contains("mp4"))
        #expect(abs((info.durationSeconds ?? 0) - 2.0) < 0.05)
        #expect(info.sizeBytes == Int64(try FileManager.default.attributesOfItem(atPath: MediaFixtures.h264AAC)[.size] as! Int))
        #expect((info.bitRate ?? 0) > 0)
        #expect(info.streams.count == 2)
        let v = try #require(info.primaryVideoStream)
        #expect(v.index == 0 && v.type == "video" && v.codec == "h264")
        #expect(v.codecLongName?.contains("H.264") == true)
        #expect(v.profile == "High")
        #expect(v.width == 320 && v.height == 240)
        #expect(v.sampleAspectRatio == "1:1")
        #expect(v.pixelFormat == "yuv420p")
        #expect(v.frameRate == 25)
        #expect(v.rotation == nil)
        #expect(v.frameCount == 50)
        #expect(v.isAttachedPicture == false)
        let a = try #require(info.primaryAudioStream)
        #expect(a.index == 1 && a.codec == "aac" && a.profile == "LC")
        #expect(a.sampleRate == 48000 && a.channels == 1 && a.channelLayout == "mono")
        #expect(a.width == nil && a.frameRate == nil)
    }

    @Test func colourTags() throws {
        let v = try #require(try MediaProbe.probe(path: MediaFixtures.videoOnly).primaryVideoStream)
        #expect(v.colorPrimaries == "bt709" && v.colorTransfer == "bt709" && v.colorSpace == "bt709")
        #expect(try MediaProbe.probe(path: MediaFixtures.videoOnly).primaryAudioStream == nil)
    }

    @Test func multichannelAudio() throws {
        let a = try #require(try MediaProbe.probe(path: MediaFixtures.surround).primaryAudioStream)
        let reference = ReferenceTools.ffprobe(MediaFixtures.surround, ["-show_streams", "-select_streams", "a"])
        let stream = (reference["streams"] as? [[String: Any]])?.first
        #expect(a.channels == 6)
        #expect(a.channelLayout == stream?["channel_layout"] as? String)
        #expect(a.channelLayout?.hasPrefix("5.1") == true)
    }

    @Test func rotationIsClockwiseFromTheDisplayMatrix() throws {
        let v = try #require(try MediaProbe.probe(path: MediaFixtures.rotated).primaryVideoStream)
        // ffprobe prints av_display_rotation_get (counter-clockwise); we report the clockwise turn.
        let reference = ReferenceTools.ffprobe(MediaFixtures.rotated, ["-show_streams", "-select_streams", "v"])
        let sideData = ((reference["streams"] as? [[String: Any]])?.first?["side_data_list"] as? [[String: Any]])?.first
        let ccw = try #require(sideData?["rotation"] as? Int)
        #expect(ccw == 90)
        #expect(v.rotation == 270)
        #expect(v.width == 320 && v.height == 240)  // stored size; rotation is metadata
    }

    @Test func audioOnlyAndImage() throws {
        let audio = try MediaProbe.probe(path: MediaFixtures.audioOnly)
        #expect(audio.streams.map(\.type) == ["audio"])
        #expect(audio.primaryVideoStream == nil)
        let image = try MediaProbe.probe(path: MediaFixtures.png)
        #expect(image.formatName == "png_pipe")
        #expect(image.streams.count == 1)
        #expect(image.streams[0].codec == "png" && image.streams[0].width == 320 && image.streams[0].height == 240)
    }

    // MARK: errors

    func probeError(_ path: String) -> MediaError? {
        do {
            _ = try MediaProbe.probe(path: path)
            return nil
        } catch { return error as? MediaError }
    }

    @Test func missingDirectoryEmpty() throws {
        let missing = MediaFixtures.path("does-not-exist.mp4")
        #expect(probeError(missing) == .fileNotFound(path: missing))
        #expect(probeError(MediaFixtures.directory) == .notARegularFile(path: MediaFixtures.directory))
        let empty = MediaFixtures.write("empty.mp4", Data())
        #expect(probeError(empty) == .emptyFile(path: empty))
        #expect(MediaError.emptyFile(path: empty).description.contains(empty))
    }

    @Test(.enabled(if: getuid() != 0, "root can read a chmod 000 file"))
    func unreadable() throws {
        let file = MediaFixtures.write("unreadable.mp4", Data([1, 2, 3]))
        chmod(file, 0)
        #expect(probeError(file) == .permissionDenied(path: file))
    }

    @Test func notMedia() throws {
        let text = MediaFixtures.write("notes.txt", Data("just some words, not a video\n".utf8))
        // Seeded, so the run is repeatable: some random byte strings look like a text format to libav.
        var random = SplitMix64(seed: 0xA0_2A_ED_1A)
        let noise = MediaFixtures.write("noise.mp4", Data((0..<65536).map { _ in UInt8.random(in: 0...255, using: &random) }))
        // Lyrics (LRC) open with a demuxer but hold only a subtitle stream: not media to an editor.
        let lyrics = MediaFixtures.write("lyrics.mov", Data("[00:01.00]first line\n[00:02.50]second line\n".utf8))
        for path in [text, noise, lyrics] {
            guard case .notMedia(let p, _) = probeError(path) else {
                Issue.record("\(path) gave \(String(describing: probeError(path)))")
                continue
            }
            #expect(p == path)
        }
    }

    @Test func truncatedContainers() throws {
        let cases = [
            MediaFixtures.cut(MediaFixtures.notFaststart, "nofs-cut.mp4"),  // moov lost
            MediaFixtures.cut(MediaFixtures.h264AAC, "fs-cut.mp4"),  // index points past EOF
            MediaFixtures.cut(MediaFixtures.mkv, "cut.mkv"),
            MediaFixtures.cut(MediaFixtures.ts, "cut.ts", extraBytes: 7),
        ]
        for path in cases {
            guard case .truncated(let p, let reason) = probeError(path) else {
                Issue.record("\(path) gave \(String(describing: probeError(path)))")
                continue
            }
            #expect(p == path)
            #expect(!reason.isEmpty)
        }
        // The intact originals probe fine.
        for path in [MediaFixtures.notFaststart, MediaFixtures.mkv, MediaFixtures.ts, MediaFixtures.fragmented] {
            #expect(probeError(path) == nil)
        }
        // A fragmented MP4 whose last fragment is cut off.
        let cutFragment = MediaFixtures.cut(MediaFixtures.fragmented, "frag-cut.mp4", fraction: 0.97)
        if case .truncated = probeError(cutFragment) {} else { Issue.record("cut fragment gave \(String(describing: probeError(cutFragment)))") }
    }

    /// Bytes after the media are not missing media: padding, a recovered copy, a recorder that pre-allocates.
    @Test func trailingBytesAreNotTruncation() throws {
        var random = SplitMix64(seed: 0x7A11)
        let junk = Data((0..<50_000).map { _ in UInt8.random(in: 0...255, using: &random) })
        let fakeBox = Data([0x7f, 0xff, 0xff, 0xff]) + Data("mdat".utf8) + Data(count: 1000)
        let tails: [(String, Data)] = [("junk", junk), ("zeros", Data(count: 4096)), ("few", Data("ABC".utf8)), ("box", fakeBox)]
        for (source, ext) in [
            (MediaFixtures.h264AAC, "mp4"), (MediaFixtures.notFaststart, "mp4"), (MediaFixtures.fragmented, "mp4"),
            (MediaFixtures.mkv, "mkv"), (MediaFixtures.ts, "ts"),
        ] {
            let original = try #require(FileManager.default.contents(atPath: source))
            let duration = try MediaProbe.probe(path: source).durationSeconds
            for (name, tail) in tails {
                let path = MediaFixtures.write("tail-\(name)-\(URL(fileURLWithPath: source).lastPathComponent).\(ext)", original + tail)
                do {
                    let info = try MediaProbe.probe(path: path)
                    if let duration, let found = info.durationSeconds { #expect(abs(found - duration) < 0.2, "\(path)") }
                } catch {
                    Issue.record("\(path) with \(name) appended: \(error)")
                }
            }
        }
    }
}
