import Foundation
import JSONRPC
import TestSupport
import Testing

/// Issue 9 end to end: telemetry (`telemetry/report`, `getMetricsSummary`, one warning per episode), saved settings
/// (round trip, restart, a damaged file) and `importMedia` / `aura-media import`.
@Suite(.timeLimit(.minutes(10)))
struct TelemetryEndToEndTests {
    static func warnings(_ server: ServerProcess, containing text: String) -> [String] {
        server.notifications("window/logMessage").filter { $0["type"] == .int(2) }
            .compactMap { $0["message"]?.stringValue }.filter { $0.contains(text) }
    }

    @Test func reportedNumbersComeBackAsTheSummary() async throws {
        let server = try ServerProcess()
        _ = try await server.initialize()
        for ms in 1...100 { server.notify("telemetry/report", ["scrubLatencyMs": .int(ms), "cacheHit": .bool(ms % 4 != 0)]) }
        for fps in [30.0, 30, 30, 29.97, 12] { server.notify("telemetry/report", ["playbackFps": .double(fps)]) }
        server.notify("telemetry/report", ["droppedFrames": .int(3)])
        server.notify("telemetry/report", ["droppedFrames": .int(2), "playbackFps": .double(-5)])  // a negative FPS is ignored
        _ = try await server.call("ping")
        let summary = try await server.call("getMetricsSummary")
        func near(_ value: JSONValue?, _ expected: Double) -> Bool {
            guard let number = value?.doubleValue else { return false }
            return abs(number - expected) <= expected * 0.01 + 0.01
        }
        let scrub = try #require(summary["scrubLatencyMs"])
        #expect(scrub["samples"] == .int(100) && summary["scrubLatencySource"] == .string("client"))
        #expect(near(scrub["p50"], 50) && near(scrub["p95"], 95) && near(scrub["p99"], 99), "\(scrub)")
        #expect(summary["cacheHitRate"]?.doubleValue == 0.75 && summary["cacheHitRateSource"] == .string("client"))
        let fps = try #require(summary["playbackFps"])
        #expect(fps["current"]?.doubleValue == 12 && fps["reports"] == .int(5), "\(fps)")
        #expect(near(fps["p50"], 30) && near(fps["p5"], 12), "\(fps)")
        #expect(summary["droppedFrames"] == .int(5))
        #expect(summary["windowSeconds"]?.doubleValue == 60)
        #expect(
            summary["status"]
                == .object([
                    "playbackFps": .string("ok"), "scrubLatencyMs": .string("warning"),
                    "cacheHitRate": .string("ok"), "proxyRealtimeFactor": .string("no data"),
                    "proxyCacheUsage": .string("ok"),
                ]))
        #expect(
            summary["targets"]
                == .object([
                    "playbackFps": .int(24), "scrubLatencyMs": .int(50), "cacheHitRate": .double(0.5),
                    "proxyRealtimeFactor": .int(1), "proxyCacheUsage": .double(0.9),
                ]))
        let suggestions = summary["suggestions"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(suggestions.count == 1 && suggestions[0].contains("Scrub latency is high"), "\(suggestions)")
        // Method latencies: the server's own measurements.
        let ping = try #require(summary["methods"]?["ping"])
        #expect(ping["count"] == .int(1) && ping["errors"] == .int(0) && (ping["p50"]?.doubleValue ?? -1) >= 0)
        #expect(try OpenRPCDocument.load().validateResult(of: "getMetricsSummary", summary) == [])
    }

    @Test func aMissedTargetWarnsOncePerEpisodeWithTheGuidesAdvice() async throws {
        let clip = try await ProxyE2E.copy(ProxyE2E.clip1080(), as: "telemetry-clip.mp4")
        let small = try await ProxyE2E.copy(MediaFixtures.shortClip(), as: "telemetry-small.mp4")
        let server = try ServerProcess()
        _ = try await server.initialize()
        // Scrubbing a clip that has no proxy, in proxy mode, slowly: the advice names the clip and why. A 320x240 clip
        // needs none (it is its own), so it is not named.
        _ = try await server.call("requestFrame", ["sourcePath": .string(clip.path), "time": .double(0.5), "width": .int(64)])
        _ = try await server.call("requestFrame", ["sourcePath": .string(small.path), "time": .double(0.5), "width": .int(64)])
        for _ in 0..<20 { server.notify("telemetry/report", ["scrubLatencyMs": .int(120)]) }
        let scrubWarning = try await server.waitFor {
            $0["method"] == .string("window/logMessage")
                && ($0["params"]?["message"]?.stringValue ?? "").contains("Scrub latency is high")
        }
        let text = scrubWarning["params"]?["message"]?.stringValue ?? ""
        #expect(text.contains("telemetry-clip.mp4 (it has no Preview proxy)") && !text.contains("telemetry-small.mp4"), "\(text)")
        // Playback: one warning for the whole episode, none while it lasts, a new one after a recovery.
        for _ in 0..<10 { server.notify("telemetry/report", ["playbackFps": .int(12)]) }
        _ = try await server.waitFor {
            $0["method"] == .string("window/logMessage")
                && ($0["params"]?["message"]?.stringValue ?? "").contains("below 24 FPS")
        }
        for _ in 0..<10 { server.notify("telemetry/report", ["playbackFps": .int(11)]) }
        _ = try await server.call("ping")
        try await Task.sleep(for: .milliseconds(300))
        var fpsWarnings = Self.warnings(server, containing: "below 24 FPS")
        #expect(fpsWarnings.count == 1, "\(fpsWarnings)")
        #expect(fpsWarnings.first?.contains("Lower the proxy quality to Draft") == true, "\(fpsWarnings)")
        for _ in 0..<30 { server.notify("telemetry/report", ["playbackFps": .int(30)]) }  // median back to 30: recovered
        _ = try await server.call("ping")
        try await Task.sleep(for: .milliseconds(300))
        #expect(Self.warnings(server, containing: "below 24 FPS").count == 1)
        for _ in 0..<50 { server.notify("telemetry/report", ["playbackFps": .int(10)]) }
        _ = try await server.call("ping")
        let deadline = TestDeadline.after(.seconds(10))
        while Self.warnings(server, containing: "below 24 FPS").count < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        fpsWarnings = Self.warnings(server, containing: "below 24 FPS")
        #expect(fpsWarnings.count == 2, "a second episode: \(fpsWarnings)")
        #expect(Self.warnings(server, containing: "Scrub latency is high").count == 1)
        // The window is a setting: a new one starts empty.
        _ = try await server.call("updateSettings", ["settings": .object(["telemetryWindowSeconds": .int(5)])])
        let summary = try await server.call("getMetricsSummary")
        #expect(summary["windowSeconds"]?.doubleValue == 5 && summary["playbackFps"]?["reports"] == .int(0))
    }

    @Test func settingsRoundTripAndSurviveARestart() async throws {
        let config = MediaFixtures.temporaryDirectory(named: "config-restart").path
        let first = try ServerProcess(configDirectory: config)
        let initialized = try await first.initialize()
        #expect(initialized["settingsFile"] == .object(["path": .string(config + "/settings.json"), "status": .string("missing")]))
        let defaults = try await first.call("getSettings")
        #expect(defaults["proxyGenerationEnabled"] == .bool(true) && defaults["defaultQuality"] == .string("Preview"))
        #expect(defaults["scalePercent"] == .null && defaults["telemetryWindowSeconds"] == .int(60))
        let patch: [String: JSONValue] = [
            "proxyGenerationEnabled": .bool(false), "defaultQuality": .string("Draft"),
            "scalePercent": .int(50), "cacheLimitBytes": .int(3 << 30), "frameCacheBytes": .int(8 << 20),
            "hardwareAcceleration": .string("auto"), "maxConcurrentJobs": .int(2),
            "telemetryWindowSeconds": .int(120),
        ]
        let updated = try await first.call("updateSettings", ["settings": .object(patch)])
        for (name, value) in patch { #expect(updated[name] == value, "\(name)") }
        #expect(try await first.call("getSettings") == updated)
        // Refused patches name the member and change nothing.
        for (bad, field) in [
            (["bogus": JSONValue.int(1)], "settings.bogus"), (["defaultQuality": .string("Ultra")], "settings.defaultQuality"),
            (["scalePercent": .int(90)], "settings.scalePercent"), (["telemetryWindowSeconds": .int(1)], "settings.telemetryWindowSeconds"),
            (["proxyGenerationEnabled": .string("yes")], "settings.proxyGenerationEnabled"),
            (["maxConcurrentJobs": .int(3), "frameCacheBytes": .int(-1)], "settings.frameCacheBytes"),
        ] {
            let response = try await first.request("updateSettings", ["settings": .object(bad)])
            #expect(response.errorCode == -32602, "\(bad)")
            #expect(response["error"]?["message"]?.stringValue?.contains("'\(field)'") == true, "\(response)")
        }
        #expect(try await first.call("getSettings") == updated, "nothing changed")
        let saved = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: config + "/settings.json")))
        #expect(saved == .object(patch), "only what was changed is saved: \(saved)")
        _ = try await first.request("shutdown")
        first.notify("exit")
        _ = try await first.waitForExit()

        let second = try ServerProcess(configDirectory: config)
        let restarted = try await second.initialize()
        #expect(restarted["settingsFile"]?["status"] == .string("loaded"))
        var expected = updated
        for name in ["cacheDirectory", "waveformCacheDirectory", "frameCacheDirectory"] {
            expected = expected.setting(name, restarted["settings"]?[name])
        }
        #expect(restarted["settings"] == expected, "the saved settings are in force after a restart")
        #expect(restarted["previewState"]?["quality"] == .string("Draft"), "the session starts at the default quality")
        // Updates sent at once are applied and saved one at a time: the file ends as the settings in force.
        let ids = (0..<20).map { second.sendRequest("updateSettings", ["settings": .object(["telemetryWindowSeconds": .int(10 + $0)])]) }
        for id in ids { #expect(try await second.response(id)["result"] != nil) }
        let inForce = try await second.call("getSettings")["telemetryWindowSeconds"]
        let onDisk = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: config + "/settings.json")))
        #expect(onDisk["telemetryWindowSeconds"] == inForce, "\(String(describing: inForce))")
        // scalePercent: null clears it, and is saved.
        let cleared = try await second.call("updateSettings", ["settings": .object(["scalePercent": .null])])
        #expect(cleared["scalePercent"] == .null)
        let resaved = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: config + "/settings.json")))
        #expect(resaved["scalePercent"] == .null && resaved["defaultQuality"] == .string("Draft"))
    }

    @Test func aDamagedSettingsFileIsReportedKeptAndNeverSilentlyOverwritten() async throws {
        let config = MediaFixtures.temporaryDirectory(named: "config-damaged")
        let file = config.appendingPathComponent("settings.json")
        let damaged = Data(#"{"defaultQuality": "Draft", "cacheLimitBytes": "#.utf8)
        try damaged.write(to: file)
        let server = try ServerProcess(configDirectory: config.path)
        let initialized = try await server.initialize()
        #expect(initialized["settingsFile"]?["status"] == .string("damaged"))
        #expect(initialized["settings"]?["defaultQuality"] == .string("Preview"), "the defaults are used")
        let warning = try await server.waitFor {
            $0["method"] == .string("window/logMessage")
                && ($0["params"]?["message"]?.stringValue ?? "").contains(file.path)
        }
        #expect(warning["params"]?["type"] == .int(2))
        #expect(try Data(contentsOf: file) == damaged, "left as it is")
        _ = try await server.call("updateSettings", ["settings": .object(["defaultQuality": .string("High")])])
        #expect(try Data(contentsOf: config.appendingPathComponent("settings.json.damaged")) == damaged, "moved aside")
        let saved = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: file))
        #expect(saved == .object(["defaultQuality": .string("High")]))
        _ = try await server.waitFor {
            $0["method"] == .string("window/logMessage")
                && ($0["params"]?["message"]?.stringValue ?? "").contains("settings.json.damaged")
        }
        // Values of the right shape but out of range, or unknown members, are damage too.
        for content in [#"{"maxConcurrentJobs": 99}"#, #"{"colour": "blue"}"#, "[1, 2]"] {
            let other = MediaFixtures.temporaryDirectory(named: "config-invalid")
            try Data(content.utf8).write(to: other.appendingPathComponent("settings.json"))
            let probe = try ServerProcess(configDirectory: other.path)
            let result = try await probe.initialize()
            #expect(result["settingsFile"]?["status"] == .string("damaged"), "\(content)")
            #expect(result["settings"]?["maxConcurrentJobs"] == .int(1))
        }
    }

    @Test func importingAMixedFolderQueuesWhatEachFileNeeds() async throws {
        let folder = MediaFixtures.temporaryDirectory(named: "import-mixed")
        let clip = folder.appendingPathComponent("a-clip.mp4")
        try await Data(contentsOf: ProxyE2E.clip1080()).write(to: clip)
        let audio = folder.appendingPathComponent("b-voice.m4a")
        try await Data(contentsOf: ProxyE2E.audioOnly()).write(to: audio)
        let text = folder.appendingPathComponent("c-notes.txt")
        try Data("shot list\n".utf8).write(to: text)
        // 320x240: no larger than the Preview box, so no proxy.
        let small = folder.appendingPathComponent("b2-small.mp4")
        try await Data(contentsOf: MediaFixtures.shortClip()).write(to: small)
        let nested = folder.appendingPathComponent("d-sub")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        try await Data(contentsOf: ProxyE2E.clip1080()).write(to: nested.appendingPathComponent("nested.mp4"))
        let missing = folder.deletingLastPathComponent().appendingPathComponent("missing.mov").path

        let server = try ServerProcess()
        _ = try await server.initialize()
        let result = try await server.call("importMedia", ["paths": .array([.string(folder.path), .string(missing)])])
        #expect(try OpenRPCDocument.load().validateResult(of: "importMedia", result) == [])
        let items = result["items"]?.arrayValue ?? []
        #expect(items.map { $0["path"]?.stringValue ?? "" } == [clip.path, audio.path, small.path, text.path, missing], "not recursive: \(items)")
        #expect(items[0]["status"] == .string("imported") && items[0]["kind"] == .string("video"))
        #expect(items[0]["proxy"] == .string("queued") && items[0]["quality"] == .string("Preview") && items[0]["waveform"] == .string("queued"))
        #expect(items[1]["kind"] == .string("audio") && items[1]["proxy"] == .string("notApplicable"))
        #expect(items[1]["waveform"] == .string("queued") && items[1]["reason"] == .string("audio only: waveform only"))
        #expect(items[2]["status"] == .string("imported") && items[2]["proxy"] == .string("notNeeded") && items[2]["proxyJobId"] == nil)
        #expect(
            items[2]["reason"] == .string("no proxy needed: the source (320x240) is no larger than the Preview proxy's 1280x720 box"),
            "\(items[2])")
        #expect(items[3]["status"] == .string("skipped") && items[3]["reason"] == .string("not media"))
        #expect(items[4]["status"] == .string("skipped") && items[4]["reason"] == .string("missing"))
        #expect(result["queuedProxies"] == .int(1) && result["queuedWaveforms"] == .int(3))
        // The proxy is made in the background, on the job id's progress token.
        let job = try #require(items[0]["proxyJobId"])
        _ = try await ProxyE2E.waitForEnd(server, token: job)
        let status = try await server.call("status", ["sourcePath": .string(clip.path)])
        #expect(status["status"] == .string("completed"))
        // A second import finds everything fresh (waveforms once analysed); recursive takes the subfolder.
        _ = try await server.call(
            "requestWaveformRange",
            [
                "sourcePath": .string(audio.path), "startTime": .int(0), "endTime": .int(1),
                "samplesPerPixel": .int(4096),
            ])
        _ = try await server.call(
            "requestWaveformRange",
            [
                "sourcePath": .string(clip.path), "startTime": .int(0), "endTime": .int(1),
                "samplesPerPixel": .int(4096),
            ])
        let again = try await server.call("importMedia", ["paths": .array([.string(folder.path)]), "recursive": .bool(true)])
        let second = again["items"]?.arrayValue ?? []
        #expect(second.count == 5, "\(second)")
        #expect(
            second[0]["proxy"] == .string("fresh") && second[0]["waveform"] == .string("fresh")
                && second[0]["reason"] == .string("proxy already fresh"))
        #expect(second[1]["waveform"] == .string("fresh"))
        #expect(second[4]["path"] == .string(nested.appendingPathComponent("nested.mp4").path) && second[4]["proxy"] == .string("queued"))
        // With proxy generation off, only waveforms are queued; a Draft import names its quality.
        _ = try await server.call("updateSettings", ["settings": .object(["proxyGenerationEnabled": .bool(false)])])
        let other = try await ProxyE2E.copy(MediaFixtures.shortClip(), as: "import-disabled.mp4")
        let disabled = try await server.call("importMedia", ["paths": .array([.string(other.path)]), "quality": .string("Draft")])
        let first = disabled["items"]?.arrayValue?.first
        #expect(first?["proxy"] == .string("disabled") && first?["waveform"] == .string("queued"))
        #expect(disabled["queuedProxies"] == .int(0))
        // Bad params.
        #expect(try await server.request("importMedia", ["paths": .array([])]).errorCode == -32602)
        #expect(try await server.request("importMedia", ["paths": .array([.string("relative/clip.mp4")])]).errorCode == -32602)
        #expect(try await server.request("importMedia", ["paths": .array([.string(clip.path)]), "quality": .string("Ultra")]).errorCode == -32602)
    }

    @Test func theCLIImportsAndWaitsForItsWork() async throws {
        let folder = MediaFixtures.temporaryDirectory(named: "import-cli")
        try await Data(contentsOf: ProxyE2E.clip1080()).write(to: folder.appendingPathComponent("clip.mp4"))
        try Data("not media".utf8).write(to: folder.appendingPathComponent("readme.txt"))
        let cache = MediaFixtures.temporaryDirectory(named: "import-cli-cache").path
        let run = try await Spawn.runOffPool(
            ServerProcess.executable.path,
            [
                "import", "--quality", "Draft", "--cache-dir", cache,
                "--waveform-cache-dir", cache + "-waveforms", folder.path,
            ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.text.contains("made 854x480 (Draft)") || run.text.contains("made"), "\(run.text)")
        #expect(run.text.contains("readme.txt") && run.text.contains("not media"), "\(run.text)")
        #expect(ProxyE2E.proxyFiles(cache).contains { $0.hasSuffix("-Draft.mp4") }, "\(ProxyE2E.proxyFiles(cache))")
        let truncated = try await MediaFixtures.truncatedCopy(of: MediaFixtures.shortClip(), name: "import-cut.mp4")
        let broken = try await Spawn.runOffPool(
            ServerProcess.executable.path,
            [
                "import", "--cache-dir", cache, "--waveform-cache-dir", cache + "-waveforms",
                truncated.path,
            ])
        #expect(broken.status == 1, "a failed file fails the command: \(broken.text)")
    }
}

private extension JSONValue {
    func setting(_ name: String, _ value: JSONValue?) -> JSONValue {
        guard case .object(var members) = self else { return self }
        members[name] = value
        return .object(members)
    }
}
