import Foundation
import JSONRPC
import TestSupport
import Testing

/// The protocol handlers on the real server, in memory (`ServerHarness`): what a client sees of initialize, the quality
/// toggle, settings, proxy slots and the lifecycle, without spawning a process. The end-to-end suites keep what needs
/// one (framing on real pipes, exit statuses, crashes, processes sharing a cache).
@Suite(.timeLimit(.minutes(10)))
struct ServerHandlerTests {
    /// A readable file that is not media: enough for everything that fingerprints a source without decoding it.
    static func plainFile(_ name: String = "notes.txt") throws -> String {
        let url = TestFiles.scratch("sources").appendingPathComponent(name)
        try Data("not a clip".utf8).write(to: url)
        return url.path
    }

    @Test func initializeReportsEveryMethodPresetAndCodeAndTheSettingsInForce() async throws {
        let server = ServerHarness()
        let result = try await server.initialize(options: #"{"maxConcurrentJobs":2,"defaultQuality":"Draft"}"#)
        let methods = result["capabilities"]?["methods"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(methods == methods.sorted())
        for method in [
            "initialize", "shutdown", "generate", "status", "cancelGeneration", "stats", "clearCache", "setQuality",
            "resolve", "getSettings", "updateSettings", "requestWaveformRange", "exportWaveform", "requestFrame",
            "getMetricsSummary", "importMedia", "probe", "ping",
        ] {
            #expect(methods.contains(method), "\(method) missing from \(methods)")
        }
        let presets = result["capabilities"]?["proxyPresets"]?.arrayValue ?? []
        #expect(presets.compactMap { $0["name"]?.stringValue } == ["Draft", "Preview", "High"])
        #expect(presets.filter { $0["isDefault"] == .bool(true) }.compactMap { $0["name"]?.stringValue } == ["Preview"])
        #expect(result["capabilities"]?["errorCodes"]?["jobNotFound"] == .int(-32020))
        #expect(result["settings"]?["maxConcurrentJobs"] == .int(2))
        #expect(result["settings"]?["defaultQuality"] == .string("Draft"))
        #expect(result["settings"]?["cacheDirectory"]?.stringValue == server.directory.appendingPathComponent("proxies").path)
        #expect(result["previewState"]?["quality"] == .string("Draft"), "the session starts at the default quality")
        #expect(try await server.close() == 0)
    }

    @Test func setQualityAnnouncesAChangeBeforeAnsweringAndOnlyAChange() async throws {
        let server = ServerHarness()
        try await server.initialize()
        let source = try await server.call("setQuality", #"{"mode":"source"}"#)
        #expect(source["badge"]?["label"] == .string("Source Quality") && source["badge"]?["color"] == .string("green"))
        #expect(source["quality"] == .string("Preview"), "the quality is kept when none is given")
        let notified = try #require(server.connection.index { $0["method"] == .string("previewModeChanged") })
        let answered = try #require(server.connection.index { $0["result"]?["mode"] == .string("source") })
        #expect(notified < answered, "previewModeChanged comes before the response")

        _ = try await server.call("setQuality", #"{"mode":"source"}"#)
        #expect(server.notifications("previewModeChanged").count == 1, "no change, no notification")
        let proxy = try await server.call("setQuality", #"{"mode":"proxy","quality":"High"}"#)
        #expect(proxy["badge"]?["label"] == .string("Proxy Active") && proxy["quality"] == .string("High"))
        #expect(server.notifications("previewModeChanged").count == 2)

        let wrong = try await server.send("setQuality", #"{"mode":"proxy","quality":"Ultra"}"#)
        #expect(wrong.errorCode == -32602)
        #expect(wrong.errorMessage.contains("quality"), "\(wrong)")
        #expect(try await server.close() == 0)
    }

    @Test func resolveSaysWhichFileToOpenAndWhy() async throws {
        let server = ServerHarness()
        try await server.initialize()
        let path = try Self.plainFile()
        let noProxy = try await server.call("resolve", #"{"sourcePath":\#(json(path))}"#)
        #expect(noProxy["usingProxy"] == .bool(false) && noProxy["path"] == .string(path))
        #expect(noProxy["reason"] == .string("no proxy yet") && noProxy["proxyStatus"] == .string("none"))

        _ = try await server.call("setQuality", #"{"mode":"source"}"#)
        let sourceMode = try await server.call("resolve", #"{"sourcePath":\#(json(path))}"#)
        #expect(sourceMode["reason"] == .string("proxy mode is off") && sourceMode["proxyStatus"] == .string("none"))

        let missing = try await server.send("resolve", #"{"sourcePath":"/nonexistent/clip.mp4"}"#)
        #expect(missing.errorCode == -32001)
        let relative = try await server.send("resolve", #"{"sourcePath":"clip.mp4"}"#)
        #expect(relative.errorCode == -32602)
        #expect(try await server.close() == 0)
    }

    @Test func settingsPatchesAreCheckedMemberByMemberAndApplyToTheRequestsThatFollow() async throws {
        let server = ServerHarness()
        try await server.initialize()
        let refused = try await server.send("updateSettings", #"{"settings":{"maxConcurrentJobs":0}}"#)
        #expect(refused.errorCode == -32602)
        #expect(refused.errorMessage == "parameter 'settings.maxConcurrentJobs' must be between 1 and 16")
        let unknown = try await server.send("updateSettings", #"{"settings":{"turbo":true}}"#)
        #expect(unknown.errorCode == -32602)

        let updated = try await server.call("updateSettings", #"{"settings":{"defaultQuality":"High","cacheLimitBytes":5368709120}}"#)
        #expect(updated["defaultQuality"] == .string("High") && updated["cacheLimitBytes"] == .int(5_368_709_120))
        #expect(try await server.call("getSettings") == updated)

        let path = try Self.plainFile()
        let status = try await server.call("status", #"{"sourcePath":\#(json(path))}"#)
        #expect(
            status == .object(["status": .string("none"), "sourcePath": .string(path), "quality": .string("High")]),
            "a request that names no quality uses the default quality")
        #expect(try await server.close() == 0)
    }

    @Test func cancelGenerationNeedsExactlyOneOfJobIdAndSourcePath() async throws {
        let server = ServerHarness()
        try await server.initialize()
        let neither = try await server.send("cancelGeneration", "{}")
        #expect(neither.errorCode == -32602)
        #expect(neither.errorMessage == "exactly one of 'jobId' and 'sourcePath' is required")
        let both = try await server.send("cancelGeneration", #"{"jobId":"job-1","sourcePath":"/a.mp4"}"#)
        #expect(both.errorCode == -32602)
        let unknown = try await server.send("cancelGeneration", #"{"jobId":"job-000000000000"}"#)
        #expect(unknown.errorCode == -32020)
        let path = try Self.plainFile()
        let noJob = try await server.send("cancelGeneration", #"{"sourcePath":\#(json(path)),"quality":"Draft"}"#)
        #expect(noJob.errorCode == -32020)
        #expect(try await server.close() == 0)
    }

    @Test func aDraftProxyIsMadeReportedCountedUsedAndCleared() async throws {
        let server = ServerHarness()
        try await server.initialize()
        let clip = try await MediaFixtures.mediaOffPool(
            "server-handlers-clip.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
            ]
        ).path
        let generated = try await server.call(
            "generate",
            #"""
            {"sourcePath":\#(json(clip)),"quality":"Draft","backgroundGeneration":false,"workDoneToken":"draft-1","force":true}
            """#)
        #expect(generated["status"] == .string("completed") && generated["quality"] == .string("Draft"))
        let proxyPath = try #require(generated["proxy"]?["proxyPath"]?.stringValue)
        #expect(FileManager.default.fileExists(atPath: proxyPath))
        #expect(proxyPath.hasPrefix(server.directory.path))

        let progress = server.notifications("$/progress").filter { $0["params"]?["token"] == .string("draft-1") }
        #expect(progress.first?["params"]?["value"]?["kind"] == .string("begin"))
        #expect(progress.last?["params"]?["value"]?["kind"] == .string("end"))
        #expect(progress.last?["params"]?["value"]?["outcome"] == .string("completed"))

        let stats = try await server.call("stats")
        #expect(stats["totalProxies"] == .int(1) && stats["byQuality"]?["Draft"]?["count"] == .int(1))
        #expect(stats["byQuality"]?["Preview"]?["count"] == .int(0))

        _ = try await server.call("setQuality", #"{"mode":"proxy","quality":"Draft"}"#)
        let resolved = try await server.call("resolve", #"{"sourcePath":\#(json(clip))}"#)
        #expect(resolved["usingProxy"] == .bool(true) && resolved["path"] == .string(proxyPath))
        #expect(resolved["reason"] == .string("using the Draft proxy"))

        let cleared = try await server.call("clearCache", #"{"scope":"proxies"}"#)
        #expect(cleared["deletedFiles"] == .int(1))
        #expect(!FileManager.default.fileExists(atPath: proxyPath))
        #expect(try await server.call("stats")["totalProxies"] == .int(0))
        #expect(try await server.close() == 0)
    }

    @Test func afterShutdownRequestsAreRefusedAndExitEndsCleanly() async throws {
        let server = ServerHarness()
        try await server.initialize()
        #expect(try await server.send("shutdown")["result"] == .null)
        let late = try await server.send("ping")
        #expect(late.errorCode == -32600)
        server.connection.notify("exit")
        #expect(try await server.connection.waitForExitCodes() == [0])
        #expect(server.connection.shutdownCount.withLock { $0 } == 1)
    }

    @Test func pingEchoesAndTelemetryReportsReachTheSummary() async throws {
        let server = ServerHarness()
        try await server.initialize()
        let pong = try await server.call("ping", #"{"echo":{"n":1}}"#)
        #expect(pong["echo"] == .object(["n": .int(1)]) && pong["serverTime"] != nil)
        for fps in [30, 29, 31] {
            server.connection.notify("telemetry/report", #"{"playbackFps":\#(fps),"scrubLatencyMs":20,"cacheHit":true}"#)
        }
        // Reports are taken as they arrive: the summary is asked again until it holds the three.
        var summary = try await server.call("getMetricsSummary")
        let deadline = TestDeadline.after(.seconds(10))
        while summary["playbackFps"]?["reports"] != .int(3), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
            summary = try await server.call("getMetricsSummary")
        }
        #expect(summary["playbackFps"]?["reports"] == .int(3) && abs((summary["playbackFps"]?["p50"]?.doubleValue ?? 0) - 30) < 0.5, "\(summary)")
        #expect(summary["scrubLatencySource"] == .string("client") && summary["cacheHitRateSource"] == .string("client"))
        #expect(summary["status"]?["playbackFps"] == .string("ok"), "\(summary)")
        #expect(try await server.close() == 0)
    }
}
