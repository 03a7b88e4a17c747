import Foundation
import JSONRPC
import TestSupport
import Testing

/// Full disks and hardware-encoder fallback, through the real binary.
@Suite(.timeLimit(.minutes(3)))
struct ResilienceEndToEndTests {
    /// A 1.5 MB tmpfs holds the cache: a Preview proxy of a 10-second 720p clip cannot fit. Needs root (mount).
    @Test(.enabled(if: getuid() == 0)) func aFullDiskFailsTheJobCleanlyAndRegistersNothing() async throws {
        let mountPoint = Fixtures.temporaryDirectory(named: "tinyfs")
        guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1536k", "tmpfs", mountPoint.path]) == 0 else {
            return  // No mount permission in this sandbox: nothing to exercise.
        }
        defer { _ = Self.run("/bin/umount", ["-l", mountPoint.path]) }
        let clip = try Fixtures.media("ten-seconds-720p.mp4", [
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=10",
            "-f", "lavfi", "-i", "anoisesrc=duration=10:sample_rate=48000",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac", "2"])
        let cache = mountPoint.appendingPathComponent("cache").path
        let server = try ServerProcess(cacheDirectory: cache)
        _ = try await server.initialize()
        let response = try await server.request("generate", [
            "sourcePath": .string(clip.path), "backgroundGeneration": .bool(false), "overwrite": .bool(true)], timeout: .seconds(120))
        #expect(response.errorCode == -32010, "\(response)")
        #expect(response.errorMessage.contains("full") || response.errorMessage.contains("space"), "\(response.errorMessage)")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: cache + "/proxies")) ?? []
        #expect(leftovers.isEmpty, "partial output left behind: \(leftovers)")
        let status = try await server.call("status", ["sourcePath": .string(clip.path)])
        #expect(status["status"] == .string("failed"))
        #expect(status["error"]?.stringValue?.isEmpty == false)
        let stats = try await server.call("stats")
        #expect(stats["totalProxies"] == .int(0))
        // The server keeps serving after the failure.
        #expect(try await server.call("ping")["serverTime"] != nil)
    }

    @Test func hardwareAutoFallsBackToLibx264AndSaysWhy() async throws {
        let clip = try Fixtures.shortClip()
        let server = try ServerProcess()
        _ = try await server.initialize(options: ["hardwareAcceleration": .string("auto")])
        let result = try await server.call("generate", [
            "sourcePath": .string(clip.path), "quality": .string("Draft"), "backgroundGeneration": .bool(false)], timeout: .seconds(60))
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
