import Foundation
import JSONRPC
import TestSupport
import Testing

/// Full disks and hardware-encoder fallback, through the real binary.
@Suite(.timeLimit(.minutes(10)))
struct ResilienceEndToEndTests {
    /// A 1.5 MB tmpfs holds the cache: a Preview proxy of a 10-second 720p clip cannot fit. Needs root (mount).
    @Test(.enabled(if: getuid() == 0)) func aFullDiskFailsTheJobCleanlyAndRegistersNothing() async throws {
        let mountPoint = MediaFixtures.temporaryDirectory(named: "tinyfs")
        guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1536k", "tmpfs", mountPoint.path]) == 0 else {
            return  // No mount permission in this sandbox: nothing to exercise.
        }
        defer { _ = Self.run("/bin/umount", ["-l", mountPoint.path]) }
        let clip = try MediaFixtures.media(
            "ten-seconds-720p.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=10",
                "-f", "lavfi", "-i", "anoisesrc=duration=10:sample_rate=48000",
                "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac", "2",
            ])
        let cache = mountPoint.appendingPathComponent("cache").path
        let server = try ServerProcess(cacheDirectory: cache)
        _ = try await server.initialize()
        let response = try await server.request(
            "generate",
            [
                "sourcePath": .string(clip.path), "backgroundGeneration": .bool(false), "overwrite": .bool(true),
            ], timeout: .seconds(120))
        #expect(response.errorCode == -32010, "\(response)")
        #expect(response.errorMessage.contains("full") || response.errorMessage.contains("space"), "\(response.errorMessage)")
        // No partial output and no proxy; segments finished before the disk filled are kept for the next attempt.
        let leftovers = ProxyE2E.proxyFiles(cache).filter { !$0.hasSuffix(".segments") } + SharedCacheEndToEndTests.partialFiles(cache)
        #expect(leftovers.isEmpty, "partial output left behind: \(leftovers)")
        let status = try await server.call("status", ["sourcePath": .string(clip.path)])
        #expect(status["status"] == .string("failed"))
        #expect(status["error"]?.stringValue?.isEmpty == false)
        let stats = try await server.call("stats")
        #expect(stats["totalProxies"] == .int(0))
        // The server keeps serving after the failure.
        #expect(try await server.call("ping")["serverTime"] != nil)
    }

    /// Writes fail with EFBIG past 3 MB (RLIMIT_FSIZE): the Draft proxy of 90 s of 720p cannot be written. The job
    /// fails with a clear error, its partial file goes, nothing is registered, and a proxy that fits is made next.
    @Test func aWriteFailureDuringGenerationFailsTheJobCleanlyAndTheServerGoesOn() async throws {
        let long = try await ProxyE2E.long()
        let server = try ServerProcess(fileSizeLimit: 3 << 20)
        _ = try await server.initialize()
        let failed = try await server.request(
            "generate",
            [
                "sourcePath": .string(long.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false),
            ], timeout: .seconds(180))
        #expect(failed.errorCode == -32010, "\(failed)")
        #expect(failed.errorMessage.contains("full") || failed.errorMessage.contains("too large"), "\(failed.errorMessage)")
        // No partial output and no proxy: the segments that fit are kept (the join is what cannot be written).
        let leftovers =
            ProxyE2E.proxyFiles(server.cacheDirectory).filter { !$0.hasSuffix(".segments") }
            + SharedCacheEndToEndTests.partialFiles(server.cacheDirectory)
        #expect(leftovers.isEmpty, "partial output left behind: \(leftovers)")
        let status = try await server.call("status", ["sourcePath": .string(long.path), "quality": .string("Draft")])
        #expect(status["status"] == .string("failed") && status["error"]?.stringValue?.isEmpty == false, "\(status)")
        #expect(try await server.call("stats")["totalProxies"] == .int(0))
        let small = try await server.request(
            "generate",
            [
                "sourcePath": .string(try await ProxyE2E.clip640().path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false),
            ], timeout: .seconds(120))
        #expect(small["result"]?["proxy"]?["status"] == .string("completed"), "\(small)")
    }

    /// A waveform file that cannot be written whole (EFBIG past 1 MB, or a full 1.5 MB tmpfs where mounting is
    /// permitted): the analysis fails with -32010, no partial file stays, nothing is registered, and the server
    /// serves a waveform that fits.
    @Test(arguments: ["rlimit", "tmpfs"])
    func aFullDiskDuringWaveformPersistenceFailsCleanly(how: String) async throws {
        let audio = try await MediaFixtures.mediaOffPool(
            "persist-30min.flac",
            [
                "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000:duration=1800",
                "-ac", "1", "-c:a", "flac",
            ])
        var waveforms = MediaFixtures.temporaryDirectory(named: "waveforms-full").path
        let server: ServerProcess
        if how == "tmpfs" {
            guard getuid() == 0 else { return }  // Mounting needs root; the rlimit case covers the rest.
            let mountPoint = MediaFixtures.temporaryDirectory(named: "tinyfs-waveforms")
            guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1536k", "tmpfs", mountPoint.path]) == 0 else {
                Issue.record("mounting a tmpfs failed although running as root")
                return
            }
            waveforms = mountPoint.appendingPathComponent("waveforms").path
            server = try ServerProcess(waveformCacheDirectory: waveforms)
        } else {
            server = try ServerProcess(waveformCacheDirectory: waveforms, fileSizeLimit: 1 << 20)
        }
        defer { if how == "tmpfs" { _ = Self.run("/bin/umount", ["-l", URL(fileURLWithPath: waveforms).deletingLastPathComponent().path]) } }
        _ = try await server.initialize()
        let range: [String: JSONValue] = [
            "sourcePath": .string(audio.path), "startTime": .double(1700), "endTime": .double(1701),
            "samplesPerPixel": .int(1024),
        ]
        let answer = try await server.request("requestWaveformRange", range, timeout: .seconds(180))
        #expect(answer.errorCode == -32010, "\(answer)")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: waveforms + "/waveforms")) ?? []
        #expect(left.isEmpty, "left in the waveform cache: \(left)")
        // The server goes on: a short file's waveform fits, and is served.
        let small = try await server.call(
            "requestWaveformRange",
            [
                "sourcePath": .string(try await ProxyE2E.clip640().path), "startTime": .double(0),
                "endTime": .double(1), "samplesPerPixel": .int(1024),
            ])
        #expect((small["windows"]?.arrayValue?.count ?? 0) > 0, "\(small)")
    }

    @Test func hardwareAutoFallsBackToLibx264AndSaysWhy() async throws {
        let clip = try await MediaFixtures.shortClip()
        let server = try ServerProcess()
        _ = try await server.initialize(options: ["hardwareAcceleration": .string("auto")])
        let result = try await server.call(
            "generate",
            [
                "sourcePath": .string(clip.path), "quality": .string("Draft"), "backgroundGeneration": .bool(false),
            ], timeout: .seconds(60))
        #expect(result["status"] == .string("completed"))
        let encoder = result["proxy"]?["videoEncoder"]?.stringValue
        let warnings = server.notifications("window/logMessage").filter { $0["type"] == .int(2) }
        if encoder == "libx264" {
            // No GPU here: the fallback must be reported to the client with its reason.
            #expect(warnings.contains { $0["message"]?.stringValue?.contains("libx264") == true }, "\(warnings)")
        } else {
            #expect(["h264_nvenc", "h264_vaapi", "h264_qsv"].contains(encoder ?? ""))
        }
    }

    private static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        (try? Spawn.run(tool, arguments))?.status ?? -1
    }
}
