import Foundation
import JSONRPC
import TestSupport
import Testing

/// Crashes and vanished clients, through the real binary: a client that stops reading, `kill -9` during proxy
/// generation, waveform analysis and catalogue writes. After each, nothing partial is registered or served,
/// temporary files go, the catalogue passes `PRAGMA integrity_check`, and asking again completes.
@Suite(.timeLimit(.minutes(10)))
struct CrashSafetyEndToEndTests {
    /// `PRAGMA integrity_check` of a catalogue, by Python's sqlite3 (an independent reader).
    static func integrityCheck(_ database: String) throws -> String {
        let script = "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])"
        let result = try Spawn.run("/usr/bin/python3", ["-c", script, database])
        return result.text.trimmingCharacters(in: .whitespacesAndNewlines) + result.stderr
    }

    static func files(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    @Test func aClientThatStopsReadingEndsTheServerCleanlyAndItsWorkIsCancelled() async throws {
        let source = try await ProxyE2E.long()
        let server = try ServerProcess()
        _ = try await server.initialize()
        let token = JSONValue.string("vanishing")
        _ = try await server.call("generate", ["sourcePath": .string(source.path), "quality": .string("Draft"), "workDoneToken": token])
        try await ProxyE2E.waitForReport(server, token: token)
        #expect(!SharedCacheEndToEndTests.partialFiles(server.cacheDirectory).isEmpty)

        // The client vanishes without closing the server's input: its next progress report meets EPIPE.
        server.hangUpOutput()
        let status = try await server.waitForExit(timeout: .seconds(30))
        #expect(status == 0, "the server did not exit cleanly: \(String(describing: status))\n\(server.stderr)")
        #expect(server.stderr.contains("stopped reading"), "\(server.stderr)")
        #expect(SharedCacheEndToEndTests.partialFiles(server.cacheDirectory).isEmpty, "partial output left behind")

        // The job was cancelled, not left "generating" for the next process to wonder about.
        let next = try ServerProcess(cacheDirectory: server.cacheDirectory)
        _ = try await next.initialize()
        let after = try await next.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(after["status"] == .string("cancelled"), "\(after)")
    }

    @Test func killedDuringProxyGenerationNothingPartialSurvivesAndAskingAgainCompletes() async throws {
        let source = try await ProxyE2E.long()
        let cache = MediaFixtures.temporaryDirectory(named: "cache-kill-proxy").path
        let first = try ServerProcess(cacheDirectory: cache)
        _ = try await first.initialize()
        let token = JSONValue.string("killed")
        _ = try await first.call("generate", ["sourcePath": .string(source.path), "quality": .string("Draft"), "workDoneToken": token])
        try await ProxyE2E.waitForReport(first, token: token)
        try #require(!SharedCacheEndToEndTests.partialFiles(cache).isEmpty)
        first.kill()
        _ = try await first.waitForExit()

        #expect(try await OffPool.run { try Self.integrityCheck(cache + "/catalogue.sqlite") } == "ok")
        let second = try ServerProcess(cacheDirectory: cache)
        _ = try await second.initialize()
        // At start (the caches open in the background after `initialize`) the dead process's partial file goes and
        // its record is settled: nothing is served from it.
        let deadline = TestDeadline.after(.seconds(20))
        while !SharedCacheEndToEndTests.partialFiles(cache).isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(SharedCacheEndToEndTests.partialFiles(cache).isEmpty)
        let settled = try await second.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(settled["status"] == .string("failed"), "\(settled)")
        _ = try await second.call("setQuality", ["mode": .string("proxy"), "quality": .string("Draft")])
        let resolved = try await second.call("resolve", ["sourcePath": .string(source.path)])
        #expect(resolved["usingProxy"] == .bool(false), "\(resolved)")

        let again = try await second.request(
            "generate",
            [
                "sourcePath": .string(source.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false),
            ], timeout: .seconds(180))
        #expect(again["result"]?["proxy"]?["status"] == .string("completed"), "\(again)")
        #expect(try await second.call("resolve", ["sourcePath": .string(source.path)])["usingProxy"] == .bool(true))
        #expect(try await OffPool.run { try Self.integrityCheck(cache + "/catalogue.sqlite") } == "ok")
    }

    @Test func whenTheServerMakingAProxyIsKilledTheServerHelpingItFinishesIt() async throws {
        let source = try await ProxyE2E.copy(ProxyE2E.long(), as: "helped.mp4")
        let cache = MediaFixtures.temporaryDirectory(named: "cache-kill-owner").path
        let first = try ServerProcess(cacheDirectory: cache)
        let second = try ServerProcess(cacheDirectory: cache)
        _ = try await first.initialize()
        _ = try await second.initialize()
        let params: [String: JSONValue] = [
            "sourcePath": .string(source.path), "quality": .string("Draft"), "backgroundGeneration": .bool(false),
        ]
        _ = first.sendRequest("generate", params.merging(["workDoneToken": .string("owner")]) { $1 })
        try await ProxyE2E.waitForReport(first, token: .string("owner"))
        let helping = second.sendRequest("generate", params.merging(["workDoneToken": .string("helper")]) { $1 })
        _ = try await second.waitFor(timeout: .seconds(60)) {
            $0["params"]?["token"] == .string("helper")
                && $0["params"]?["value"]?["message"]?.stringValue?.hasPrefix("Helping another aura-media process") == true
        }
        first.kill()
        _ = try await first.waitForExit()

        // The helper takes the slot over, keeps every finished part (its own and the dead server's), makes the rest,
        // and joins them.
        let answer = try await second.response(helping, timeout: .seconds(180))
        let proxy = try #require(answer["result"]?["proxy"], "\(answer)")
        #expect(proxy["status"] == .string("completed") && answer["result"]?["jobId"] == proxy["jobId"], "\(answer)")
        #expect(second.stderr.contains("resumes the Draft proxy of \(source.path) from "), "\(second.stderr)")
        let times = try await OffPool.run { ReferenceTools.videoPacketTimes(proxy["proxyPath"]?.stringValue ?? "") }
        #expect(times == (0..<2250).map { $0 * 40 }, "the joined proxy has every frame once")
        #expect(SharedCacheEndToEndTests.workFiles(cache).isEmpty)
    }

    @Test func killedDuringWaveformAnalysisNothingPartialSurvivesAndAskingAgainCompletes() async throws {
        let audio = try await MediaFixtures.mediaOffPool(
            "crash-audio-40min.flac",
            [
                "-f", "lavfi", "-i", "sine=frequency=220:sample_rate=44100:duration=2400",
                "-ac", "1", "-c:a", "flac",
            ])
        let waveforms = MediaFixtures.temporaryDirectory(named: "waveforms-kill").path
        let first = try ServerProcess(waveformCacheDirectory: waveforms)
        _ = try await first.initialize()
        let range: [String: JSONValue] = [
            "sourcePath": .string(audio.path), "startTime": .double(2300), "endTime": .double(2400),
            "samplesPerPixel": .int(4096),
        ]
        _ = first.sendRequest("requestWaveformRange", range)
        try await Task.sleep(for: .milliseconds(400))
        try #require(Self.waveFiles(waveforms).isEmpty, "the analysis ended before the kill")
        first.kill()
        _ = try await first.waitForExit()

        let second = try ServerProcess(waveformCacheDirectory: waveforms)
        _ = try await second.initialize()
        let leftovers = Self.files(in: waveforms + "/waveforms").filter { !$0.hasSuffix(".wave") }
        #expect(leftovers.isEmpty, "temporary files left behind: \(leftovers)")
        #expect(Self.waveFiles(waveforms).isEmpty, "a waveform was registered")
        let result = try await second.call("requestWaveformRange", range, timeout: .seconds(180))
        #expect((result["windows"]?.arrayValue?.count ?? 0) > 0, "\(result)")
        // The analysis runs to its end and is saved whole.
        let deadline = TestDeadline.after(.seconds(180))
        while Self.waveFiles(waveforms).isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(Self.waveFiles(waveforms).count == 1)
        #expect(Self.files(in: waveforms + "/waveforms").filter { !$0.hasSuffix(".wave") }.isEmpty)
    }

    static func waveFiles(_ cache: String) -> [String] {
        files(in: cache + "/waveforms").filter { $0.hasSuffix(".wave") }
    }

    /// Five servers are killed at random moments while they queue, cancel and clear jobs of nine slots as fast as the
    /// pipe carries the requests: the catalogue passes `integrity_check` after each, and the next server opens it.
    @Test func killedDuringCatalogueWritesTheCatalogueStaysIntact() async throws {
        let sources = try await OffPool.run {
            try (0..<3).map { index in
                try MediaFixtures.media(
                    "catalogue-churn-\(index).mp4",
                    [
                        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=\(index + 2)",
                        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    ])
            }
        }
        let cache = MediaFixtures.temporaryDirectory(named: "cache-kill-catalogue").path
        var random = SplitMix64(seed: 2026_11_26)
        for round in 0..<5 {
            let server = try ServerProcess(cacheDirectory: cache)
            _ = try await server.initialize()
            var storm = Data()
            var id = 10_000
            for _ in 0..<40 {
                for source in sources {
                    for quality in ["Draft", "Preview", "High"] {
                        id += 2
                        storm += ServerProcess.frame(
                            id: id, method: "generate",
                            params: [
                                "sourcePath": .string(source.path), "quality": .string(quality), "overwrite": .bool(true),
                                "priority": .int(Int.random(in: -5...5, using: &random)),
                            ])
                        storm += ServerProcess.frame(
                            id: id + 1, method: "cancelGeneration",
                            params: [
                                "sourcePath": .string(source.path), "quality": .string(quality),
                            ])
                    }
                }
                id += 1
                storm += ServerProcess.frame(id: id, method: "clearCache", params: ["scope": .string("proxies")])
            }
            server.sendRawInBackground(storm)
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...600, using: &random)))
            server.kill()
            _ = try await server.waitForExit()
            #expect(try await OffPool.run { try Self.integrityCheck(cache + "/catalogue.sqlite") } == "ok", "round \(round)")
        }
        let last = try ServerProcess(cacheDirectory: cache)
        _ = try await last.initialize()
        let done = try await last.request(
            "generate",
            [
                "sourcePath": .string(sources[0].path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false), "overwrite": .bool(true),
            ], timeout: .seconds(120))
        #expect(done["result"]?["proxy"]?["status"] == .string("completed"), "\(done)")
        #expect(SharedCacheEndToEndTests.partialFiles(cache).isEmpty)
    }
}
