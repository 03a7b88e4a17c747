import Foundation
import JSONRPC
import TestSupport
import Testing

/// Proxies made in segments (protocol/spec.md §10.9), through the real binary: the playhead's segment first and a jump
/// obeyed, frames from a proxy in progress exactly inside its coverage, `kill -9` and resumption (a damaged segment
/// made again), a source that changes mid-job. ffprobe checks what is joined.
@Suite(.timeLimit(.minutes(10)))
struct SegmentedProxyEndToEndTests {
    /// 36 s of 1280x720 at 25 fps (a keyframe a second) with stereo audio: segments 0–10, 10–20, 20–30 and 30–36 s,
    /// and a Draft proxy (854x480) that takes a few seconds per segment even on a fast machine.
    static func source() async throws -> URL {
        try await MediaFixtures.mediaOffPool(
            "segmented-e2e-720p.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                "-t", "36", "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac",
            ])
    }

    static let draft: [String: JSONValue] = ["quality": .string("Draft")]

    /// The `report` values of `token`'s progress, in order.
    static func reports(_ server: ServerProcess, token: JSONValue) -> [JSONValue] {
        server.notifications("$/progress").compactMap { params -> JSONValue? in
            guard params["token"] == token, let value = params["value"], value["kind"] == .string("report") else { return nil }
            return value
        }
    }

    static func ranges(_ coverage: JSONValue?) -> [ClosedRange<Double>] {
        (coverage?.arrayValue ?? []).compactMap { range in
            guard let pair = range.arrayValue, pair.count == 2, let start = pair[0].doubleValue, let end = pair[1].doubleValue else { return nil }
            return start...end
        }
    }

    static func covers(_ coverage: JSONValue?, _ time: Double) -> Bool {
        ranges(coverage).contains { $0.lowerBound <= time && time < $0.upperBound }
    }

    /// The first report (its index) whose coverage holds `time`.
    static func firstCovering(_ time: Double, in reports: [JSONValue]) -> Int? {
        reports.firstIndex { covers($0["coverage"], time) }
    }

    /// A copy of a playlist and the files it names, in a folder of its own, ended with `#EXT-X-ENDLIST`.
    static func snapshot(playlist: String, text: String) throws -> String {
        let folder = MediaFixtures.temporaryDirectory(named: "playlist")
        let source = URL(fileURLWithPath: playlist).deletingLastPathComponent()
        var names = Set<String>()
        for line in text.split(separator: "\n") {
            if !line.hasPrefix("#") { names.insert(String(line)) }
            if line.hasPrefix("#EXT-X-MAP:URI=\""), let name = line.dropFirst(16).split(separator: "\"").first { names.insert(String(name)) }
        }
        for name in names {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        let copy = folder.appendingPathComponent("playlist.m3u8")
        try Data((text + "#EXT-X-ENDLIST\n").utf8).write(to: copy)
        return copy.path
    }

    static func segmentFiles(_ cache: String) -> [String] {
        ProxyE2E.proxyFiles(cache).filter { $0.hasSuffix(".segments") }.flatMap { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: cache + "/proxies/" + folder)) ?? []).map { folder + "/" + $0 }
        }.sorted()
    }

    /// A whole Draft proxy of the 36 s source: 900 frames, 40 ms apart, from 0, with its audio; no segment left.
    static func expectWholeProxy(_ record: JSONValue?, cache: String) {
        guard let path = record?["proxyPath"]?.stringValue else {
            Issue.record("no proxy: \(String(describing: record))")
            return
        }
        let times = ReferenceTools.videoPacketTimes(path)
        #expect(times.count == 900 && times.first == 0 && zip(times, times.dropFirst()).allSatisfy { $1 - $0 == 40 })
        #expect(record?["segmentsCompleted"] == record?["segmentCount"] && record?["segmentCount"] == .int(5), "\(String(describing: record))")
        #expect(ranges(record?["coverage"]) == [0...36])
        let streams = ReferenceTools.ffprobe(path, ["-show_streams"])["streams"] as? [[String: Any]] ?? []
        #expect(streams.compactMap { $0["codec_type"] as? String } == ["video", "audio"])
        #expect(segmentFiles(cache).isEmpty, "the segments go once the proxy is joined: \(segmentFiles(cache))")
        #expect(SharedCacheEndToEndTests.partialFiles(cache).isEmpty)
    }

    @Test func thePlayheadsSegmentComesFirstAndAJumpReordersTheRest() async throws {
        // (Each `requestFrame` below also moves the playhead; the last ones and the jump agree on 10–20 s.)
        // Made in runs (one encoder going on from a segment into the next while it is next in order), the job would
        // go on from 20–30 s into 30–36 s; the jump to 15 s, sent while 20–30 s is encoded, ends that run at 30 s.
        let source = try await Self.source()
        let server = try ServerProcess()
        _ = try await server.initialize()
        _ = try await server.call("setQuality", ["mode": .string("proxy"), "quality": .string("Draft")])
        let token = JSONValue.string("playhead-first")
        let ticket = try await server.call(
            "generate", Self.draft.merging(["sourcePath": .string(source.path), "startTime": .double(20), "workDoneToken": token]) { $1 })
        #expect(ticket["resumedSegments"] == .int(0))

        // The user jumps to 15 s while the segment at 20 s (the third) is encoded: it finishes, then 10–20 s comes
        // before 30–36 s and 0–10 s, which would come next without the jump.
        _ = try await server.waitFor(timeout: .seconds(120)) {
            $0["params"]?["token"] == token && $0["params"]?["value"]?["message"]?.stringValue?.hasPrefix("Encoding segment 3 of") == true
        }
        server.notify("setPlayhead", ["sourcePath": .string(source.path), "time": .double(15), "rate": .double(0)])

        // The first segment finished is the one holding 20 s (20–30 s).
        let first = try await server.waitFor(timeout: .seconds(120)) {
            $0["params"]?["token"] == token && !Self.ranges($0["params"]?["value"]?["coverage"]).isEmpty
        }
        let coverage = first["params"]?["value"]?["coverage"]
        #expect(Self.ranges(coverage) == [20...30], "\(String(describing: coverage))")
        #expect(first["params"]?["value"]?["segmentCount"] == .int(5))

        // Frames from the proxy in progress: `fromProxy` exactly inside the coverage.
        for time in [21.0, 29.9, 11.0, 15.0] {
            let before = try await server.call("status", ["sourcePath": .string(source.path)].merging(Self.draft) { $1 })
            let frame = try await server.call("requestFrame", ["sourcePath": .string(source.path), "time": .double(time), "width": .int(160)])
            let after = try await server.call("status", ["sourcePath": .string(source.path)].merging(Self.draft) { $1 })
            if Self.covers(before["coverage"], time) { #expect(frame["fromProxy"] == .bool(true), "\(time) s is covered: \(frame)") }
            if !Self.covers(after["coverage"], time) { #expect(frame["fromProxy"] == .bool(false), "\(time) s is not covered: \(frame)") }
            #expect(abs((frame["time"]?.doubleValue ?? -1) - time) < 0.04, "the picture shown at \(time) s: \(frame)")
        }

        // The playlist of the finished segments around the playhead, once the audio part (made second) is there: the
        // ffmpeg CLI plays it without an error, every frame of what it covers.
        var partial: JSONValue? = nil
        let deadline = TestDeadline.after(.seconds(120))
        while partial == nil && ContinuousClock.now < deadline {
            let resolved = try await server.call("resolve", ["sourcePath": .string(source.path)])
            #expect(resolved["path"] == .string(source.path) && resolved["usingProxy"] == .bool(false))
            partial = resolved["partialProxy"]
            if partial == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let playlist = try #require(partial?["playlistPath"]?.stringValue, "resolve never offered a playlist")
        let span = Self.ranges(.array([partial?["coverage"] ?? .null]))
        #expect(span.first.map { $0.lowerBound <= 20 && $0.upperBound >= 30 } == true, "a run holding 20–30 s: \(String(describing: partial))")
        let text = try String(contentsOfFile: playlist, encoding: .utf8)
        #expect(text.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && text.contains("#EXT-X-MAP:") && !text.contains("#EXT-X-ENDLIST"), "\(text)")
        // Read as it is now (copied, with the end mark a finished EVENT playlist gets, so the CLI does not wait for more).
        let copy = try Self.snapshot(playlist: playlist, text: text)
        let decoded = try ReferenceTools.ffmpeg(["-v", "error", "-i", copy, "-f", "null", "-"])
        #expect(decoded.status == 0 && decoded.stderr.isEmpty, "the ffmpeg CLI: \(decoded.stderr)")
        let counted = ReferenceTools.ffprobe(copy, ["-count_packets", "-show_streams"])["streams"] as? [[String: Any]] ?? []
        let frames = counted.first { $0["codec_type"] as? String == "video" }?["nb_read_packets"] as? String
        let expected = Int(((span.first?.upperBound ?? 0) - (span.first?.lowerBound ?? 0)) * 25 + 0.5)
        #expect(frames.flatMap(Int.init).map { $0 >= expected } == true, "\(String(describing: frames)) frames, \(expected) covered")
        #expect(counted.contains { $0["codec_type"] as? String == "audio" }, "the playlist carries the primary audio track")

        let done = try await server.waitFor(timeout: .seconds(240)) {
            $0["params"]?["token"] == token && $0["params"]?["value"]?["kind"] == .string("end")
        }
        #expect(done["params"]?["value"]?["outcome"] == .string("completed"), "\(done)")
        let reports = Self.reports(server, token: token)
        let jumped = try #require(Self.firstCovering(15, in: reports))
        let start = try #require(Self.firstCovering(5, in: reports))
        let after = try #require(Self.firstCovering(33, in: reports))
        #expect(jumped < after && jumped < start, "the segment at the new playhead (10–20 s) was made before 30–36 s and 0–10 s")
        // Every report's coverage only grows, and the job never reports less done than before.
        for (earlier, later) in zip(reports, reports.dropFirst()) {
            #expect((later["segmentsCompleted"]?.intValue ?? 0) >= (earlier["segmentsCompleted"]?.intValue ?? 0))
        }
        let status = try await server.call("status", ["sourcePath": .string(source.path)].merging(Self.draft) { $1 })
        #expect(status["status"] == .string("completed"))
        Self.expectWholeProxy(status, cache: server.cacheDirectory)
        let frame = try await server.call("requestFrame", ["sourcePath": .string(source.path), "time": .double(5), "width": .int(160)])
        #expect(frame["fromProxy"] == .bool(true))
    }

    @Test func killedMidwayTheNextGenerateResumesAndADamagedSegmentIsMadeAgain() async throws {
        let source = try await Self.source()
        let cache = MediaFixtures.temporaryDirectory(named: "cache-segments-kill").path
        let first = try ServerProcess(cacheDirectory: cache)
        _ = try await first.initialize()
        let token = JSONValue.string("to-be-killed")
        _ = try await first.call("generate", Self.draft.merging(["sourcePath": .string(source.path), "workDoneToken": token]) { $1 })
        _ = try await first.waitFor(timeout: .seconds(180)) {
            $0["params"]?["token"] == token && ($0["params"]?["value"]?["segmentsCompleted"]?.intValue ?? 0) >= 2
        }
        first.kill()
        _ = try await first.waitForExit()
        #expect(try await OffPool.run { try CrashSafetyEndToEndTests.integrityCheck(cache + "/catalogue.sqlite") } == "ok")

        // What was finished survives; one finished segment is then damaged behind the server's back.
        // The parts (not the HLS segments and playlists made of them).
        let finished = Self.segmentFiles(cache).filter { ($0.hasSuffix(".m4s") && !$0.contains("-hls-")) || $0.hasSuffix("-audio.m4a") }
        try #require(finished.count >= 2, "\(finished)")
        let damaged = try #require(finished.first { $0.hasSuffix(".m4s") })
        let handle = try #require(FileHandle(forUpdatingAtPath: cache + "/proxies/" + damaged))
        try handle.seek(toOffset: 2000)
        try handle.write(contentsOf: Data(repeating: 0x5a, count: 64))
        try handle.close()

        let second = try ServerProcess(cacheDirectory: cache)
        _ = try await second.initialize()
        let settled = try await second.call("status", ["sourcePath": .string(source.path)].merging(Self.draft) { $1 })
        #expect(settled["status"] == .string("failed") && (settled["segmentsCompleted"]?.intValue ?? 0) >= 2, "\(settled)")
        let token2 = JSONValue.string("resumed")
        let again = try await second.request(
            "generate",
            Self.draft.merging(["sourcePath": .string(source.path), "backgroundGeneration": .bool(false), "workDoneToken": token2]) { $1 },
            timeout: .seconds(240))
        let result = try #require(again["result"], "\(again)")
        // The catalogue's count at the request (the damaged one is found when the job checks its files).
        #expect(result["resumedSegments"]?.intValue == finished.count, "\(result)")
        let reports = Self.reports(second, token: token2).filter { $0["segmentsCompleted"] != nil }
        #expect(reports.first?["segmentsCompleted"]?.intValue == finished.count - 1, "the damaged segment is not counted: \(reports.first ?? .null)")
        #expect(second.stderr.contains("damaged or missing"), "\(second.stderr)")
        Self.expectWholeProxy(result["proxy"], cache: cache)
    }

    @Test func aSourceThatChangesBetweenSegmentsFailsTheJobAndNothingIsJoined() async throws {
        let source = try ProxyE2E.copy(try await Self.source(), as: "changing-\(UUID().uuidString).mp4")
        let server = try ServerProcess()
        _ = try await server.initialize()
        let token = JSONValue.string("changing")
        let id = server.sendRequest(
            "generate", Self.draft.merging(["sourcePath": .string(source.path), "backgroundGeneration": .bool(false), "workDoneToken": token]) { $1 })
        _ = try await server.waitFor(timeout: .seconds(120)) {
            $0["params"]?["token"] == token && ($0["params"]?["value"]?["segmentsCompleted"]?.intValue ?? 0) >= 1
        }
        // The file is rewritten in place (new modification time and bytes at its start).
        let handle = try #require(FileHandle(forUpdatingAtPath: source.path))
        try handle.seek(toOffset: 100)
        try handle.write(contentsOf: Data(repeating: 0, count: 16))
        try handle.close()
        let response = try await server.response(id, timeout: .seconds(120))
        #expect(response.errorCode == -32008, "\(response)")
        #expect(response.errorMessage.contains("changed"), "\(response.errorMessage)")
        #expect(!ProxyE2E.proxyFiles(server.cacheDirectory).contains { $0.hasSuffix(".mp4") }, "nothing is joined")
        #expect(SharedCacheEndToEndTests.partialFiles(server.cacheDirectory).isEmpty)
    }
}
