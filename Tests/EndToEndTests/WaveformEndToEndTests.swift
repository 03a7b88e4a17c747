import Foundation
import JSONRPC
import TestSupport
import Testing

/// Waveforms through the real binary: streamed windows in priority order, the persistent cache, invalidation,
/// recovery from a damaged cache file, cancellation, a killed analysis, and exports read back.
@Suite(.timeLimit(.minutes(10)))
struct WaveformEndToEndTests {
    /// 10 minutes of stereo tones (FLAC): long enough that its analysis (tens of seconds in a debug build) is still
    /// running while a test acts.
    static func tenMinutes() async throws -> URL {
        try await MediaFixtures.mediaOffPool(
            "waveform-10min.flac",
            [
                "-f", "lavfi", "-i",
                "aevalsrc=0.6*sin(2*PI*440*t)*sin(2*PI*0.05*t)|0.3*sin(2*PI*660*t):s=48000:d=600", "-c:a", "flac",
            ])
    }

    /// 6 s of stereo tones (FLAC).
    static func sixSeconds() async throws -> URL {
        try await MediaFixtures.mediaOffPool(
            "waveform-6s.flac",
            [
                "-f", "lavfi", "-i",
                "aevalsrc=0.8*sin(2*PI*220*t)|0.4*sin(2*PI*330*t):s=44100:d=6", "-c:a", "flac",
            ])
    }

    static func server(_ waveforms: String? = nil) throws -> ServerProcess {
        try ServerProcess(waveformCacheDirectory: waveforms)
    }

    /// The windows streamed on `token`, in arrival order.
    static func streamed(_ server: ServerProcess, token: String) -> [JSONValue] {
        ProxyE2E.progress(server, token: .string(token)).flatMap { $0["windows"]?.arrayValue ?? [] }
    }

    @Test func windowsStreamVisibleFirstThenByDistanceAndComeFromTheCacheAfterwards() async throws {
        let source = try await Self.tenMinutes()
        let server = try Self.server()
        _ = try await server.initialize()
        let params: [String: JSONValue] = [
            "sourcePath": .string(source.path), "startTime": .int(0), "endTime": .int(600),
            "pixelsPerSecond": .int(100), "visibleStart": .int(300), "visibleEnd": .int(330),
            "partialResultToken": .string("cold"),
        ]
        let summary = try await server.call("requestWaveformRange", params, timeout: .seconds(120))
        #expect(summary["fromCache"] == .bool(false))
        #expect(summary["samplesPerPixel"] == .int(512), "48000/100 = 480 is served at the nearest multiple of 256")
        let windows = Self.streamed(server, token: "cold")
        let count = try #require(summary["windowCount"]?.intValue)
        #expect(windows.count == count && Set(windows.compactMap { $0["index"]?.intValue }).count == count)
        // The visible windows came first, then by distance from the visible range.
        let distances = windows.map { window -> Double in
            let start = window["startTime"]?.doubleValue ?? 0, end = window["endTime"]?.doubleValue ?? 0
            return end > 300 && start < 330 ? 0 : (start >= 330 ? start - 330 : 300 - end)
        }
        #expect(distances.prefix(while: { $0 == 0 }).count >= 3)
        #expect(distances == distances.sorted(), "priority order")
        // The first visible window arrived before the analysis of the whole file ended (the response).
        let firstWindow = try #require(server.arrival { $0["params"]?["token"] == .string("cold") })
        let answered = try #require(server.arrival { $0["result"]?["windowCount"] != nil })
        #expect(firstWindow < answered)

        // Warm: the same request is answered from the pyramid, without decoding.
        var warm = params
        warm["partialResultToken"] = .string("warm")
        let again = try await server.call("requestWaveformRange", warm)
        #expect(again["fromCache"] == .bool(true))
        let warmWindows = Self.streamed(server, token: "warm")
        #expect(warmWindows.map { $0["index"] } == windows.map { $0["index"] })
        let same = warmWindows == windows
        #expect(same, "cold (decoded directly, then from the new pyramid) and warm windows hold the same values")
        let stats = try await server.call("stats")
        #expect(stats["waveformCache"]?["files"] == .int(1))
    }

    @Test func aCancelledRequestStopsAtOnceAndTheServerKeepsServing() async throws {
        let source = try await ProxyE2E.copy(Self.tenMinutes(), as: "cancel-waveform.flac")
        let server = try Self.server()
        _ = try await server.initialize()
        // No visible range on a cold cache: every window waits for the analysis.
        let id = server.sendRequest(
            "requestWaveformRange",
            [
                "sourcePath": .string(source.path), "startTime": .int(0),
                "endTime": .int(600), "samplesPerPixel": .int(1024),
            ])
        try await Task.sleep(for: .milliseconds(200))
        let cancelledAt = ContinuousClock.now
        server.notify("$/cancelRequest", ["id": .int(id)])
        let response = try await server.response(id)
        #expect(response.errorCode == -32800)
        let answered = try #require(server.arrival { $0["id"] == .int(id) })
        #expect(answered - cancelledAt < .seconds(2 * TestFiles.slowdown), "answered \(answered - cancelledAt) after the cancellation")
        #expect(try await server.call("ping")["serverTime"] != nil)
        // The analysis went on in the background: a later request finds its result.
        let later = try await server.call(
            "requestWaveformRange",
            [
                "sourcePath": .string(source.path), "startTime": .int(10),
                "endTime": .int(20), "samplesPerPixel": .int(1024),
            ],
            timeout: .seconds(120))
        #expect(later["windowCount"] == .int(1))
    }

    @Test func aChangedSourceIsAnalysedAgainAndADamagedCacheFileIsRebuilt() async throws {
        let waveforms = MediaFixtures.temporaryDirectory(named: "waveforms-damage")
        let source = try await ProxyE2E.copy(Self.sixSeconds(), as: "damage.flac")
        let server = try Self.server(waveforms.path)
        _ = try await server.initialize()
        let params: [String: JSONValue] = [
            "sourcePath": .string(source.path), "startTime": .int(0), "endTime": .int(6),
            "samplesPerPixel": .int(256), "windowSeconds": .int(6),
        ]
        let first = try await server.call("requestWaveformRange", params)
        #expect(first["fromCache"] == .bool(false))
        let cached = try await server.call("requestWaveformRange", params)
        let sameCached = cached["windows"] == first["windows"]
        #expect(cached["fromCache"] == .bool(true) && sameCached)

        // Damage the persisted file; a new server (nothing in memory) must not serve it.
        let files = try FileManager.default.contentsOfDirectory(atPath: waveforms.path + "/waveforms").filter { $0.hasSuffix(".wave") }
        let file = URL(fileURLWithPath: waveforms.path + "/waveforms/" + (try #require(files.first)))
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count / 3] ^= 0xFF
        try bytes.write(to: file)
        let restarted = try Self.server(waveforms.path)
        _ = try await restarted.initialize()
        let rebuilt = try await restarted.call("requestWaveformRange", params)
        #expect(rebuilt["fromCache"] == .bool(false), "a damaged file is rebuilt, never served")
        let sameRebuilt = rebuilt["windows"] == first["windows"]
        #expect(sameRebuilt)

        // Changed content (louder): analysed again, new values.
        let louder = try await OffPool.run {
            try ReferenceTools.ffmpeg([
                "-v", "error", "-y", "-f", "lavfi", "-i",
                "aevalsrc=0.2*sin(2*PI*220*t)|0.9*sin(2*PI*330*t):s=44100:d=6", source.path,
            ])
        }
        try #require(louder.status == 0)
        let changed = try await restarted.call("requestWaveformRange", params)
        #expect(changed["fromCache"] == .bool(false))
        let differs = changed["windows"] != first["windows"]
        #expect(differs)
    }

    @Test func aKilledAnalysisLeavesNothingServedAndARestartCompletesIt() async throws {
        let waveforms = MediaFixtures.temporaryDirectory(named: "waveforms-kill")
        let source = try await ProxyE2E.copy(Self.tenMinutes(), as: "kill-waveform.flac")
        let first = try Self.server(waveforms.path)
        _ = try await first.initialize()
        _ = first.sendRequest(
            "requestWaveformRange",
            [
                "sourcePath": .string(source.path), "startTime": .int(0), "endTime": .int(600),
                "samplesPerPixel": .int(4096),
            ])
        try await Task.sleep(for: .milliseconds(300))
        kill(first.process.processIdentifier, SIGKILL)
        #expect(try await first.waitForExit() != nil)
        // Whatever the kill left (at most a partial file) is never served, and a new server completes the analysis.
        let second = try Self.server(waveforms.path)
        _ = try await second.initialize()
        let result = try await second.call(
            "requestWaveformRange",
            [
                "sourcePath": .string(source.path), "startTime": .int(0),
                "endTime": .int(600), "samplesPerPixel": .int(4096),
            ],
            timeout: .seconds(120))
        #expect(result["fromCache"] == .bool(false))
        let left = try FileManager.default.contentsOfDirectory(atPath: waveforms.path + "/waveforms")
        #expect(left.count == 1 && left[0].hasSuffix(".wave"), "\(left)")
    }

    /// Two editor windows on one waveform cache ask for the same file at once: one analysis, both get the result.
    @Test func twoServersAnalyseAFileOnce() async throws {
        let waveforms = MediaFixtures.temporaryDirectory(named: "waveforms-shared")
        let source = try await ProxyE2E.copy(Self.tenMinutes(), as: "shared-waveform.flac")
        let first = try Self.server(waveforms.path)
        let second = try Self.server(waveforms.path)
        _ = try await first.initialize()
        _ = try await second.initialize()
        let params: [String: JSONValue] = [
            "sourcePath": .string(source.path), "startTime": .int(0), "endTime": .int(600),
            "samplesPerPixel": .int(65536),
        ]
        let firstId = first.sendRequest("requestWaveformRange", params)
        try await Task.sleep(for: .milliseconds(100))
        let secondId = second.sendRequest("requestWaveformRange", params)
        let a = try await first.response(firstId, timeout: .seconds(120))
        let b = try await second.response(secondId, timeout: .seconds(120))
        let sameWindows = a["result"]?["windows"] == b["result"]?["windows"] && a["result"]?["windows"] != nil
        #expect(sameWindows)
        // One analysed; the other waited for its lock and read its file instead of analysing again. Which one wins
        // the lock is the machine's business (on a busy machine the later request can be read first).
        func reused() -> [String] { [first.stderr, second.stderr].filter { $0.contains("reuses the waveform another process analysed") } }
        let deadline = TestDeadline.after(.seconds(10))  // the log line was written before the answer; its reader may lag
        while reused().isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(reused().count == 1, "first:\n\(first.stderr)\nsecond:\n\(second.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: waveforms.path + "/waveforms")
        #expect(files.count == 1 && files[0].hasSuffix(".wave"), "\(files)")
        var info = stat()
        #expect(stat(waveforms.path + "/waveforms/" + files[0], &info) == 0)
        #expect(info.st_nlink == 1)
        let stats = try await second.call("stats")
        #expect(stats["waveformCache"]?["files"] == .int(1))
    }

    @Test func exportsReadBackAsTheWindowsSay() async throws {
        let source = try await Self.sixSeconds()
        let server = try Self.server()
        _ = try await server.initialize()
        let directory = MediaFixtures.temporaryDirectory(named: "exports")
        let windows = try await server.call(
            "requestWaveformRange",
            [
                "sourcePath": .string(source.path), "startTime": .int(0),
                "endTime": .int(6), "samplesPerPixel": .int(512),
                "channels": .string("all"), "windowSeconds": .int(6),
                "encoding": .string("base64"),
            ])
        let window = try #require(windows["windows"]?.arrayValue?.first)
        func int16s(_ value: JSONValue?) -> [Int16] {
            guard let text = value?.stringValue, let data = Data(base64Encoded: text) else { return [] }
            return data.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
        }
        let mins = (window["min"]?.arrayValue ?? []).map(int16s), maxs = (window["max"]?.arrayValue ?? []).map(int16s)
        #expect(mins.count == 2 && mins[0].count == 517)
        // The number encoding holds the same values, scaled to -1...1 (rms 0...1) and rounded to 5 decimals.
        let numbers = try await server.call(
            "requestWaveformRange",
            [
                "sourcePath": .string(source.path), "startTime": .int(0),
                "endTime": .int(6), "samplesPerPixel": .int(512),
                "channels": .string("all"), "windowSeconds": .int(6),
            ])
        let numbered = try #require(numbers["windows"]?.arrayValue?.first)
        let rmsBase64 = (window["rms"]?.arrayValue ?? []).map { int16s($0).map { UInt16(bitPattern: $0) } }
        for channel in 0..<2 {
            func series(_ key: String) -> [Double] {
                numbered[key]?.arrayValue?[channel].arrayValue?.compactMap(\.doubleValue) ?? []
            }
            let numberMins = series("min"), numberMaxs = series("max"), numberRMS = series("rms")
            #expect(numberMins.count == 517 && numberMaxs.count == 517 && numberRMS.count == 517)
            func same(_ numbers: [Double], _ integers: [Double]) -> Bool {
                numbers.count == integers.count
                    && zip(numbers, integers).allSatisfy { abs($0 - ($1 * 100_000).rounded() / 100_000) < 1e-9 }
            }
            #expect(same(numberMins, mins[channel].map { Double($0) / 32767 }))
            #expect(same(numberMaxs, maxs[channel].map { Double($0) / 32767 }))
            #expect(same(numberRMS, rmsBase64[channel].map { Double($0) / 65535 }))
            #expect(numberMaxs.contains { $0 > 0.3 } && numberMins.contains { $0 < -0.3 })
        }

        // 16-bit .dat, version 2 (two channels): header, then per pixel per channel min and max.
        let dat = directory.appendingPathComponent("clip.dat")
        let datResult = try await server.call(
            "exportWaveform",
            [
                "sourcePath": .string(source.path), "outputPath": .string(dat.path),
                "samplesPerPixel": .int(512), "channels": .string("all"),
            ])
        #expect(datResult["version"] == .int(2) && datResult["channels"] == .int(2) && datResult["length"] == .int(517))
        let bytes = try Data(contentsOf: dat)
        let header = bytes.withUnsafeBytes { raw in (0..<6).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self) } }
        #expect(header == [2, 0, 44100, 512, 517, 2])
        let body = bytes.dropFirst(24).withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
        #expect(body.count == 517 * 2 * 2)
        for pixel in [0, 100, 516] {
            for channel in 0..<2 {
                #expect(body[(pixel * 2 + channel) * 2] == mins[channel][pixel] && body[(pixel * 2 + channel) * 2 + 1] == maxs[channel][pixel])
            }
        }

        // 8-bit JSON of the mixed channel at a resolution that is not a multiple of 256 (decoded directly).
        let json = directory.appendingPathComponent("clip.json")
        let jsonResult = try await server.call(
            "exportWaveform",
            [
                "sourcePath": .string(source.path), "outputPath": .string(json.path),
                "format": .string("json"), "samplesPerPixel": .int(300), "bits": .int(8),
            ])
        #expect(jsonResult["version"] == .int(2) && jsonResult["length"] == .int(882) && jsonResult["bits"] == .int(8))
        let parsed = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: json))
        #expect(parsed["channels"] == .int(1) && parsed["sample_rate"] == .int(44100) && parsed["samples_per_pixel"] == .int(300))
        let data = parsed["data"]?.arrayValue?.compactMap(\.intValue) ?? []
        #expect(data.count == 882 * 2)
        #expect(data.allSatisfy { (-128...127).contains($0) })
        // The mixed tones peak at (0.8 + 0.4) / 2 at most: about 76 of 127.
        #expect((70...77).contains(data.max() ?? 0), "\(data.max() ?? 0)")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["clip.dat", "clip.json"],
            "no partial files are left")
    }
}
