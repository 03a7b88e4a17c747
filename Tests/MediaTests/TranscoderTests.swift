import Foundation
import Media
import TestSupport
import Testing

/// End-to-end proxy tests, checked with MediaProbe and independently with ffprobe.
@Suite struct TranscoderTests {
    let settings = TranscodeSettings(target: .box(width: 1280, height: 720), videoBitRate: 1_000_000)

    func output(_ name: String) -> String { MediaFixtures.path("proxy-\(name)-\(UUID().uuidString).mp4") }

    func transcode(
        _ source: String, _ out: String, _ settings: TranscodeSettings? = nil,
        cancelAfter: Int? = nil, progress: ((TranscodeProgress) -> Void)? = nil
    ) throws -> TranscodeResult {
        var checks = 0
        return try Transcoder(sourcePath: source, outputPath: out, settings: settings ?? self.settings)
            .run(
                progress: { progress?($0) },
                isCancelled: {
                    checks += 1
                    return cancelAfter.map { checks > $0 } ?? false
                })
    }

    /// (key_frame, pict_type) of every video frame, from ffprobe.
    func frames(_ path: String) -> [(key: Bool, type: String)] {
        let json = ReferenceTools.ffprobe(path, ["-select_streams", "v", "-show_frames", "-show_entries", "frame=key_frame,pict_type"])
        return (json["frames"] as? [[String: Any]] ?? []).map { (($0["key_frame"] as? Int) == 1, $0["pict_type"] as? String ?? "?") }
    }

    func streams(_ path: String) -> [[String: Any]] {
        ReferenceTools.ffprobe(path, ["-show_streams"])["streams"] as? [[String: Any]] ?? []
    }

    @Test func h264AACProxy() throws {
        let out = output("av")
        var reports: [TranscodeProgress] = []
        let result = try transcode(MediaFixtures.h264AAC, out, progress: { reports.append($0) })
        #expect(result.width == 320 && result.height == 240)  // never upscaled
        #expect(result.videoEncoder == "libx264")
        #expect(result.hardwareFallbackReason == nil)
        #expect(result.hasAudio && result.audioBitRate == 64_000, "a mono track: 64 kb/s")
        #expect(result.audioTracks == [TranscodeResult.AudioTrack(channels: 1, bitRate: 64_000)])
        #expect(result.frameCount == 50 && result.frameRate == 25)
        #expect(reports.last?.percent == 100)
        #expect(reports.allSatisfy { (0...100).contains($0.percent) })

        // Our own probe.
        let info = try MediaProbe.probe(path: out)
        let source = try MediaProbe.probe(path: MediaFixtures.h264AAC)
        #expect(abs((info.durationSeconds ?? 0) - (source.durationSeconds ?? 0)) <= 1.0 / 25)
        let v = try #require(info.primaryVideoStream)
        #expect(v.codec == "h264" && v.width == 320 && v.height == 240 && v.frameRate == 25 && v.sampleAspectRatio == "1:1")

        // ffprobe as the independent reference.
        let s = streams(out)
        #expect(s.count == 2)
        let video = try #require(s.first { $0["codec_type"] as? String == "video" })
        let audio = try #require(s.first { $0["codec_type"] as? String == "audio" })
        #expect(video["codec_name"] as? String == "h264")
        #expect(video["width"] as? Int == 320 && video["height"] as? Int == 240)
        #expect(video["has_b_frames"] as? Int == 0)
        #expect(video["r_frame_rate"] as? String == "25/1" && video["avg_frame_rate"] as? String == "25/1")
        #expect(audio["codec_name"] as? String == "aac")
        #expect(audio["channel_layout"] as? String == "mono" && audio["channels"] as? Int == 1, "the source's one channel")
        #expect(audio["sample_rate"] as? String == "48000")
        let videoDuration = Double(video["duration"] as? String ?? "") ?? 0
        let audioDuration = Double(audio["duration"] as? String ?? "") ?? 0
        #expect(abs(videoDuration - 2.0) <= 1.0 / 25)
        #expect(abs(audioDuration - videoDuration) <= 1.0 / 25)  // A/V in step

        let list = frames(out)
        #expect(list.count == 50)
        #expect(!list.contains { $0.type == "B" })
        let keyIndices = list.indices.filter { list[$0].key }
        #expect(keyIndices.first == 0)
        let gaps = zip(keyIndices.dropFirst(), keyIndices).map { $0 - $1 } + [list.count - (keyIndices.last ?? 0)]
        #expect(gaps.allSatisfy { $0 <= 25 }, "keyframe gaps \(gaps)")

        // MP4 with the index first (faststart): 'moov' precedes 'mdat'.
        let head = try #require(FileManager.default.contents(atPath: out))
        let moov = head.range(of: Data("moov".utf8))!.lowerBound, mdat = head.range(of: Data("mdat".utf8))!.lowerBound
        #expect(moov < mdat)
        try? FileManager.default.removeItem(atPath: out)
    }

    @Test func surroundKeepsItsChannels() throws {
        let out = output("surround")
        let result = try transcode(MediaFixtures.surround, out)
        let audio = try #require(streams(out).first { $0["codec_type"] as? String == "audio" })
        #expect(audio["channels"] as? Int == 6 && audio["channel_layout"] as? String == "5.1" && audio["codec_name"] as? String == "aac")
        #expect(result.audioTracks == [TranscodeResult.AudioTrack(channels: 6, bitRate: 384_000)])
        // The sound is there, not silence: mean volume well above digital silence.
        let volume = (try? ReferenceTools.ffmpeg(["-i", out, "-af", "volumedetect", "-f", "null", "-"]))?.stderr ?? ""
        let mean =
            volume.split(separator: "\n").first { $0.contains("mean_volume") }
            .flatMap { Double($0.split(separator: " ").dropLast().last ?? "") } ?? -200
        #expect(mean > -40, "mean volume \(mean) dB")
        try? FileManager.default.removeItem(atPath: out)
    }

    /// Channels with no known positions (ten: no layout has that count) are kept as discrete channels, the first seven
    /// of them on 7.1's full-range channels (its LFE is band-limited by the encoder, so it stays silent), each with its
    /// own sound; 6.1 becomes 7.1 (AAC has no 6.1), 16 channels are mixed down to 7.1.
    @Test func unusualChannelCountsBecomeEightChannels() throws {
        let ten = (0..<10).map { "sin(\(300 + 40 * $0)*2*PI*t)" }.joined(separator: "|")
        let source = MediaFixtures.make(
            "channels-10-7-16.mkv",
            [
                "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-f", "lavfi", "-i", "aevalsrc=\(ten):d=1:s=48000",
                "-f", "lavfi", "-i", "sine=frequency=300:duration=1", "-filter_complex",
                "[2]asplit[x][y];[x]aformat=channel_layouts=6.1[a];[y]aformat=channel_layouts=hexadecagonal[b]",
                "-map", "0:v", "-map", "1:a", "-map", "[a]", "-map", "[b]", "-c:v", "libx264", "-preset", "ultrafast",
                "-c:a", "pcm_s16le",
            ]
        )
        let out = output("channels")
        let result = try transcode(source, out)
        #expect(result.audioTracks.map(\.channels) == [8, 8, 8])
        let audio = streams(out).filter { $0["codec_type"] as? String == "audio" }
        #expect(audio.map { $0["channel_layout"] as? String } == ["7.1", "7.1", "7.1"])
        // Seven channels of the first track carry a tone, the LFE (the fourth) nothing.
        let filter = "astats=measure_overall=none:measure_perchannel=RMS_level"
        let stats = (try? ReferenceTools.ffmpeg(["-i", out, "-map", "0:a:0", "-af", filter, "-f", "null", "-"]))?.stderr ?? ""
        let levels = stats.split(separator: "\n").filter { $0.contains("RMS level dB:") }.compactMap {
            Double($0.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "")
        }
        let heard = levels.enumerated().allSatisfy { $0.offset == 3 ? $0.element < -60 : $0.element > -10 }
        #expect(levels.count == 8 && heard, "per-channel RMS: \(levels)")
        try? FileManager.default.removeItem(atPath: out)
    }

    /// A second audio stream in a codec this FFmpeg cannot decode (its Matroska codec id changed to an unknown one) is
    /// left out, saying so; the proxy is made with the first.
    @Test func anUndecodableFurtherAudioStreamIsLeftOut() throws {
        let source = MediaFixtures.make(
            "two-audio-pcm.mkv",
            [
                "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1", "-f", "lavfi", "-i", "sine=frequency=300:duration=1",
                "-f", "lavfi", "-i", "sine=frequency=500:duration=1", "-map", "0", "-map", "1", "-map", "2",
                "-c:v", "libx264", "-preset", "ultrafast", "-c:a:0", "aac", "-c:a:1", "pcm_s16le",
            ])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        let codecId = try #require(bytes.range(of: Data("A_PCM/INT/LIT".utf8)))
        bytes.replaceSubrange(codecId, with: Data("A_QQQ/INT/LIT".utf8))
        let damaged = MediaFixtures.path("two-audio-unknown-\(UUID().uuidString).mkv")
        try bytes.write(to: URL(fileURLWithPath: damaged))
        let out = output("unknown-audio")
        let result = try transcode(damaged, out)
        #expect(result.audioTracks.count == 1 && result.skippedAudioStreams.count == 1, "\(result.skippedAudioStreams)")
        #expect(result.skippedAudioStreams.first?.hasPrefix("audio stream 1") == true)
        #expect(streams(out).filter { $0["codec_type"] as? String == "audio" }.count == 1)
        try? FileManager.default.removeItem(atPath: out)
        try? FileManager.default.removeItem(atPath: damaged)
    }

    @Test func variableFrameRateBecomesConstant() throws {
        let sourceFrames = frames(MediaFixtures.variableFrameRate).count
        #expect(sourceFrames < 70)  // the fixture really dropped frames (64 of 75)
        let out = output("vfr")
        let result = try transcode(MediaFixtures.variableFrameRate, out)
        #expect(result.frameRate == 25)
        let video = try #require(streams(out).first { $0["codec_type"] as? String == "video" })
        #expect(video["r_frame_rate"] as? String == "25/1")
        #expect(video["avg_frame_rate"] as? String == "25/1")
        let count = frames(out).count
        let sourceDuration = try #require(try MediaProbe.probe(path: MediaFixtures.variableFrameRate).durationSeconds)
        #expect(abs(Double(count) / 25 - sourceDuration) <= 1.0 / 25 + 1e-9, "\(count) frames for \(sourceDuration) s")
        // Every packet lasts exactly one frame.
        let packets = ReferenceTools.ffprobe(out, ["-select_streams", "v", "-show_packets", "-show_entries", "packet=duration_time"])
        let durations = Set((packets["packets"] as? [[String: Any]] ?? []).compactMap { $0["duration_time"] as? String })
        #expect(durations == ["0.040000"])
        try? FileManager.default.removeItem(atPath: out)
    }

    @Test func videoWithoutAudio() throws {
        let out = output("noaudio")
        let result = try transcode(MediaFixtures.videoOnly, out)
        #expect(!result.hasAudio && result.audioBitRate == nil)
        let s = streams(out)
        #expect(s.map { $0["codec_type"] as? String } == ["video"])
        #expect(s.first?["color_primaries"] as? String == "bt709")
        #expect(s.first?["color_transfer"] as? String == "bt709")
        #expect(s.first?["color_space"] as? String == "bt709")
        try? FileManager.default.removeItem(atPath: out)
    }

    @Test func rotationIsAppliedToThePixels() throws {
        let out = output("rotated")
        let result = try transcode(MediaFixtures.rotated, out)
        #expect(result.width == 240 && result.height == 320)
        let info = try MediaProbe.probe(path: out)
        #expect(info.primaryVideoStream?.rotation == nil)
        // Same picture as ffmpeg's own autorotation of the source, whose BT.601 (untagged SD) is converted to the
        // proxy's BT.709 by the CLI in floating point.
        let ssim =
            (try? ReferenceTools.ffmpeg([
                "-i", out, "-i", MediaFixtures.rotated,
                "-lavfi",
                "[0:v]format=yuv444p[a];[1:v]scale=in_color_matrix=bt601:in_range=tv,format=gbrpf32le,"
                    + "scale=out_color_matrix=bt709:out_range=tv,format=yuv444p[b];[a][b]ssim",
                "-f", "null", "-",
            ]))?.stderr ?? ""
        let all = ssim.split(separator: " ").first { $0.hasPrefix("All:") }.flatMap { Double($0.dropFirst(4)) } ?? 0
        #expect(all > 0.95, "SSIM vs autorotated source: \(all)")
        try? FileManager.default.removeItem(atPath: out)
    }

    @Test func cancellationRemovesTheOutput() throws {
        let out = output("cancel")
        #expect(throws: MediaError.cancelled) { try transcode(MediaFixtures.h264AAC, out, cancelAfter: 10) }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func audioOnlyAndStillImagesAreUnsupported() throws {
        for source in [MediaFixtures.audioOnly, MediaFixtures.png] {
            let out = output("unsupported")
            do {
                _ = try transcode(source, out)
                Issue.record("\(source) transcoded")
            } catch let error as MediaError {
                guard case .unsupported(let path, _) = error else {
                    Issue.record("\(error)")
                    continue
                }
                #expect(path == source)
            }
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    @Test func hardwareAutoFallsBackToX264WithAReason() throws {
        let out = output("hw")
        var hw = settings
        hw.hardwareAcceleration = .auto
        let result = try transcode(MediaFixtures.videoOnly, out, hw)
        #expect(result.videoEncoder == "libx264")
        let reason = try #require(result.hardwareFallbackReason)
        #expect(reason.contains("h264_nvenc") && reason.contains("h264_vaapi") && reason.contains("h264_qsv"))
        try? FileManager.default.removeItem(atPath: out)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/full")))
    func fullDiskIsReported() throws {
        #expect(throws: MediaError.diskFull(path: "/dev/full")) { try transcode(MediaFixtures.h264AAC, "/dev/full") }
        #expect(FileManager.default.fileExists(atPath: "/dev/full"))
    }

    @Test func brokenSourcesThrow() throws {
        let missing = MediaFixtures.path("nope.mp4")
        #expect(throws: MediaError.fileNotFound(path: missing)) { try transcode(missing, output("missing")) }
        let cut = MediaFixtures.cut(MediaFixtures.h264AAC, "transcode-cut.mp4")
        #expect(throws: MediaError.self) { try transcode(cut, output("cut")) }
    }
}
