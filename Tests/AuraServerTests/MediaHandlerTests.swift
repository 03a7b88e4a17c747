import Foundation
import JSONRPC
import TestSupport
import Testing

/// The media handlers on the real server in memory: waveform windows pulled from the service and encoded by the
/// handler, scrub frames from the proxy the catalogue names (and from the source once it is gone), delivered files
/// in the frame cache directory the settings name, and import items carrying the error a request would get.
@Suite(.timeLimit(.minutes(10)))
struct MediaHandlerTests {
    /// 1 s of 320x240 H.264 with AAC: enough for a Draft proxy in a second.
    static func clip() async throws -> String {
        try await MediaFixtures.mediaOffPool(
            "media-handlers-clip.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
            ]
        ).path
    }

    /// 6 s of stereo tones.
    static func tones() async throws -> String {
        try await MediaFixtures.mediaOffPool(
            "media-handlers-tones.flac",
            [
                "-f", "lavfi", "-i", "aevalsrc=0.8*sin(2*PI*220*t)|0.4*sin(2*PI*330*t):s=44100:d=6", "-c:a", "flac",
            ]
        ).path
    }

    @Test func waveformWindowsStreamVisibleFirstAndTheResponseHoldsThemInTimeOrder() async throws {
        let server = ServerHarness()
        try await server.initialize()
        let path = try await Self.tones()
        let streamed = try await server.call(
            "requestWaveformRange",
            #"""
            {"sourcePath":\#(json(path)),"startTime":0,"endTime":6,"pixelsPerSecond":50,"windowSeconds":1,
             "visibleStart":4,"visibleEnd":5,"partialResultToken":"wave"}
            """#)
        let windows = server.notifications("$/progress").filter { $0["params"]?["token"] == .string("wave") }
            .flatMap { $0["params"]?["value"]?["windows"]?.arrayValue ?? [] }
        let count = try #require(streamed["windowCount"]?.intValue)
        #expect(count >= 6 && streamed["windows"] == nil, "\(streamed)")
        let order = windows.compactMap { $0["index"]?.intValue }
        #expect(order.count == count && Set(order) == Set(0..<count), "every window once: \(order)")
        // The windows showing part of 4–5 s first, then by distance from that range.
        let distances = windows.map { window -> Double in
            let start = window["startTime"]?.doubleValue ?? 0, end = window["endTime"]?.doubleValue ?? 0
            return end > 4 && start < 5 ? 0 : (start >= 5 ? start - 5 : 4 - end)
        }
        #expect(distances.first == 0 && distances == distances.sorted(), "visible first, then by distance: \(distances)")

        let collected = try await server.call(
            "requestWaveformRange",
            #"""
            {"sourcePath":\#(json(path)),"startTime":0,"endTime":6,"pixelsPerSecond":50,"windowSeconds":1}
            """#)
        let inline = collected["windows"]?.arrayValue ?? []
        #expect(inline.compactMap { $0["index"]?.intValue } == Array(0..<count), "without a token: every window, in time order")
        #expect(collected["fromCache"] == .bool(true))
        #expect(inline.map { $0["max"] } == order.sorted().compactMap { index in windows.first { $0["index"] == .int(index) }?["max"] })
        #expect(try await server.close() == 0)
    }

    @Test func scrubFramesFollowTheCatalogueAtOnceAndFilesFollowTheSettings() async throws {
        let server = ServerHarness()
        try await server.initialize()
        let clip = try await Self.clip()
        _ = try await server.call("setQuality", #"{"mode":"proxy","quality":"Draft"}"#)
        let frame = #"{"sourcePath":\#(json(clip)),"time":0.5,"width":64}"#
        #expect(try await server.call("requestFrame", frame)["fromProxy"] == .bool(false), "no proxy yet")

        _ = try await server.call("generate", #"{"sourcePath":\#(json(clip)),"quality":"Draft","backgroundGeneration":false,"force":true}"#)
        #expect(try await server.call("requestFrame", frame)["fromProxy"] == .bool(true), "the new proxy is used at once")
        #expect(try await server.call("requestFrame", frame)["fromProxy"] == .bool(true))

        _ = try await server.call("clearCache", #"{"scope":"proxies"}"#)
        #expect(try await server.call("requestFrame", frame)["fromProxy"] == .bool(false), "a cleared proxy is not read again")

        // Files: in this process's folder of the frame cache directory, then of the new one once the setting changes.
        let asFile = #"{"sourcePath":\#(json(clip)),"time":0.5,"width":64,"delivery":"file"}"#
        let first = try #require(try await server.call("requestFrame", asFile)["path"]?.stringValue)
        #expect(first.hasPrefix(server.directory.appendingPathComponent("frames/frames/").path), "\(first)")
        let moved = server.directory.appendingPathComponent("frames-2").path
        _ = try await server.call("updateSettings", #"{"settings":{"frameCacheDirectory":\#(json(moved))}}"#)
        #expect(!FileManager.default.fileExists(atPath: first), "the old directory's files are gone")
        let second = try #require(try await server.call("requestFrame", asFile)["path"]?.stringValue)
        #expect(second.hasPrefix(moved + "/frames/") && FileManager.default.fileExists(atPath: second), "\(second)")
        let stats = try await server.call("stats")
        #expect(stats["frameCache"]?["cacheDirectory"] == .string(moved) && stats["frameCache"]?["files"] == .int(1), "\(stats)")

        // A directory that cannot be used: -32021, and the settings stay as they were.
        let blocker = server.directory.appendingPathComponent("not-a-directory")
        try Data("x".utf8).write(to: blocker)
        let refused = try await server.send("updateSettings", #"{"settings":{"frameCacheDirectory":\#(json(blocker.path))}}"#)
        #expect(refused.errorCode == -32021, "\(refused)")
        #expect(try await server.call("getSettings")["frameCacheDirectory"] == .string(moved))
        #expect(try await server.close() == 0)
    }

    @Test func importItemsSayWhatHappenedAndAFailedOneCarriesTheRequestsError() async throws {
        let server = ServerHarness()
        try await server.initialize()
        let clip = try await Self.clip()
        let truncated = await OffPool.run { MediaFixtures.cut(MediaFixtures.notFaststart, "media-handlers-truncated.mp4") }
        let notes = server.directory.appendingPathComponent("notes.txt")
        try Data("not a clip".utf8).write(to: notes)
        let result = try await server.call(
            "importMedia",
            #"""
            {"paths":[\#(json(clip)),\#(json(truncated)),\#(json(notes.path)),"/nonexistent/clip.mp4"],"quality":"Draft"}
            """#)
        let items = result["items"]?.arrayValue ?? []
        try #require(items.count == 4, "\(result)")
        // 320x240 is under Draft's box: imported (its waveform queued), no proxy.
        #expect(items[0]["status"] == .string("imported") && items[0]["proxy"] == .string("notNeeded") && items[0]["error"] == nil)
        #expect(items[0]["quality"] == .string("Draft") && items[0]["kind"] == .string("video"))
        #expect(items[1]["status"] == .string("failed") && items[1]["reason"] == .string("cannot be read"))
        #expect(items[1]["error"]?["code"] == .int(-32007), "the code a probe of the file answers: \(items[1])")
        #expect(items[1]["error"]?["message"]?.stringValue?.isEmpty == false)
        #expect(items[2]["status"] == .string("skipped") && items[2]["reason"] == .string("not media"))
        #expect(items[3]["status"] == .string("skipped") && items[3]["reason"] == .string("missing"))
        #expect(result["queuedProxies"] == .int(0))
        #expect(try await server.close() == 0)
    }

    @Test func probeExportAndPlayheadAnswerInMemory() async throws {
        let server = ServerHarness()
        try await server.initialize()
        let tones = try await Self.tones()
        let info = try await server.call("probe", #"{"path":\#(json(tones))}"#)
        let audio = info["streams"]?.arrayValue?.first { $0["type"] == .string("audio") }
        #expect(audio?["channels"] == .int(2) && audio?["sampleRate"] == .int(44100), "\(info)")
        #expect(try await server.send("probe", #"{"path":"/nonexistent/clip.mp4"}"#).errorCode == -32001)

        let output = server.directory.appendingPathComponent("tones.dat").path
        let exported = try await server.call(
            "exportWaveform", #"{"sourcePath":\#(json(tones)),"outputPath":\#(json(output)),"samplesPerPixel":441,"bits":8}"#)
        // 6 s at 44.1 kHz in 441-sample pixels: 600 pixels, one mixed channel, min and max of one byte each.
        #expect(exported["length"] == .int(600) && exported["version"] == .int(1) && exported["bits"] == .int(8), "\(exported)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: output))
        #expect(bytes.count == 20 + 600 * 2 && exported["sizeBytes"] == .int(bytes.count))
        let refused = try await server.send(
            "exportWaveform", #"{"sourcePath":\#(json(tones)),"outputPath":\#(json(tones))}"#)
        #expect(refused.errorCode == -32602, "the source is never the output: \(refused)")

        // setPlayhead preloads what comes next: the pictures just ahead are then answered from the cache.
        let clip = try await Self.clip()
        _ = try await server.call("setQuality", #"{"mode":"source"}"#)
        _ = try await server.call("requestFrame", #"{"sourcePath":\#(json(clip)),"time":0.1,"width":64}"#)
        server.connection.notify("setPlayhead", #"{"sourcePath":\#(json(clip)),"time":0.1,"rate":1}"#)
        let ahead = #"{"sourcePath":\#(json(clip)),"time":0.5,"width":64}"#
        // Waits on the preload counter, not on requests for the picture (one of those would cache it itself).
        let deadline = TestDeadline.after(.seconds(30))
        func preloaded() async throws -> Int { try await server.call("stats")["frameCache"]?["preloaded"]?.intValue ?? 0 }
        while try await preloaded() < 12, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try await server.call("requestFrame", ahead)["fromCache"] == .bool(true), "0.5 s was preloaded")
        #expect(try await server.close() == 0)
    }
}
