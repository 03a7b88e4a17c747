import Foundation
import JSONRPC
import TestSupport
import Testing

/// `requestFrame` and `setPlayhead` through the real binary: the file chosen by the preview mode, deliveries,
/// the cache's counters and clearing, preloading, and bad requests that leave the server serving.
@Suite(.timeLimit(.minutes(10)))
struct FrameEndToEndTests {
    static func frame(_ server: ServerProcess, _ source: URL, _ time: Double, _ extra: [String: JSONValue] = [:]) async throws -> JSONValue {
        var params: [String: JSONValue] = ["sourcePath": .string(source.path), "time": .double(time), "width": .int(160)]
        params.merge(extra) { $1 }
        return try await server.call("requestFrame", params)
    }

    @Test func theProxyIsReadInProxyModeOnceItExistsAndTheSourceOtherwise() async throws {
        let source = try await ProxyE2E.copy(ProxyE2E.clip640(), as: "frames-proxy-choice.mp4")
        let server = try ServerProcess()
        _ = try await server.initialize()
        // Proxy mode (the start), but no proxy yet: the source.
        let before = try await Self.frame(server, source, 1.0)
        #expect(before["fromProxy"] == .bool(false) && before["time"] == .int(1))
        _ = try await server.call(
            "generate", ["sourcePath": .string(source.path), "backgroundGeneration": .bool(false)],
            timeout: .seconds(90))
        let fromProxy = try await Self.frame(server, source, 1.0)
        #expect(fromProxy["fromProxy"] == .bool(true) && fromProxy["fromCache"] == .bool(false))
        #expect(fromProxy["time"] == .int(1) && fromProxy["width"] == .int(160) && fromProxy["height"] == .int(90))
        _ = try await server.call("setQuality", ["mode": .string("source")])
        let fromSource = try await Self.frame(server, source, 1.0)
        #expect(fromSource["fromProxy"] == .bool(false) && fromSource["fromCache"] == .bool(true), "the source's picture is cached")
        // The same picture from both files (proxies keep the source's timeline): JPEGs that decode alike.
        let a = try #require(before["data"]?.stringValue.flatMap { Data(base64Encoded: $0) })
        let b = try #require(fromProxy["data"]?.stringValue.flatMap { Data(base64Encoded: $0) })
        #expect(a.prefix(3) == Data([0xFF, 0xD8, 0xFF]) && b.prefix(3) == Data([0xFF, 0xD8, 0xFF]))
        let psnr = try await OffPool.run { try Self.psnr(a, b) }
        #expect(psnr > 30, "source and proxy pictures at 1.0 s differ: PSNR \(psnr) dB")
    }

    @Test func filesAreDeliveredCountedAndClearedAndTheServerKeepsServing() async throws {
        let source = try await ProxyE2E.clip640()
        let server = try ServerProcess()
        _ = try await server.initialize()
        _ = try await server.call("setQuality", ["mode": .string("source")])
        let file = try await Self.frame(server, source, 0.4, ["format": .string("png"), "delivery": .string("file")])
        let path = try #require(file["path"]?.stringValue)
        #expect(path.hasPrefix(URL(fileURLWithPath: server.frameCacheDirectory).standardizedFileURL.path + "/frames/"), "\(path)")
        #expect(file["data"] == nil)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        var mode = stat()
        #expect(stat(path, &mode) == 0 && mode.st_mode & 0o077 == 0, "private file")
        // The same picture delivered to two requests at once: one file, both answered.
        let params: [String: JSONValue] = [
            "sourcePath": .string(source.path), "time": .double(0.4), "width": .int(160),
            "format": .string("png"), "delivery": .string("file"),
        ]
        let ids = [server.sendRequest("requestFrame", params), server.sendRequest("requestFrame", params)]
        for id in ids {
            let response = try await server.response(id)
            #expect(response["result"]?["path"] == file["path"], "\(response)")
        }
        // Inline from the cache, then bad requests, then still serving.
        #expect(try await Self.frame(server, source, 0.41, ["format": .string("png")])["fromCache"] == .bool(true))
        for bad: [String: JSONValue] in [["time": .int(-2)], ["time": .int(99)], ["width": .int(-1)], ["format": .string("webp")]] {
            var params: [String: JSONValue] = ["sourcePath": .string(source.path), "time": .int(1)]
            params.merge(bad) { $1 }
            #expect(try await server.request("requestFrame", params).errorCode == -32602, "\(bad)")
        }
        let stats = try await server.call("stats")
        let frames = try #require(stats["frameCache"])
        #expect(frames["hits"] == .int(3) && frames["misses"] == .int(1) && frames["entries"] == .int(1), "\(frames)")
        #expect(frames["files"] == .int(1) && frames["limitBytes"] == .int(100 << 20) && frames["warmDecoders"] == .int(1))
        let cleared = try await server.call("clearCache", ["scope": .string("frames")])
        #expect(cleared["clearedFrames"] == .int(1) && cleared["deletedFiles"] == .int(1), "\(cleared)")
        #expect(!FileManager.default.fileExists(atPath: path))
        let after = try await server.call("stats")
        #expect(after["frameCache"]?["entries"] == .int(0) && after["frameCache"]?["warmDecoders"] == .int(0))
        #expect(try await Self.frame(server, source, 0.4)["fromCache"] == .bool(false), "cold again")
        // A smaller budget applies at once.
        _ = try await server.call("updateSettings", ["settings": .object(["frameCacheBytes": .int(1)])])
        #expect(try await server.call("stats")["frameCache"]?["entries"] == .int(0))
    }

    @Test func thePlayheadPreloadsWhatComesNext() async throws {
        let source = try await ProxyE2E.clip640()
        let server = try ServerProcess()
        _ = try await server.initialize()
        _ = try await server.call("setQuality", ["mode": .string("source")])
        server.notify("setPlayhead", ["sourcePath": .string(source.path), "time": .double(0.2), "rate": .int(1), "width": .int(200)])
        let deadline = TestDeadline.after(.seconds(30))
        var preloaded = 0
        while preloaded < 30, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            preloaded = try await server.call("stats")["frameCache"]?["preloaded"]?.intValue ?? 0
        }
        #expect(preloaded >= 30)
        for time in [0.25, 0.6, 1.1] {
            let frame = try await Self.frame(server, source, time, ["width": .int(200)])
            #expect(frame["fromCache"] == .bool(true), "\(time) was ahead of the playhead")
        }
        // Bad playheads are dropped, and the server keeps serving.
        server.notify("setPlayhead", ["sourcePath": .string("relative.mp4"), "time": .int(0), "rate": .int(1)])
        server.notify("setPlayhead", ["sourcePath": .string(source.path), "time": .int(-1), "rate": .int(1)])
        server.notify("setPlayhead", ["sourcePath": .string("/no/such.mp4"), "time": .int(0), "rate": .int(1), "width": .int(10)])
        #expect(try await server.call("ping")["serverTime"] != nil)
    }

    /// PSNR of two JPEGs, decoded by the ffmpeg CLI to gray.
    static func psnr(_ a: Data, _ b: Data) throws -> Double {
        let directory = MediaFixtures.temporaryDirectory(named: "psnr")
        let first = directory.appendingPathComponent("a.jpg"), second = directory.appendingPathComponent("b.jpg")
        try a.write(to: first)
        try b.write(to: second)
        func gray(_ url: URL) throws -> [UInt8] {
            [UInt8](try ReferenceTools.ffmpeg(["-v", "error", "-i", url.path, "-f", "rawvideo", "-pix_fmt", "gray", "-"]).stdout)
        }
        let x = try gray(first), y = try gray(second)
        guard x.count == y.count, !x.isEmpty else { return 0 }
        let mse = zip(x, y).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) } / Double(x.count)
        return mse == 0 ? 99 : 10 * log10(255 * 255 / mse)
    }
}
