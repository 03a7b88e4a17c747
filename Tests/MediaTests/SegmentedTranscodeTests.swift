import Foundation
import Media
import TestSupport
import Testing

/// A proxy made in segments and joined (`TranscodePart`, `SegmentPlan`, `SegmentJoiner`) against the same proxy made in
/// one pass, checked with the ffmpeg CLI: the same frames at the same times, the same audio to the sample, and pictures
/// as good at the seams as elsewhere.
@Suite struct SegmentedTranscodeTests {
    let settings = TranscodeSettings(target: .box(width: 640, height: 360), videoBitRate: 1_000_000)

    /// 12 s of 640x360 at 25 fps, H.264 with B-frames and a keyframe every second, a stereo and a 5.1 track, a timecode.
    static let source = MediaFixtures.make(
        "segmented-source.mp4",
        [
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
            "-f", "lavfi", "-i", "aevalsrc=0.5*sin(2*PI*440*t)|0.3*sin(2*PI*(300+100*t)*t):s=48000",
            "-f", "lavfi", "-i",
            "aevalsrc=0.1*sin(2*PI*200*t)|0.2*sin(2*PI*300*t)|0.3*sin(2*PI*400*t)|0.4*sin(2*PI*80*t)|0.5*sin(2*PI*500*t)|0.6*sin(2*PI*600*t):s=44100:c=5.1",
            "-map", "0:v", "-map", "1:a", "-map", "2:a", "-t", "12",
            "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-bf", "2", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "160k", "-timecode", "10:00:00:00",
        ])
    /// The same pictures in MPEG-TS, whose demuxer keeps no keyframe index: segments are cut by time alone.
    static let transportStream = MediaFixtures.make(
        "segmented-source.ts",
        [
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-f", "lavfi", "-i", "sine=frequency=500:sample_rate=48000",
            "-t", "9", "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-bf", "2", "-pix_fmt", "yuv420p",
            "-c:a", "aac",
        ])

    func scratch(_ name: String) -> String { MediaFixtures.path("segmented-\(name)-\(UUID().uuidString)") }

    func make(_ part: TranscodePart, of source: String, into path: String) throws -> TranscodeResult {
        try Transcoder(sourcePath: source, outputPath: path, settings: settings, part: part).run(progress: { _ in }, isCancelled: { false })
    }

    /// Makes every part of a plan and joins them; returns the joined file and the plan. Each video segment is made on
    /// its own, or (`inRuns`) all in one run (`SegmentRun`: one encoder going on from each segment into the next),
    /// as the server makes consecutive segments.
    func segmented(
        _ source: String, nominalSeconds: Double, inRuns: Bool = false
    ) throws -> (path: String, plan: SegmentPlan, results: [TranscodeResult]) {
        let plan = try SegmentPlan.make(path: source, nominalSeconds: nominalSeconds)
        var paths: [String] = []
        var results: [TranscodeResult] = []
        if inRuns {
            let first = scratch("v0.m4s")
            let run = SegmentRun(
                next: { finished in
                    guard finished.index + 1 < plan.segments.count else { return nil }
                    return (plan.segments[finished.index + 1], self.scratch("v\(finished.index + 1).m4s"))
                },
                completed: { segment in
                    paths.append(segment.outputPath)
                    results.append(segment.result)
                })
            let tail = try Transcoder(sourcePath: source, outputPath: first, settings: settings, part: .video(plan.segments[0], of: plan))
                .feed(progress: { _ in }, isCancelled: { false }, run: run)
            #expect(paths.count == plan.segments.count - 1, "every segment but the last is complete once fed")
            let last = try tail.finish()
            for segment in tail.completedBeforeLast {
                paths.append(segment.outputPath)
                results.append(segment.result)
            }
            #expect(tail.segment == plan.segments.last)
            paths.append(tail.outputPath)
            results.append(last)
            // Each segment of the run starts on a keyframe and plays on its own.
            for (index, path) in paths.enumerated() {
                let packets = ReferenceTools.ffprobe(path, ["-show_packets", "-select_streams", "v"])["packets"] as? [[String: Any]] ?? []
                #expect((packets.first?["flags"] as? String)?.hasPrefix("K") == true, "segment \(index) starts on a keyframe")
                let decoded = try ReferenceTools.ffmpeg(["-v", "error", "-i", path, "-f", "null", "-"])
                #expect(decoded.status == 0 && decoded.stderr.isEmpty, "segment \(index): \(decoded.stderr)")
            }
        } else {
            for segment in plan.segments {
                let path = scratch("v\(segment.index).m4s")
                results.append(try make(.video(segment, of: plan), of: source, into: path))
                paths.append(path)
            }
        }
        #expect(paths.count == plan.segments.count)
        let audio = scratch("audio.m4a")
        _ = try make(.audio, of: source, into: audio)
        let joined = scratch("joined.mp4")
        _ = try SegmentJoiner.join(
            videoSegments: paths, audio: audio, frameRate: (plan.frameRateNumerator, plan.frameRateDenominator),
            sourcePath: source, output: joined)
        return (joined, plan, results)
    }

    /// The MD5 of audio track `track` decoded to 32-bit float.
    func audioMD5(_ path: String, track: Int) throws -> String {
        let out = try ReferenceTools.ffmpeg(["-loglevel", "error", "-i", path, "-map", "0:a:\(track)", "-c:a", "pcm_f32le", "-f", "md5", "-"])
        #expect(out.status == 0, "\(out.stderr)")
        return String(decoding: out.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Per-frame SSIM of `path` against `reference` scaled to its size.
    func ssim(_ path: String, against reference: String, width: Int, height: Int) throws -> [Double] {
        let stats = scratch("ssim.log")
        let out = try ReferenceTools.ffmpeg([
            "-loglevel", "error", "-i", path, "-i", reference, "-lavfi",
            "[1:v]scale=\(width):\(height):flags=area,format=yuv420p[r];[0:v]format=yuv420p[d];[d][r]ssim=stats_file=\(stats)",
            "-f", "null", "-",
        ])
        #expect(out.status == 0, "\(out.stderr)")
        let lines = (try? String(contentsOfFile: stats, encoding: .utf8))?.split(separator: "\n") ?? []
        return lines.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("All:") }.flatMap { Double($0.dropFirst(4)) }
        }
    }

    @Test func planCutsAtKeyframes() throws {
        let plan = try SegmentPlan.make(path: Self.source, nominalSeconds: 2)
        #expect(plan.frameRate == 25 && plan.audioStreams == 2)
        #expect(plan.segments.count == 6, "12 s in segments of about 2 s: \(plan.segments)")
        #expect(plan.segments.first?.startSlot == 0 && plan.segments.last?.endSlot == nil)
        for (segment, next) in zip(plan.segments, plan.segments.dropFirst()) {
            #expect(segment.endSlot == next.startSlot, "segments follow each other")
            #expect(next.startSlot % 25 == 0, "a boundary is a source keyframe (one a second): \(next.startSlot)")
            #expect(next.startSlot - segment.startSlot >= 50)
        }
        #expect(plan.segment(containing: 5.0).index == 2 && plan.segment(containing: -1).index == 0 && plan.segment(containing: 99).index == 5)
        #expect(try SegmentPlan.make(path: Self.source, nominalSeconds: 2) == plan, "the same source is always cut the same way")
    }

    @Test(arguments: [false, true]) func joinedProxyIsTheOnePassProxy(inRuns: Bool) throws {
        let (joined, plan, results) = try segmented(Self.source, nominalSeconds: 2, inRuns: inRuns)
        let onePass = scratch("one-pass.mp4")
        let whole = try make(.whole, of: Self.source, into: onePass)

        // The same frames at the same times: none repeated or missing at a seam.
        #expect(results.map(\.frameCount).reduce(0, +) == whole.frameCount)
        let times = ReferenceTools.videoPacketTimes(joined)
        #expect(times == ReferenceTools.videoPacketTimes(onePass))
        #expect(times.count == 300 && times.first == 0 && zip(times, times.dropFirst()).allSatisfy { $1 - $0 == 40 })
        for segment in plan.segments.dropFirst() {
            #expect(times.contains(Int(plan.seconds(ofSlot: segment.startSlot) * 1000)))
        }

        // Every audio track, to the sample: the same AAC as the one-pass encode (made continuously, not per segment).
        for track in 0..<2 { #expect(try audioMD5(joined, track: track) == audioMD5(onePass, track: track)) }
        let streams = ReferenceTools.ffprobe(joined, ["-show_streams", "-show_format"])
        let list = streams["streams"] as? [[String: Any]] ?? []
        #expect(list.compactMap { $0["channels"] as? Int } == [2, 6])
        let tags = (list.first?["tags"] as? [String: Any]) ?? [:]
        #expect(tags["timecode"] as? String == "10:00:00:00")
        let data = try Data(contentsOf: URL(fileURLWithPath: joined))
        #expect(data.range(of: Data("moov".utf8))!.lowerBound < data.range(of: Data("mdat".utf8))!.lowerBound, "the index is at the front")

        // Pictures: as good as the one-pass proxy overall, and no worse at the seams.
        let scores = try ssim(joined, against: Self.source, width: 640, height: 360)
        let reference = try ssim(onePass, against: Self.source, width: 640, height: 360)
        #expect(scores.count == 300)
        let mean = scores.reduce(0, +) / Double(scores.count)
        let referenceMean = reference.reduce(0, +) / Double(reference.count)
        #expect(mean >= referenceMean - 0.003, "segmented \(mean) vs one pass \(referenceMean)")
        let median = scores.sorted()[scores.count / 2]
        for segment in plan.segments.dropFirst() {
            let seam = Int(segment.startSlot)
            for frame in [seam - 1, seam] {
                #expect(scores[frame] >= median - 0.005, "frame \(frame) at a seam: \(scores[frame]), median \(median)")
            }
        }
    }

    @Test(arguments: [false, true]) func sourceWithoutAnIndexIsCutByTime(inRuns: Bool) throws {
        let (joined, plan, _) = try segmented(Self.transportStream, nominalSeconds: 2, inRuns: inRuns)
        #expect(plan.segments.count >= 4)
        let onePass = scratch("one-pass-ts.mp4")
        _ = try make(.whole, of: Self.transportStream, into: onePass)
        let times = ReferenceTools.videoPacketTimes(joined)
        #expect(times == ReferenceTools.videoPacketTimes(onePass) && times.count >= 225)
        #expect(try audioMD5(joined, track: 0) == audioMD5(onePass, track: 0))
        // Against the one-pass proxy (the transport stream's own timing offsets the source's frames): the same picture
        // in every slot, as good at a seam as elsewhere.
        let scores = try ssim(joined, against: onePass, width: 640, height: 360)
        #expect(scores.count == times.count && scores.allSatisfy { $0 > 0.97 })
        let median = scores.sorted()[scores.count / 2]
        for segment in plan.segments.dropFirst() {
            #expect(scores[Int(segment.startSlot)] >= median - 0.01, "seam at \(segment.startSlot)")
        }
    }

    @Test func segmentsOfOtherSettingsAreNotJoined() throws {
        let plan = try SegmentPlan.make(path: Self.source, nominalSeconds: 2)
        let first = scratch("a.m4s")
        let second = scratch("b.m4s")
        _ = try make(.video(plan.segments[0], of: plan), of: Self.source, into: first)
        var other = settings
        other.target = .box(width: 320, height: 180)
        _ = try Transcoder(sourcePath: Self.source, outputPath: second, settings: other, part: .video(plan.segments[1], of: plan))
            .run(progress: { _ in }, isCancelled: { false })
        let joined = scratch("mixed.mp4")
        #expect(throws: MediaError.self) {
            _ = try SegmentJoiner.join(videoSegments: [first, second], audio: nil, frameRate: (25, 1), sourcePath: nil, output: joined)
        }
        #expect(!FileManager.default.fileExists(atPath: joined), "nothing is left of a refused join")
    }
}
