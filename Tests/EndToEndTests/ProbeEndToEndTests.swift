import Foundation
import JSONRPC
import TestSupport
import Testing

/// `probe` against real files, including every bad-input case.
@Suite(.timeLimit(.minutes(10)))
struct ProbeEndToEndTests {
    @Test func probeDescribesContainerAndStreams() async throws {
        let clip = try await MediaFixtures.shortClip()
        let server = try ServerProcess()
        _ = try await server.initialize()
        let info = try await server.call("probe", ["path": .string(clip.path)])
        #expect(info["formatName"]?.stringValue?.contains("mp4") == true)
        let duration = try #require(info["durationSeconds"]?.doubleValue)
        #expect(abs(duration - 2.0) < 0.1)
        let size = try FileManager.default.attributesOfItem(atPath: clip.path)[.size] as? Int
        #expect(info["sizeBytes"]?.intValue == size)
        let streams = info["streams"]?.arrayValue ?? []
        let video = try #require(streams.first { $0["type"] == .string("video") })
        #expect(video["codec"] == .string("h264"))
        #expect(video["width"] == .int(320) && video["height"] == .int(240))
        #expect(video["pixelFormat"] == .string("yuv420p"))
        #expect(abs((video["frameRate"]?.doubleValue ?? 0) - 25) < 0.01)
        let audio = try #require(streams.first { $0["type"] == .string("audio") })
        #expect(audio["codec"] == .string("aac"))
        #expect(audio["sampleRate"] == .int(48000))
        #expect(audio["channels"] == .int(2))
        #expect(audio["channelLayout"] == .string("stereo"))
    }

    /// Each bad file gets its documented code and a message naming the path.
    @Test func badFilesGetClearErrors() async throws {
        let clip = try await MediaFixtures.shortClip()
        let directory = MediaFixtures.temporaryDirectory(named: "a-directory")
        let empty = try MediaFixtures.file("empty.mp4", bytes: Data())
        let text = try MediaFixtures.file("notes.mp4", bytes: Data("just some text, not a video\n".utf8))
        // Repeatable noise (a fixed pattern from a linear congruential sequence), not the system generator.
        var state: UInt32 = 0x2545_F491
        let noise = try MediaFixtures.file(
            "noise.mov",
            bytes: Data(
                (0..<65536).map { _ -> UInt8 in
                    state = state &* 1_664_525 &+ 1_013_904_223
                    return UInt8(truncatingIfNeeded: state >> 24)
                }))
        let lyrics = try MediaFixtures.file("lyrics.mov", bytes: Data("[00:01.00]first line\n[00:02.50]second line\n".utf8))
        let truncated = try MediaFixtures.truncatedCopy(of: clip, name: "truncated.mp4")
        let cases: [(path: String, code: Int)] = [
            ("/no/such/file.mp4", -32001),
            (directory.path, -32003),
            (empty.path, -32005),
            (text.path, -32006),
            (noise.path, -32006),
            (lyrics.path, -32006),
            (truncated.path, -32007),
        ]
        let server = try ServerProcess()
        _ = try await server.initialize()
        for (path, code) in cases {
            let response = try await server.request("probe", ["path": .string(path)])
            #expect(response.errorCode == code, "\(path): \(response)")
            #expect(response.errorMessage.contains(path), "message should name the path: \(response.errorMessage)")
            #expect(response["error"]?["data"]?["path"] == .string(path))
        }
        #expect(try await server.call("ping")["serverTime"] != nil)
    }

    /// Root reads any file, so this runs only for other users.
    @Test(.enabled(if: getuid() != 0)) func unreadableFileIsPermissionDenied() async throws {
        let clip = try await MediaFixtures.shortClip()
        let locked = try MediaFixtures.file("locked.mp4", bytes: try Data(contentsOf: clip))
        chmod(locked.path, 0)
        let server = try ServerProcess()
        _ = try await server.initialize()
        #expect(try await server.request("probe", ["path": .string(locked.path)]).errorCode == -32004)
    }
}
