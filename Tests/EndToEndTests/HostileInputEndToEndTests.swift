import Foundation
import JSONRPC
import TestSupport
import Testing

/// Hostile paths, hostile media, sources that change under the server, floods of requests, and a cache with
/// symlinks planted in it, through the real binary. Each gets a clear answer and the server keeps serving.
@Suite(.timeLimit(.minutes(10)))
struct HostileInputEndToEndTests {
    /// Every error code a media request may answer (`protocol/spec.md` §4): anything else, -32603 above all, is a bug.
    static let mediaErrorCodes: Set<Int> = [-32001, -32003, -32004, -32005, -32006, -32007, -32008, -32009, -32010, -32011, -32022]

    static func expectServing(_ server: ServerProcess) async throws {
        #expect(try await server.call("ping")["serverTime"] != nil, "the server stopped serving")
    }

    // MARK: - Paths

    @Test func pathsWithSpacesUnicodeNewlinesAndQuotesAndSymlinksWorkEverywhere() async throws {
        let clip = try await ProxyE2E.clip640()
        let folder = MediaFixtures.temporaryDirectory(named: "hostile names/ünïcødé 🎬")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let names = [
            "clip with  spaces.mp4", "клип 🎬 ünïcødé.mp4", "new\nline.mp4", #"quote"s and 'apostrophes'.mp4"#,
            #"back\slash $HOME `x`.mp4"#, "-starts-with-dash.mp4",
        ]
        var paths: [String] = []
        for (index, name) in names.enumerated() {
            let url = folder.appendingPathComponent(name)
            var data = try Data(contentsOf: clip)
            data.append(UInt8(index))  // a different content per name: each gets its own proxy
            try data.write(to: url)
            paths.append(url.path)
        }
        let link = folder.appendingPathComponent("a link → clip.mp4")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: paths[1])
        paths.append(link.path)

        let server = try ServerProcess()
        _ = try await server.initialize()
        _ = try await server.call("setQuality", ["mode": .string("proxy"), "quality": .string("Draft")])
        for path in paths {
            let probe = try await server.call("probe", ["path": .string(path)])
            #expect(probe["streams"]?.arrayValue?.count == 2, "\(probe)")
            let generated = try await server.request(
                "generate",
                [
                    "sourcePath": .string(path), "quality": .string("Draft"),
                    "backgroundGeneration": .bool(false),
                ], timeout: .seconds(120))
            #expect(generated["result"]?["proxy"]?["status"] == .string("completed"), "\(path): \(generated)")
            let resolved = try await server.call("resolve", ["sourcePath": .string(path)])
            #expect(resolved["usingProxy"] == .bool(true), "\(path): \(resolved)")
            let frame = try await server.call(
                "requestFrame",
                [
                    "sourcePath": .string(path), "time": .double(0.5), "width": .int(160),
                    "delivery": .string("file"),
                ])
            let file = try #require(frame["path"]?.stringValue, "\(frame)")
            #expect(FileManager.default.fileExists(atPath: file))
            let waveform = try await server.call(
                "requestWaveformRange",
                [
                    "sourcePath": .string(path), "startTime": .double(0),
                    "endTime": .double(1), "samplesPerPixel": .int(256),
                ])
            #expect((waveform["windows"]?.arrayValue?.count ?? 0) > 0, "\(path): \(waveform)")
        }
        // The symlink is read through: its proxy is its target's (the same content).
        let viaLink = try await server.call("status", ["sourcePath": .string(link.path), "quality": .string("Draft")])
        let direct = try await server.call("status", ["sourcePath": .string(paths[1]), "quality": .string("Draft")])
        #expect(viaLink["proxyPath"] == direct["proxyPath"] && viaLink["status"] == .string("completed"), "\(viaLink) \(direct)")
    }

    // MARK: - The cache's own directories

    /// Symlinks planted inside the cache's areas (named like the files the server deletes), a dead process's frame
    /// folder that is a symlink, and finally the proxy area itself swapped for a symlink: `clearCache` deletes
    /// links, never what they point to, and never reaches outside the cache.
    @Test func clearCacheNeverDeletesOutsideItsDirectoriesEvenThroughSymlinks() async throws {
        let outside = MediaFixtures.temporaryDirectory(named: "precious")
        let precious = ["holiday.mp4", "0123456789abcdef-Preview.mp4", "0123456789abcdef.wave", "notes.txt"]
        for name in precious { try Data("keep me \(name)".utf8).write(to: outside.appendingPathComponent(name)) }
        let outsideFolder = outside.appendingPathComponent("folder")
        try FileManager.default.createDirectory(at: outsideFolder, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: outsideFolder.appendingPathComponent("frame.jpg"))
        func everythingOutsideIsThere() -> Bool {
            precious.allSatisfy { FileManager.default.fileExists(atPath: outside.appendingPathComponent($0).path) }
                && FileManager.default.fileExists(atPath: outsideFolder.appendingPathComponent("frame.jpg").path)
        }

        let clip = try await ProxyE2E.clip640()
        let first = try ServerProcess()
        _ = try await first.initialize()
        _ = try await first.request(
            "generate",
            [
                "sourcePath": .string(clip.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false),
            ], timeout: .seconds(120))
        _ = try await first.call(
            "requestWaveformRange",
            [
                "sourcePath": .string(clip.path), "startTime": .double(0),
                "endTime": .double(1), "samplesPerPixel": .int(256),
            ])
        _ = try await first.call(
            "requestFrame",
            [
                "sourcePath": .string(clip.path), "time": .double(0.5), "width": .int(160),
                "delivery": .string("file"),
            ])
        let manager = FileManager.default
        let proxies = first.cacheDirectory + "/proxies", waveforms = first.waveformCacheDirectory + "/waveforms"
        let frames = first.frameCacheDirectory + "/frames"
        try manager.createSymbolicLink(
            atPath: proxies + "/0123456789abcdef-Preview.mp4", withDestinationPath: outside.path + "/0123456789abcdef-Preview.mp4")
        try manager.createSymbolicLink(
            atPath: proxies + "/0123456789abcdef-Draft.job-feedface.partial.mp4", withDestinationPath: outside.path + "/holiday.mp4")
        try manager.createSymbolicLink(atPath: proxies + "/escape", withDestinationPath: outside.path)
        try manager.createSymbolicLink(atPath: waveforms + "/0123456789abcdef.wave", withDestinationPath: outside.path + "/0123456789abcdef.wave")
        try manager.createSymbolicLink(atPath: frames + "/gone-process", withDestinationPath: outsideFolder.path)

        let cleared = try await first.call("clearCache", ["scope": .string("all")])
        #expect((cleared["deletedFiles"]?.intValue ?? 0) >= 1, "\(cleared)")
        #expect(everythingOutsideIsThere(), "clearCache deleted something outside the cache")
        // A second window starts: it sweeps what dead processes left (the planted frame folder among them).
        let second = try ServerProcess(
            cacheDirectory: first.cacheDirectory, waveformCacheDirectory: first.waveformCacheDirectory,
            frameCacheDirectory: first.frameCacheDirectory)
        _ = try await second.initialize()
        _ = try await second.call("clearCache", ["scope": .string("all")])
        #expect(everythingOutsideIsThere(), "starting or clearing deleted something outside the cache")

        // The proxy area itself swapped for a symlink to the user's folder while the servers run.
        try manager.moveItem(atPath: proxies, toPath: proxies + ".moved")
        try manager.createSymbolicLink(atPath: proxies, withDestinationPath: outside.path)
        _ = try await second.request("clearCache", ["scope": .string("all")])
        _ = try await first.request("clearCache", ["scope": .string("proxies")])
        #expect(everythingOutsideIsThere(), "clearing through a swapped area deleted something outside the cache")
        try await Self.expectServing(first)
        try await Self.expectServing(second)
    }

    // MARK: - Floods

    @Test func tenThousandQueuedRequestsAreAllAnsweredOnceWithBoundedMemory() async throws {
        let clip = try await MediaFixtures.shortClip()
        let server = try ServerProcess()
        _ = try await server.initialize()
        let rssBefore = SharedCacheEndToEndTests.residentMegabytes(server.process.processIdentifier) ?? 0
        var batch = Data()
        var ids: [Int] = []
        for index in 0..<10_000 {
            let id = 100_000 + index
            ids.append(id)
            let message: String
            switch index % 8 {
            case 0: message = #"{"jsonrpc":"2.0","id":\#(id),"method":"ping","params":{"echo":"\#(index)"}}"#
            case 1: message = #"{"jsonrpc":"2.0","id":\#(id),"method":"status","params":{"sourcePath":"\#(clip.path)"}}"#
            case 2: message = #"{"jsonrpc":"2.0","id":\#(id),"method":"getSettings"}"#
            case 3: message = #"{"jsonrpc":"2.0","id":\#(id),"method":"probe","params":{"path":"\#(clip.path)"}}"#
            case 4: message = #"{"jsonrpc":"2.0","id":\#(id),"method":"stats"}"#
            case 5:
                message =
                    #"{"jsonrpc":"2.0","id":\#(id),"method":"requestFrame","params":{"sourcePath":"\#(clip.path)","time":\#(Double(index % 50) / 25),"width":96}}"#
            case 6: message = #"{"jsonrpc":"2.0","id":\#(id),"method":"resolve","params":{"sourcePath":"\#(clip.path)"}}"#
            default: message = #"{"jsonrpc":"2.0","id":\#(id),"method":"probe","params":{"path":"/no/such/file-\#(index).mp4"}}"#
            }
            batch.append(contentsOf: Array("Content-Length: \(message.utf8.count)\r\n\r\n".utf8) + Array(message.utf8))
        }
        server.sendRawInBackground(batch)
        let deadline = TestDeadline.after(.seconds(240))
        var rssMax = rssBefore
        var answered: [Int: Int] = [:]
        while ContinuousClock.now < deadline {
            answered = [:]
            for message in server.messages { if let id = message["id"]?.intValue, id >= 100_000 { answered[id, default: 0] += 1 } }
            if answered.count == ids.count { break }
            rssMax = max(rssMax, SharedCacheEndToEndTests.residentMegabytes(server.process.processIdentifier) ?? 0)
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(answered.count == ids.count, "\(answered.count) of \(ids.count) requests answered")
        #expect(answered.values.allSatisfy { $0 == 1 }, "a request was answered twice")
        let failures = server.messages.filter { ($0["id"]?.intValue ?? 0) >= 100_000 && $0["error"] != nil }
        #expect(failures.allSatisfy { $0.errorCode == -32001 }, "unexpected errors: \(failures.prefix(3))")
        #expect(failures.count == ids.count / 8)
        #expect(rssMax - rssBefore < 300 * TestFiles.memoryOverhead, "memory grew from \(rssBefore) MB to \(rssMax) MB")
        try await Self.expectServing(server)
    }

    // MARK: - Media that tries to hurt

    /// A Y4M header claiming 16000x16000 (a 384 MB picture), a BMP claiming 30000x30000 and a PNG claiming
    /// 100000x100000, each with a few bytes of data.
    static func absurdDimensions() throws -> [URL] {
        var y4m = Data("YUV4MPEG2 W16000 H16000 F25:1 Ip A1:1 C420jpeg\nFRAME\n".utf8)
        y4m.append(Data(repeating: 0x80, count: 5000))
        var bmp = Data("BM".utf8)
        func le32(_ value: UInt32) -> Data { withUnsafeBytes(of: value.littleEndian) { Data($0) } }
        func le16(_ value: UInt16) -> Data { withUnsafeBytes(of: value.littleEndian) { Data($0) } }
        bmp +=
            le32(54) + le16(0) + le16(0) + le32(54) + le32(40) + le32(30000) + le32(30000) + le16(1) + le16(24)
            + le32(0) + le32(0) + le32(2835) + le32(2835) + le32(0) + le32(0) + Data(count: 1000)
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        func be32(_ value: UInt32) -> Data { withUnsafeBytes(of: value.bigEndian) { Data($0) } }
        let ihdr = Data("IHDR".utf8) + be32(100_000) + be32(100_000) + Data([8, 2, 0, 0, 0])
        png += be32(13) + ihdr + be32(0) + be32(0) + Data("IEND".utf8) + be32(0)
        return try [
            MediaFixtures.file("absurd.y4m", bytes: y4m), MediaFixtures.file("absurd.bmp", bytes: bmp), MediaFixtures.file("absurd.png", bytes: png),
        ]
    }

    /// A small MP4 with its first track repeated until the header declares `tracks` tracks.
    static func manyTracks(_ tracks: Int) async throws -> URL {
        let data = try await Data(contentsOf: ProxyE2E.clip640())
        return try MediaFixtures.file("tracks-\(tracks).mp4", bytes: MP4Surgery.repeatingFirstTrack(of: data, until: tracks))
    }

    /// `mdhd` (every track's media time scale) and `mvhd` set to `timescale` (0, or 0xFFFFFFFF: -1 as a signed value).
    static func timescale(_ timescale: UInt32) async throws -> URL {
        let data = try await Data(contentsOf: ProxyE2E.clip640())
        return try MediaFixtures.file("timescale-\(timescale).mp4", bytes: MP4Surgery.settingTimescales(of: data, to: timescale))
    }

    @Test func mediaThatTriesToHurtGetsAClearErrorAndTheServerKeepsServing() async throws {
        let server = try ServerProcess()
        _ = try await server.initialize()
        let hostile = try await Self.absurdDimensions() + [Self.manyTracks(1500), Self.timescale(0), Self.timescale(0xFFFF_FFFF)]
        for file in hostile {
            let path = JSONValue.string(file.path)
            let probe = try await server.request("probe", ["path": path])
            #expect(probe["result"] != nil || Self.mediaErrorCodes.contains(probe.errorCode ?? 0), "\(file.lastPathComponent) probe: \(probe)")
            for (method, params) in [
                ("generate", ["sourcePath": path, "quality": .string("Draft"), "backgroundGeneration": .bool(false)]),
                ("requestFrame", ["sourcePath": path, "time": .double(0.5), "width": .int(160)]),
                ("requestWaveformRange", ["sourcePath": path, "startTime": .double(0), "endTime": .double(1), "samplesPerPixel": .int(256)]),
                ("importMedia", ["paths": .array([path])]),
            ] as [(String, [String: JSONValue])] {
                let answer = try await server.request(method, params, timeout: .seconds(120))
                if let code = answer.errorCode {
                    #expect(Self.mediaErrorCodes.contains(code), "\(file.lastPathComponent) \(method): \(answer)")
                    #expect(!answer.errorMessage.isEmpty)
                } else if method == "generate" {
                    // A time base libav repaired is usable: the proxy is then a real one.
                    #expect(answer["result"]?["proxy"]?["status"] == .string("completed"), "\(file.lastPathComponent) \(method): \(answer)")
                }
            }
            try await Self.expectServing(server)
        }
        // The absurd pictures are refused before any decoding, with the reason; so is a header of 1,500 tracks.
        let absurd = try Self.absurdDimensions()
        let y4m = try await server.request("requestFrame", ["sourcePath": .string(absurd[0].path), "time": .double(0)])
        #expect(y4m.errorCode == -32009 && y4m.errorMessage.contains("16000x16000"), "\(y4m)")
        let bmp = try await server.request("requestFrame", ["sourcePath": .string(absurd[1].path), "time": .double(0)])
        #expect(bmp.errorCode == -32008 && bmp.errorMessage.contains("picture size"), "\(bmp)")
        let tracks = try await server.request("probe", ["path": .string(try Self.manyTracks(1500).path)])
        #expect(tracks.errorCode == -32008 && tracks.errorMessage.contains("streams"), "\(tracks)")
        // 60 tracks are within libav's limits: probed, all of them listed, and proxied from the first video and audio.
        let sixty = try await Self.manyTracks(60)
        let probe = try await server.call("probe", ["path": .string(sixty.path)])
        #expect(probe["streams"]?.arrayValue?.count == 60, "\(probe)")
        let proxy = try await server.request(
            "generate",
            [
                "sourcePath": .string(sixty.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false),
            ], timeout: .seconds(120))
        #expect(proxy["result"]?["proxy"]?["status"] == .string("completed"), "\(proxy)")
    }

    // MARK: - Sources that change or vanish while they are read

    @Test(arguments: ["appended", "deleted"])
    func aSourceChangedOrDeletedDuringGenerationFailsClearlyAndRegistersNothing(change: String) async throws {
        let source = try await ProxyE2E.copy(ProxyE2E.long(), as: "changing-\(change).mp4")
        let server = try ServerProcess()
        _ = try await server.initialize()
        let token = JSONValue.string("changing")
        let id = server.sendRequest(
            "generate",
            [
                "sourcePath": .string(source.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false), "workDoneToken": token,
            ])
        try await ProxyE2E.waitForReport(server, token: token)
        if change == "deleted" {
            try FileManager.default.removeItem(at: source)
        } else {
            let handle = try FileHandle(forWritingTo: source)
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(repeating: 0x42, count: 4096))
            try handle.close()
        }
        let answer = try await server.response(id, timeout: .seconds(180))
        let code = try #require(answer.errorCode, "a proxy of a source that \(change) was registered: \(answer)")
        #expect(code == (change == "deleted" ? -32001 : -32008), "\(answer)")
        #expect(answer.errorMessage.contains(source.lastPathComponent), "\(answer.errorMessage)")
        #expect(SharedCacheEndToEndTests.partialFiles(server.cacheDirectory).isEmpty)
        #expect(ProxyE2E.proxyFiles(server.cacheDirectory).isEmpty, "\(ProxyE2E.proxyFiles(server.cacheDirectory))")
        #expect(try await server.call("stats")["totalProxies"] == .int(0))
        try await Self.expectServing(server)
    }

    @Test func audioRewrittenDuringAnalysisIsNeverServedFromTheOldAnalysis() async throws {
        let audio = try await ProxyE2E.copy(
            MediaFixtures.mediaOffPool(
                "rewritten-20min.flac",
                [
                    "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=44100:duration=1200",
                    "-ac", "1", "-c:a", "flac",
                ]), as: "rewritten.flac")
        let quiet = try await MediaFixtures.mediaOffPool(
            "quiet-20min.flac", ["-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono", "-t", "1200", "-c:a", "flac"])
        let server = try ServerProcess()
        _ = try await server.initialize()
        let range: [String: JSONValue] = [
            "sourcePath": .string(audio.path), "startTime": .double(1100), "endTime": .double(1101),
            "samplesPerPixel": .int(256 * 16),
        ]
        let first = server.sendRequest("requestWaveformRange", range)
        try await Task.sleep(for: .milliseconds(200))
        // The file is replaced in place by silence while the analysis of the tone runs.
        try Data(contentsOf: quiet).write(to: audio)
        _ = try await server.response(first, timeout: .seconds(180))
        // Whatever the first answer was, every later one describes the file as it is now: silence.
        let later = try await server.call("requestWaveformRange", range, timeout: .seconds(180))
        let window = try #require(later["windows"]?.arrayValue?.first)
        let peaks = (window["max"]?.arrayValue ?? []).compactMap(\.doubleValue)
        #expect(!peaks.isEmpty && peaks.allSatisfy { $0 == 0 }, "the old analysis was served: \(peaks.prefix(5))")
        try await Self.expectServing(server)
    }
}

/// Box surgery on the small MP4s ffmpeg writes (32-bit box sizes, `moov` after `mdat`, so growing `moov` moves no
/// sample data).
enum MP4Surgery {
    static func boxes(_ data: Data, in range: Range<Int>) -> [(type: String, range: Range<Int>)] {
        var found: [(String, Range<Int>)] = []
        var offset = range.lowerBound
        while offset + 8 <= range.upperBound {
            let size = Int(data[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard size >= 8, offset + size <= range.upperBound else { break }
            found.append((String(decoding: data[offset + 4..<offset + 8], as: UTF8.self), offset..<offset + size))
            offset += size
        }
        return found
    }

    static func repeatingFirstTrack(of data: Data, until tracks: Int) -> Data {
        guard let moov = boxes(data, in: data.startIndex..<data.endIndex).first(where: { $0.type == "moov" }),
            let trak = boxes(data, in: moov.range.lowerBound + 8..<moov.range.upperBound).first(where: { $0.type == "trak" })
        else {
            return data
        }
        let existing = boxes(data, in: moov.range.lowerBound + 8..<moov.range.upperBound).filter { $0.type == "trak" }.count
        var body = data[moov.range.lowerBound + 8..<moov.range.upperBound]
        for _ in 0..<max(0, tracks - existing) { body.append(data[trak.range]) }
        var newMoov = withUnsafeBytes(of: UInt32(body.count + 8).bigEndian) { Data($0) } + Data("moov".utf8)
        newMoov.append(body)
        return data[data.startIndex..<moov.range.lowerBound] + newMoov + data[moov.range.upperBound..<data.endIndex]
    }

    static func settingTimescales(of data: Data, to timescale: UInt32) -> Data {
        var patched = data
        for type in ["mvhd", "mdhd"] {
            var search = patched.startIndex
            while let found = patched.range(of: Data(type.utf8), in: search..<patched.endIndex) {
                let field = found.upperBound + 4 + 8  // version and flags, creation and modification times (version 0)
                patched.replaceSubrange(field..<field + 4, with: withUnsafeBytes(of: timescale.bigEndian) { Data($0) })
                search = found.upperBound
            }
        }
        return patched
    }
}
