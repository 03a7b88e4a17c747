import Foundation
import JSONRPC
import TestSupport
import Testing

/// Media and file helpers for the proxy end-to-end tests. `ffprobe` is the independent reference for what
/// the proxies hold (a test-only tool, like the ffmpeg CLI that makes the fixtures).
enum ProxyE2E {
    static let sine = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]

    /// 2 s of 640x360 (16:9) 25 fps H.264 + stereo AAC.
    static func clip640() async throws -> URL {
        try await MediaFixtures.mediaOffPool(
            "proxy-640x360.mp4",
            ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=2"] + sine
                + ["-t", "2", "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"])
    }

    /// 1 s of 1920x1080 25 fps H.264 + stereo AAC, at a low bit rate so the file stays well under 1 MiB.
    static func clip1080() async throws -> URL {
        try await MediaFixtures.mediaOffPool(
            "proxy-1920x1080.mp4",
            ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=1"] + sine
                + ["-t", "1", "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1M", "-pix_fmt", "yuv420p", "-c:a", "aac"])
    }

    /// 1 s of 1080x1920 (portrait) 25 fps H.264, no audio, well under 1 MiB.
    static func portrait() async throws -> URL {
        try await MediaFixtures.mediaOffPool(
            "proxy-portrait.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=1080x1920:rate=25:duration=1",
                "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1M", "-pix_fmt", "yuv420p",
            ])
    }

    /// 90 s of 1280x720 25 fps H.264, no audio: still running when a test cancels or kills its job, or when other
    /// processes act on the cache meanwhile, even on a busy machine.
    static func long() async throws -> URL {
        try await MediaFixtures.mediaOffPool(
            "proxy-long-720p.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=90",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            ])
    }

    /// 1 s of stereo AAC only.
    static func audioOnly() async throws -> URL {
        try await MediaFixtures.mediaOffPool("proxy-audio-only.m4a", sine + ["-t", "1", "-ac", "2", "-c:a", "aac"])
    }

    /// A private byte copy of `url` (new inode and mtime), for tests that change or move their source.
    static func copy(_ url: URL, as name: String) throws -> URL {
        let target = MediaFixtures.temporaryDirectory(named: "sources").appendingPathComponent(name)
        try Data(contentsOf: url).write(to: target)
        return target
    }

    /// What a job left in the proxy cache besides the finished segments it keeps for the next attempt (§10.9): proxy
    /// files and partial files.
    static func outputs(_ cacheDirectory: String) -> [String] {
        proxyFiles(cacheDirectory).filter { !$0.hasSuffix(".segments") } + SharedCacheEndToEndTests.partialFiles(cacheDirectory)
    }

    static func fileSize(_ path: String) -> Int? {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : nil
    }

    static func proxyFiles(_ cacheDirectory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: cacheDirectory + "/proxies")) ?? []).sorted()
    }

    static func proxyBytes(_ cacheDirectory: String) -> Int {
        proxyFiles(cacheDirectory).reduce(0) { $0 + (fileSize(cacheDirectory + "/proxies/" + $1) ?? 0) }
    }

    /// The `value`s of `$/progress` on `token`, in arrival order.
    static func progress(_ server: ServerProcess, token: JSONValue) -> [JSONValue] {
        server.notifications("$/progress").filter { $0["token"] == token }.compactMap { $0["value"] }
    }

    /// Waits for the `end` on `token` and returns it.
    @discardableResult
    static func waitForEnd(_ server: ServerProcess, token: JSONValue, timeout: Duration = .seconds(60)) async throws -> JSONValue {
        let message = try await server.waitFor(timeout: timeout) {
            $0["method"] == .string("$/progress") && $0["params"]?["token"] == token && $0["params"]?["value"]?["kind"] == .string("end")
        }
        return message["params"]?["value"] ?? .null
    }

    /// Waits for an encoding `report` on `token` (the job is transcoding: its partial file exists). The `report`
    /// that says the job started (message "generating") comes before the file does.
    static func waitForReport(_ server: ServerProcess, token: JSONValue, timeout: Duration = .seconds(30)) async throws {
        _ = try await server.waitFor(timeout: timeout) {
            $0["method"] == .string("$/progress") && $0["params"]?["token"] == token && $0["params"]?["value"]?["kind"] == .string("report")
                && $0["params"]?["value"]?["message"]?.stringValue?.hasPrefix("Encoding") == true
        }
    }

    /// Problems of each job progress value against its JobProgressBegin/Report/End schema.
    static func jobProgressProblems(_ values: [JSONValue], _ document: OpenRPCDocument) -> [String] {
        values.flatMap { value -> [String] in
            switch value["kind"]?.stringValue {
            case "begin": return document.validate(value, against: "JobProgressBegin").map { "begin \(value): \($0)" }
            case "report": return document.validate(value, against: "JobProgressReport").map { "report \(value): \($0)" }
            case "end": return document.validate(value, against: "JobProgressEnd").map { "end \(value): \($0)" }
            default: return ["unknown kind in \(value)"]
            }
        }
    }

    static func run(_ executable: String, _ arguments: [String]) async throws -> Data {
        try await Spawn.runOffPool(executable, arguments).stdout
    }

    /// `ffprobe -show_streams -show_format` as JSON.
    static func ffprobe(_ path: String) async throws -> JSONValue {
        try await JSONDecoder().decode(
            JSONValue.self,
            from: run(
                ReferenceTools.ffprobe,
                ["-v", "error", "-show_streams", "-show_format", "-of", "json", path]))
    }

    /// Every video frame's picture type and key flag, in decode order.
    static func videoFrames(_ path: String) async throws -> [(key: Bool, type: String)] {
        let json = try await JSONDecoder().decode(
            JSONValue.self,
            from: run(
                ReferenceTools.ffprobe,
                ["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame,pict_type", "-of", "json", path]))
        return (json["frames"]?.arrayValue ?? []).map { ($0["key_frame"]?.intValue == 1, $0["pict_type"]?.stringValue ?? "?") }
    }

    /// The longest run of frames from one keyframe to the next (or to the end).
    static func maxKeyframeDistance(_ frames: [(key: Bool, type: String)]) -> Int {
        var longest = 0, last = 0
        for (index, frame) in frames.enumerated() where frame.key && index > 0 {
            longest = max(longest, index - last)
            last = index
        }
        return max(longest, frames.count - last)
    }

    /// The MP4's top-level box types in file order.
    static func topLevelBoxes(_ path: String) throws -> [String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var boxes: [String] = [], offset = 0
        while offset + 8 <= data.count {
            let bytes = data[data.startIndex + offset..<data.startIndex + offset + 8]
            var size = bytes.prefix(4).reduce(0) { $0 << 8 | Int($1) }
            boxes.append(String(decoding: bytes.suffix(4), as: UTF8.self))
            if size == 1, offset + 16 <= data.count {
                size = data[data.startIndex + offset + 8..<data.startIndex + offset + 16].reduce(0) { $0 << 8 | Int($1) }
            } else if size == 0 {
                size = data.count - offset
            }
            guard size >= 8 else { break }
            offset += size
        }
        return boxes
    }

    static func stream(_ probe: JSONValue, _ type: String) -> JSONValue? {
        probe["streams"]?.arrayValue?.first { $0["codec_type"] == .string(type) }
    }
}

/// Proxy generation, the cache and the quality toggle through the real binary.
@Suite(.timeLimit(.minutes(10)))
struct ProxyEndToEndTests {
    // MARK: - generate

    /// A source no larger than the quality's box gets no proxy: `generate` answers `notNeeded` with the reason and no
    /// job (no file, nothing in the catalogue), `resolve` uses the source and says why, the CLI says so too; `force: true`
    /// makes one, which `resolve` then uses. A larger source's proxy is made as before.
    @Test func sourcesNoLargerThanTheBoxGetNoProxyUnlessForced() async throws {
        let document = try OpenRPCDocument.load()
        let hd = try await MediaFixtures.mediaOffPool(
            "proxy-1280x720.mp4",
            ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=0.5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        let server = try ServerProcess()
        server.forcesProxies = false
        _ = try await server.initialize()
        _ = try await server.call("setQuality", ["mode": .string("proxy")])
        let answer = try await server.call("generate", ["sourcePath": .string(hd.path), "backgroundGeneration": .bool(false)])
        #expect(document.validateResult(of: "generate", answer) == [])
        #expect(answer["status"] == .string("notNeeded") && answer["jobId"] == .string("") && answer["proxy"] == nil, "\(answer)")
        #expect(answer["reason"] == .string("the source (1280x720) is no larger than the Preview proxy's 1280x720 box"))
        #expect(ProxyE2E.proxyFiles(server.cacheDirectory).isEmpty)
        #expect(try await server.call("status", ["sourcePath": .string(hd.path)])["status"] == .string("none"))
        let resolved = try await server.call("resolve", ["sourcePath": .string(hd.path)])
        #expect(document.validateResult(of: "resolve", resolved) == [])
        #expect(resolved["path"] == .string(hd.path) && resolved["usingProxy"] == .bool(false))
        #expect(resolved["proxyStatus"] == .string("notNeeded"))
        #expect(resolved["reason"] == .string("no proxy needed: the source (1280x720) is no larger than the Preview proxy's 1280x720 box"))
        // Draft's box is smaller: that proxy is useful, and made.
        let draft = try await server.call(
            "generate", ["sourcePath": .string(hd.path), "quality": .string("Draft"), "backgroundGeneration": .bool(false)])
        #expect(draft["status"] == .string("completed") && draft["proxy"]?["width"] == .int(854), "\(draft)")
        // Forced: made at the source's size, and used.
        let forced = try await server.call(
            "generate", ["sourcePath": .string(hd.path), "backgroundGeneration": .bool(false), "force": .bool(true)])
        #expect(forced["status"] == .string("completed") && forced["proxy"]?["width"] == .int(1280), "\(forced)")
        let now = try await server.call("resolve", ["sourcePath": .string(hd.path)])
        #expect(now["usingProxy"] == .bool(true) && now["proxyStatus"] == .string("completed"), "\(now)")

        let cli = try await SharedCacheEndToEndTests.cli(
            ["generate", "--quality", "Preview", hd.path], cache: MediaFixtures.temporaryDirectory(named: "cache-not-needed").path)
        #expect(cli.status == 0 && cli.output.contains("not needed") && cli.output.contains("--force"), "\(cli.output)")
    }

    @Test func foregroundGenerateReportsProgressAndMakesAConformingProxy() async throws {
        let document = try OpenRPCDocument.load()
        let source = try await ProxyE2E.clip640()
        let server = try ServerProcess()
        _ = try await server.initialize()
        let token = JSONValue.string("gen-1")
        let id = server.sendRequest(
            "generate",
            [
                "sourcePath": .string(source.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false), "workDoneToken": token,
            ])
        let response = try await server.response(id, timeout: .seconds(90))
        let result = try #require(response["result"], "\(response)")
        #expect(document.validateResult(of: "generate", result) == [])
        #expect(result["status"] == .string("completed"))
        #expect(result["joined"] == .bool(false))
        #expect(result["progressPercent"]?.doubleValue == 100)
        #expect(result["sourcePath"] == .string(source.path) && result["quality"] == .string("Draft"))
        let proxy = try #require(result["proxy"])
        #expect(proxy["status"] == .string("completed"))
        #expect(proxy["width"] == .int(640) && proxy["height"] == .int(360), "a 640x360 source is never upscaled")
        #expect(proxy["videoBitRate"] == .int(1_500_000) && proxy["audioBitRate"] == .int(128_000))
        #expect(proxy["hasAudio"] == .bool(true) && proxy["videoEncoder"] == .string("libx264"))
        #expect(proxy["jobId"] == result["jobId"])
        #expect(abs((proxy["durationSeconds"]?.doubleValue ?? 0) - 2) < 0.1)
        #expect(proxy["sourceSizeBytes"]?.intValue == ProxyE2E.fileSize(source.path))
        let fingerprint = try #require(proxy["sourceFingerprint"]?.stringValue)
        #expect(fingerprint.count == 16 && fingerprint.allSatisfy(\.isHexDigit))
        let proxyPath = try #require(proxy["proxyPath"]?.stringValue)
        #expect(proxyPath == server.cacheDirectory + "/proxies/\(fingerprint)-Draft.mp4")
        #expect(ProxyE2E.fileSize(proxyPath) == proxy["proxySizeBytes"]?.intValue)
        #expect(ProxyE2E.proxyFiles(server.cacheDirectory) == ["\(fingerprint)-Draft.mp4"], "no partial file is left")

        // Progress on the request's token: begin, reports, end (completed), the end before the response.
        let values = ProxyE2E.progress(server, token: token)
        #expect(values.first?["kind"] == .string("begin"))
        #expect(
            values.first?["title"] == .string("Generating Draft proxy for proxy-640x360.mp4"),
            "protocol/spec.md §5.3 title: \(String(describing: values.first?["title"]))")
        #expect(values.first?["cancellable"] == .bool(true))
        #expect(values.filter { $0["kind"] == .string("begin") }.count == 1)
        #expect(values.filter { $0["kind"] == .string("end") }.count == 1)
        #expect(values.last?["kind"] == .string("end"))
        #expect(values.last?["outcome"] == .string("completed"))
        #expect(values.last?["error"] == nil)
        let percentages = values.compactMap { $0["kind"] == .string("report") ? $0["percentage"]?.intValue : nil }
        #expect(!percentages.isEmpty && percentages == percentages.sorted() && percentages.last == 100, "\(percentages)")
        #expect(ProxyE2E.jobProgressProblems(values, document) == [])
        let messages = server.messages
        let endIndex = messages.firstIndex { $0["params"]?["token"] == token && $0["params"]?["value"]?["kind"] == .string("end") }
        let responseIndex = messages.firstIndex { $0["id"] == .int(id) }
        #expect(endIndex != nil && responseIndex != nil && endIndex! < responseIndex!)

        // The file, as ffprobe sees it.
        let probe = try await ProxyE2E.ffprobe(proxyPath)
        #expect(probe["format"]?["format_name"]?.stringValue?.contains("mp4") == true)
        let video = try #require(ProxyE2E.stream(probe, "video"))
        #expect(video["codec_name"] == .string("h264"))
        #expect(video["width"] == .int(640) && video["height"] == .int(360))
        #expect(video["has_b_frames"] == .int(0))
        let audio = try #require(ProxyE2E.stream(probe, "audio"))
        #expect(audio["codec_name"] == .string("aac") && audio["channels"] == .int(2))
        let frames = try await ProxyE2E.videoFrames(proxyPath)
        #expect(frames.count == 50)
        #expect(frames.first?.key == true)
        #expect(!frames.contains { $0.type == "B" }, "no B-frames")
        #expect(ProxyE2E.maxKeyframeDistance(frames) <= 20, "GOP ≤ 0.8 s at 25 fps")
        let boxes = try ProxyE2E.topLevelBoxes(proxyPath)
        let moov = try #require(boxes.firstIndex(of: "moov")), mdat = try #require(boxes.firstIndex(of: "mdat"))
        #expect(moov < mdat, "the index is at the front: \(boxes)")
    }

    @Test func presetBoxesKeepTheShapeAndSourcesWithoutAudioGiveProxiesWithoutAudio() async throws {
        let document = try OpenRPCDocument.load()
        let landscape = try await ProxyE2E.clip1080()
        let portrait = try await ProxyE2E.portrait()
        let server = try ServerProcess()
        _ = try await server.initialize(options: ["maxConcurrentJobs": .int(2)])
        let a = server.sendRequest(
            "generate", ["sourcePath": .string(landscape.path), "quality": .string("Draft"), "backgroundGeneration": .bool(false)])
        let b = server.sendRequest(
            "generate", ["sourcePath": .string(portrait.path), "quality": .string("Draft"), "backgroundGeneration": .bool(false)])
        let wide = try #require(try await server.response(a, timeout: .seconds(90))["result"]?["proxy"])
        let tall = try #require(try await server.response(b, timeout: .seconds(90))["result"]?["proxy"])
        #expect(document.validateResult(of: "status", wide) == [] && document.validateResult(of: "status", tall) == [])
        #expect(wide["width"] == .int(854) && wide["height"] == .int(480), "\(wide)")
        #expect(tall["width"] == .int(480) && tall["height"] == .int(854), "portrait stays portrait: \(tall)")
        #expect(tall["hasAudio"] == .bool(false) && tall["audioBitRate"] == nil)

        let wideProbe = try await ProxyE2E.ffprobe(try #require(wide["proxyPath"]?.stringValue))
        #expect(ProxyE2E.stream(wideProbe, "video")?["width"] == .int(854) && ProxyE2E.stream(wideProbe, "video")?["height"] == .int(480))
        #expect(ProxyE2E.stream(wideProbe, "audio")?["channels"] == .int(2))
        let tallProbe = try await ProxyE2E.ffprobe(try #require(tall["proxyPath"]?.stringValue))
        let tallVideo = try #require(ProxyE2E.stream(tallProbe, "video"))
        #expect(tallVideo["width"] == .int(480) && tallVideo["height"] == .int(854))
        #expect(ProxyE2E.stream(tallProbe, "audio") == nil, "no audio in, no audio out")
        let sar = tallVideo["sample_aspect_ratio"]?.stringValue
        #expect(sar == nil || sar == "1:1", "square pixels: \(String(describing: sar))")
    }

    @Test func backgroundGenerateAnswersAtOnceThenReusesOrOverwrites() async throws {
        let document = try OpenRPCDocument.load()
        let source = try await MediaFixtures.shortClip()
        let server = try ServerProcess()
        _ = try await server.initialize()
        let first = try await server.call("generate", ["sourcePath": .string(source.path)])
        #expect(document.validateResult(of: "generate", first) == [])
        #expect(first["status"] == .string("queued") || first["status"] == .string("generating"), "\(first)")
        #expect(first["proxy"] == nil && first["joined"] == .bool(false) && first["quality"] == .string("Preview"))
        let jobId = try #require(first["jobId"]?.stringValue)
        #expect(jobId.hasPrefix("job-"))
        // Without a workDoneToken the job reports on its id.
        let end = try await ProxyE2E.waitForEnd(server, token: .string(jobId))
        #expect(end["outcome"] == .string("completed"))
        let values = ProxyE2E.progress(server, token: .string(jobId))
        #expect(values.first?["kind"] == .string("begin"))
        #expect(ProxyE2E.jobProgressProblems(values, document) == [])

        // A fresh proxy answers at once, completed, from the job that made it.
        let again = try await server.call("generate", ["sourcePath": .string(source.path), "quality": .string("Preview")])
        #expect(document.validateResult(of: "generate", again) == [])
        #expect(again["status"] == .string("completed") && again["jobId"] == .string(jobId) && again["joined"] == .bool(false))
        #expect(again["progressPercent"]?.doubleValue == 100)
        let proxyPath = try #require(again["proxy"]?["proxyPath"]?.stringValue)
        #expect(ProxyE2E.fileSize(proxyPath) == again["proxy"]?["proxySizeBytes"]?.intValue)
        #expect(ProxyE2E.progress(server, token: .string(jobId)).filter { $0["kind"] == .string("begin") }.count == 1)

        // overwrite: a new job, and the slot then names it.
        let overwrite = try await server.call("generate", ["sourcePath": .string(source.path), "overwrite": .bool(true)])
        let newJobId = try #require(overwrite["jobId"]?.stringValue)
        #expect(newJobId != jobId && overwrite["status"] != .string("completed"), "\(overwrite)")
        #expect(try await ProxyE2E.waitForEnd(server, token: .string(newJobId))["outcome"] == .string("completed"))
        let status = try await server.call("status", ["sourcePath": .string(source.path)])
        #expect(status["status"] == .string("completed") && status["jobId"] == .string(newJobId))
        #expect(ProxyE2E.fileSize(proxyPath) == status["proxySizeBytes"]?.intValue)
        #expect(ProxyE2E.proxyFiles(server.cacheDirectory).count == 1)
    }

    /// protocol/spec.md §5.3: "`begin` is sent when the job starts running (not while it is queued)", and every
    /// report carries `framesPerSecond`.
    @Test func aQueuedJobBeginsAsQueuedAndReportsOnlyOnceItRuns() async throws {
        let document = try OpenRPCDocument.load()
        let server = try ServerProcess()
        _ = try await server.initialize()
        let long = try await server.call("generate", ["sourcePath": .string(ProxyE2E.long().path), "quality": .string("Draft")])
        let longId = try #require(long["jobId"]?.stringValue)
        let short = try await server.call("generate", ["sourcePath": .string(MediaFixtures.shortClip().path), "quality": .string("Draft")])
        let shortId = try #require(short["jobId"]?.stringValue)
        #expect(short["status"] == .string("queued"))
        try await ProxyE2E.waitForReport(server, token: .string(longId))
        _ = try await server.call("setQuality", ["mode": .string("proxy"), "quality": .string("Draft")])
        let resolved = try await server.call("resolve", ["sourcePath": .string(MediaFixtures.shortClip().path)])
        #expect(resolved["proxyStatus"] == .string("queued") && resolved["reason"] == .string("proxy queued"), "\(resolved)")
        #expect(resolved["progressPercent"]?.doubleValue == 0 && resolved["usingProxy"] == .bool(false))
        let stats = try await server.call("stats")
        #expect(stats["queuedJobs"] == .int(1) && stats["runningJobs"] == .int(1))
        // protocol/spec.md §5.3: `begin` comes when the request is accepted (message "queued"); no reports while queued.
        let whileQueued = ProxyE2E.progress(server, token: .string(shortId))
        #expect(whileQueued.map { $0["kind"] } == [.string("begin")], "\(whileQueued)")
        #expect(whileQueued.first?["message"] == .string("queued") && whileQueued.first?["percentage"] == .int(0))
        _ = try await server.call("cancelGeneration", ["jobId": .string(longId)])
        #expect(try await ProxyE2E.waitForEnd(server, token: .string(shortId))["outcome"] == .string("completed"))
        let values = ProxyE2E.progress(server, token: .string(shortId))
        #expect(values.first?["kind"] == .string("begin"))
        #expect(ProxyE2E.jobProgressProblems(values, document) == [])
    }

    @Test func unusableSourcesAndBadParamsAreRefused() async throws {
        let server = try ServerProcess()
        _ = try await server.initialize()
        let audio = try await ProxyE2E.audioOnly()
        let audioOnly = try await server.request("generate", ["sourcePath": .string(audio.path)])
        #expect(audioOnly.errorCode == -32009, "\(audioOnly)")
        #expect(audioOnly["error"]?["data"]?["cause"] == .string("unsupported"))
        #expect(audioOnly["error"]?["data"]?["path"] == .string(audio.path))
        let foregroundAudio = try await server.request("generate", ["sourcePath": .string(audio.path), "backgroundGeneration": .bool(false)])
        #expect(foregroundAudio.errorCode == -32009)
        let missing = try await server.request("generate", ["sourcePath": .string("/no/such/clip.mp4")])
        #expect(missing.errorCode == -32001 && missing["error"]?["data"]?["cause"] == .string("fileNotFound"))
        let directory = MediaFixtures.temporaryDirectory(named: "not-a-file")
        #expect(try await server.request("generate", ["sourcePath": .string(directory.path)]).errorCode == -32003)
        let empty = try MediaFixtures.file("proxy-empty.mp4", bytes: Data())
        #expect(try await server.request("generate", ["sourcePath": .string(empty.path)]).errorCode == -32005)
        let clip = try await MediaFixtures.shortClip()
        let badQuality = try await server.request("generate", ["sourcePath": .string(clip.path), "quality": .string("Ultra")])
        #expect(badQuality.errorCode == -32602 && badQuality.errorMessage.contains("'quality'"), "\(badQuality)")
        #expect(badQuality.errorMessage.contains(#""Draft", "Preview", "High""#), "the accepted values: \(badQuality)")
        let badScale = try await server.request("generate", ["sourcePath": .string(clip.path), "scalePercent": .int(10)])
        #expect(badScale.errorCode == -32602)
        #expect(badScale.errorMessage == "parameter 'scalePercent' must be between 25 and 75")
        let missingSource = try await server.request("generate", [:])
        #expect(missingSource.errorMessage == "missing required parameter 'sourcePath'")
        let stats = try await server.call("stats")
        #expect(stats["totalProxies"] == .int(0) && stats["queuedJobs"] == .int(0) && stats["runningJobs"] == .int(0))
        #expect(ProxyE2E.proxyFiles(server.cacheDirectory).isEmpty)
    }

    /// A source between 1 and 2 MiB is hashed whole (protocol/spec.md §7.4: the first and last MiB overlap).
    @Test func aSourceBetweenOneAndTwoMiBIsFingerprintedWithoutCrashingTheServer() async throws {
        var generator = SystemRandomNumberGenerator()
        let bytes = Data((0..<(3 << 19)).map { _ in UInt8.random(in: 0...255, using: &generator) })  // 1.5 MiB
        let file = try MediaFixtures.file("one-and-a-half-MiB-\(UUID().uuidString.prefix(6)).mov", bytes: bytes)
        let server = try ServerProcess()
        _ = try await server.initialize()
        let id = server.sendRequest("status", ["sourcePath": .string(file.path)])
        let deadline = TestDeadline.after(.seconds(20))
        while server.process.isRunning && !server.messages.contains(where: { $0["id"] == .int(id) }) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let response = server.messages.first { $0["id"] == .int(id) }
        #expect(
            server.process.isRunning && !server.stderr.contains("crashed"),
            "the server died fingerprinting a 1.5 MiB file; stderr:\n\(server.stderr.prefix(300))")
        #expect(
            response?["result"] == .object(["status": .string("none"), "sourcePath": .string(file.path), "quality": .string("Preview")]),
            "\(String(describing: response))")
    }

    // MARK: - status, resolve, setQuality

    @Test func statusIsNoneThenCompletedThenStale() async throws {
        let document = try OpenRPCDocument.load()
        let source = try await ProxyE2E.copy(MediaFixtures.shortClip(), as: "status-clip.mp4")
        let server = try ServerProcess()
        _ = try await server.initialize()
        let none = try await server.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(none == .object(["status": .string("none"), "sourcePath": .string(source.path), "quality": .string("Draft")]))
        #expect(document.validateResult(of: "status", none) == [])

        let generated = try await server.call(
            "generate",
            [
                "sourcePath": .string(source.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false),
            ], timeout: .seconds(60))
        let completed = try await server.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(document.validateResult(of: "status", completed) == [])
        #expect(completed["status"] == .string("completed") && completed["progressPercent"]?.doubleValue == 100)
        #expect(completed["proxyPath"] == generated["proxy"]?["proxyPath"])
        #expect(completed["proxySizeBytes"] == generated["proxy"]?["proxySizeBytes"])
        let created = try #require(completed["createdAt"]?.stringValue)
        #expect(created.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/) != nil, "ISO 8601 UTC: \(created)")
        // Another quality of the same source is still nothing.
        #expect(try await server.call("status", ["sourcePath": .string(source.path)])["status"] == .string("none"))

        // Rewrite the source: its proxy is stale and never used.
        try await Data(contentsOf: ProxyE2E.clip640()).write(to: source)
        let stale = try await server.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(document.validateResult(of: "status", stale) == [])
        #expect(stale["status"] == .string("stale"), "\(stale)")
        #expect(stale["proxyPath"] == completed["proxyPath"])
        _ = try await server.call("setQuality", ["mode": .string("proxy"), "quality": .string("Draft")])
        let resolved = try await server.call("resolve", ["sourcePath": .string(source.path)])
        #expect(resolved["usingProxy"] == .bool(false) && resolved["path"] == .string(source.path))
        #expect(resolved["reason"] == .string("proxy is stale: the source changed") && resolved["proxyStatus"] == .string("stale"))
        let regenerate = try await server.call("generate", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(regenerate["status"] != .string("completed"), "a stale proxy must not answer generate: \(regenerate)")
        if let jobId = regenerate["jobId"] { try await ProxyE2E.waitForEnd(server, token: jobId) }
    }

    @Test func resolveFollowsThePreviewModeAndModeChangesAreAnnounced() async throws {
        let document = try OpenRPCDocument.load()
        let source = try await ProxyE2E.copy(ProxyE2E.clip1080(), as: "resolve-clip.mp4")
        let server = try ServerProcess()
        _ = try await server.initialize()
        let before = try await server.call("resolve", ["sourcePath": .string(source.path)])
        #expect(document.validateResult(of: "resolve", before) == [])
        #expect(
            before
                == .object([
                    "path": .string(source.path), "usingProxy": .bool(false), "mode": .string("proxy"),
                    "quality": .string("Preview"), "reason": .string("no proxy yet"), "proxyStatus": .string("none"),
                ]))
        #expect(try await server.call("stats")["totalProxies"] == .int(0), "resolve never starts a job")

        let generated = try await server.call(
            "generate", ["sourcePath": .string(source.path), "backgroundGeneration": .bool(false)],
            timeout: .seconds(60))
        let proxyPath = try #require(generated["proxy"]?["proxyPath"]?.stringValue)
        let using = try await server.call("resolve", ["sourcePath": .string(source.path)])
        #expect(document.validateResult(of: "resolve", using) == [])
        #expect(using["usingProxy"] == .bool(true) && using["path"] == .string(proxyPath))
        #expect(using["reason"] == .string("using the Preview proxy") && using["proxyStatus"] == .string("completed"))

        // Source mode: announced before the response; resolve then returns the source.
        let setId = server.sendRequest("setQuality", ["mode": .string("source")])
        let setResponse = try await server.response(setId)
        let state = try #require(setResponse["result"])
        #expect(document.validateResult(of: "setQuality", state) == [])
        #expect(
            state
                == .object([
                    "mode": .string("source"), "quality": .string("Preview"),
                    "badge": .object(["label": .string("Source Quality"), "color": .string("green")]),
                ]))
        let changes = server.messages.enumerated().filter { $0.element["method"] == .string("previewModeChanged") }
        #expect(changes.count == 1)
        #expect(changes.first?.element["params"] == state)
        let responseIndex = server.messages.firstIndex { $0["id"] == .int(setId) }
        #expect(changes.first.map { $0.offset } ?? .max < responseIndex ?? -1, "the notification comes before the response")
        for change in changes { #expect(document.validateNotification("previewModeChanged", change.element["params"] ?? .null) == []) }
        let sourceMode = try await server.call("resolve", ["sourcePath": .string(source.path)])
        #expect(sourceMode["usingProxy"] == .bool(false) && sourceMode["path"] == .string(source.path))
        #expect(sourceMode["reason"] == .string("proxy mode is off") && sourceMode["proxyStatus"] == .string("completed"))
        #expect(sourceMode["mode"] == .string("source"))

        // Back to proxies at Draft: nothing there yet. The same state again announces nothing.
        let draft = try await server.call("setQuality", ["mode": .string("proxy"), "quality": .string("Draft")])
        #expect(draft["badge"] == .object(["label": .string("Proxy Active"), "color": .string("blue")]))
        _ = try await server.call("setQuality", ["mode": .string("proxy")])
        #expect(server.notifications("previewModeChanged").count == 2)
        #expect(server.notifications("previewModeChanged").last?["quality"] == .string("Draft"))
        let draftResolve = try await server.call("resolve", ["sourcePath": .string(source.path)])
        #expect(draftResolve["reason"] == .string("no proxy yet") && draftResolve["quality"] == .string("Draft"))
        let badMode = try await server.request("setQuality", ["mode": .string("fast")])
        #expect(badMode.errorCode == -32602 && badMode.errorMessage.contains("'mode'"))
        // The toggle never deleted anything.
        #expect(ProxyE2E.fileSize(proxyPath) != nil)
    }

    // MARK: - stats and clearCache

    @Test func statsMatchTheFilesOnDiskAndClearCacheDeletesOnlyProxies() async throws {
        let document = try OpenRPCDocument.load()
        let source = try await ProxyE2E.copy(MediaFixtures.shortClip(), as: "stats-clip.mp4")
        let sourceBytes = try Data(contentsOf: source)
        let server = try ServerProcess()
        _ = try await server.initialize()
        for quality in ["Draft", "Preview"] {
            _ = try await server.call(
                "generate",
                [
                    "sourcePath": .string(source.path), "quality": .string(quality),
                    "backgroundGeneration": .bool(false),
                ], timeout: .seconds(60))
        }
        let stats = try await server.call("stats")
        #expect(document.validateResult(of: "stats", stats) == [])
        let onDisk = ProxyE2E.proxyBytes(server.cacheDirectory)
        #expect(ProxyE2E.proxyFiles(server.cacheDirectory).count == 2)
        #expect(stats["totalProxies"] == .int(2))
        #expect(stats["totalCacheSizeBytes"] == .int(onDisk))
        #expect(stats["totalSourceSizeBytes"] == .int(2 * sourceBytes.count))
        let ratio = Double(onDisk) / Double(2 * sourceBytes.count)
        #expect(abs((stats["compressionRatio"]?.doubleValue ?? -1) - ratio) < 0.001)
        #expect(abs((stats["spaceSavedPercent"]?.doubleValue ?? -1000) - (1 - ratio) * 100) < 0.1)
        #expect(stats["byQuality"]?["Draft"]?["count"] == .int(1) && stats["byQuality"]?["Preview"]?["count"] == .int(1))
        #expect(stats["byQuality"]?["High"] == .object(["count": .int(0), "sizeBytes": .int(0)]))
        let draftSize = stats["byQuality"]?["Draft"]?["sizeBytes"]?.intValue ?? 0
        let previewSize = stats["byQuality"]?["Preview"]?["sizeBytes"]?.intValue ?? 0
        #expect(draftSize + previewSize == onDisk)
        #expect(stats["cacheLimitBytes"] == .int(10_737_418_240) && stats["cacheDirectory"] == .string(server.cacheDirectory))
        #expect(stats["queuedJobs"] == .int(0) && stats["runningJobs"] == .int(0))

        let nothing = try await server.call("clearCache", ["scope": .string("waveforms")])
        #expect(nothing == .object(["deletedFiles": .int(0), "freedBytes": .int(0), "keptInUse": .int(0), "clearedFrames": .int(0)]))
        let cleared = try await server.call("clearCache", ["scope": .string("proxies"), "sourcePath": .string(source.path)])
        #expect(document.validateResult(of: "clearCache", cleared) == [])
        #expect(cleared == .object(["deletedFiles": .int(2), "freedBytes": .int(onDisk), "keptInUse": .int(0), "clearedFrames": .int(0)]))
        #expect(ProxyE2E.proxyFiles(server.cacheDirectory).isEmpty)
        #expect(try Data(contentsOf: source) == sourceBytes, "the source is never touched")
        #expect(FileManager.default.fileExists(atPath: server.cacheDirectory + "/catalogue.sqlite"))
        #expect(try await server.call("status", ["sourcePath": .string(source.path)])["status"] == .string("none"))
        let after = try await server.call("stats")
        #expect(after["totalProxies"] == .int(0) && after["totalCacheSizeBytes"] == .int(0))
        #expect(after["compressionRatio"]?.doubleValue == 0 && after["spaceSavedPercent"]?.doubleValue == 0)
        #expect(
            try await server.call("clearCache", ["scope": .string("all")])
                == .object(["deletedFiles": .int(0), "freedBytes": .int(0), "keptInUse": .int(0), "clearedFrames": .int(0)]))
        let badScope = try await server.request("clearCache", ["scope": .string("everything")])
        #expect(badScope.errorCode == -32602 && badScope.errorMessage.contains("'scope'"))
    }

    // MARK: - cancelGeneration

    @Test func cancelGenerationStopsARunningJobAndRemovesItsPartialFile() async throws {
        let document = try OpenRPCDocument.load()
        let source = try await ProxyE2E.long()
        let server = try ServerProcess()
        _ = try await server.initialize()
        let started = try await server.call("generate", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        let jobId = try #require(started["jobId"]?.stringValue)
        try await ProxyE2E.waitForReport(server, token: .string(jobId))
        #expect(!SharedCacheEndToEndTests.partialFiles(server.cacheDirectory).isEmpty)
        _ = try await server.call("setQuality", ["mode": .string("proxy"), "quality": .string("Draft")])
        let resolving = try await server.call("resolve", ["sourcePath": .string(source.path)])
        #expect(document.validateResult(of: "resolve", resolving) == [])
        #expect(resolving["proxyStatus"] == .string("generating") && resolving["progressPercent"] != nil)
        #expect(resolving["reason"]?.stringValue?.hasPrefix("proxy generating at ") == true, "\(resolving)")
        #expect(resolving["reason"]?.stringValue?.hasSuffix("%") == true)
        let generating = try await server.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(generating["status"] == .string("generating") && generating["jobId"] == .string(jobId))
        #expect(try await server.call("stats")["runningJobs"] == .int(1))
        // A foreground request joins the job and hears of its cancellation.
        let waiter = server.sendRequest(
            "generate",
            [
                "sourcePath": .string(source.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false), "workDoneToken": .string("waiter"),
            ])
        // Joining with its own token starts its own stream (protocol/spec.md §5.3).
        _ = try await server.waitFor { $0["params"]?["token"] == .string("waiter") && $0["params"]?["value"]?["kind"] == .string("begin") }

        let cancelled = try await server.call("cancelGeneration", ["jobId": .string(jobId)])
        #expect(document.validateResult(of: "cancelGeneration", cancelled) == [])
        #expect(cancelled == .object(["jobId": .string(jobId), "cancelled": .bool(true), "status": .string("cancelled")]))
        let end = try await ProxyE2E.waitForEnd(server, token: .string(jobId))
        #expect(end["outcome"] == .string("cancelled") && end["error"]?["code"] == .int(-32800))
        #expect(try await server.response(waiter).errorCode == -32800)
        #expect(ProxyE2E.outputs(server.cacheDirectory).isEmpty, "left: \(ProxyE2E.proxyFiles(server.cacheDirectory))")
        let status = try await server.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(status["status"] == .string("cancelled"))
        #expect(try await server.call("resolve", ["sourcePath": .string(source.path)])["reason"] == .string("proxy generation was cancelled"))

        let again = try await server.call("cancelGeneration", ["jobId": .string(jobId)])
        #expect(again == .object(["jobId": .string(jobId), "cancelled": .bool(false), "status": .string("cancelled")]))
        let bySlot = try await server.call("cancelGeneration", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(bySlot == .object(["jobId": .string(jobId), "cancelled": .bool(false), "status": .string("cancelled")]))
        let unknown = try await server.request("cancelGeneration", ["jobId": .string("job-nope")])
        #expect(unknown.errorCode == -32020)
        #expect(unknown["error"]?["data"]?["jobId"] == .string("job-nope"))
        #expect(unknown["error"]?["data"]?["cause"] == .string("jobNotFound"), "protocol/spec.md §6.2: \(unknown)")
        let both = try await server.request("cancelGeneration", ["jobId": .string(jobId), "sourcePath": .string(source.path)])
        #expect(both.errorCode == -32602 && both.errorMessage == "exactly one of 'jobId' and 'sourcePath' is required")
        #expect(try await server.request("cancelGeneration", [:]).errorCode == -32602)
        let stats = try await server.call("stats")
        #expect(stats["runningJobs"] == .int(0) && stats["totalProxies"] == .int(0))
        #expect(try await ProxyE2E.waitForEnd(server, token: .string("waiter"))["outcome"] == .string("cancelled"))

        // A new job for the slot; the old one is still known for the session (protocol/spec.md §10.4).
        let next = try await server.call("generate", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        let nextId = try #require(next["jobId"]?.stringValue)
        #expect(nextId != jobId)
        let old = try await server.request("cancelGeneration", ["jobId": .string(jobId)])
        #expect(
            old["result"] == .object(["jobId": .string(jobId), "cancelled": .bool(false), "status": .string("cancelled")]),
            "a job of the session is remembered after its slot got a new job: \(old)")
        let cancelNext = try await server.call("cancelGeneration", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(cancelNext == .object(["jobId": .string(nextId), "cancelled": .bool(true), "status": .string("cancelled")]))
        try await ProxyE2E.waitForEnd(server, token: .string(nextId))
        #expect(ProxyE2E.proxyFiles(server.cacheDirectory).isEmpty)
    }

    /// protocol/spec.md §10.4: `$/cancelRequest` of a foreground `generate` cancels the job only if nobody else wants it.
    @Test func cancellingAForegroundGenerateCancelsTheJobOnlyWhenNobodyElseWantsIt() async throws {
        let source = try await ProxyE2E.long()
        let server = try ServerProcess()
        _ = try await server.initialize()
        let lone = server.sendRequest(
            "generate",
            [
                "sourcePath": .string(source.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false), "workDoneToken": .string("lone"),
            ])
        try await ProxyE2E.waitForReport(server, token: .string("lone"))
        server.notify("$/cancelRequest", ["id": .int(lone)])
        #expect(try await server.response(lone, timeout: .seconds(5)).errorCode == -32800)
        #expect(try await ProxyE2E.waitForEnd(server, token: .string("lone"))["outcome"] == .string("cancelled"))
        let afterLone = try await server.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(afterLone["status"] == .string("cancelled"), "\(afterLone)")
        #expect(ProxyE2E.proxyFiles(server.cacheDirectory).isEmpty)

        // A job a background request asked for keeps running when a foreground joiner gives up.
        let background = try await server.call("generate", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        let jobId = try #require(background["jobId"]?.stringValue)
        let joiner = server.sendRequest(
            "generate",
            [
                "sourcePath": .string(source.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false), "workDoneToken": .string("joiner"),
            ])
        _ = try await server.waitFor { $0["params"]?["token"] == .string("joiner") && $0["params"]?["value"]?["kind"] == .string("begin") }
        server.notify("$/cancelRequest", ["id": .int(joiner)])
        #expect(try await server.response(joiner, timeout: .seconds(5)).errorCode == -32800)
        try await Task.sleep(for: .milliseconds(300))
        let still = try await server.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(still["status"] == .string("generating") && still["jobId"] == .string(jobId), "\(still)")
        _ = try await server.call("cancelGeneration", ["jobId": .string(jobId)])
        try await ProxyE2E.waitForEnd(server, token: .string(jobId))
    }

    @Test func shutdownCancelsJobsAndTheCacheDirectoryCannotChangeUnderThem() async throws {
        let source = try await ProxyE2E.long()
        let cache = MediaFixtures.temporaryDirectory(named: "cache-shutdown").path
        let server = try ServerProcess(cacheDirectory: cache)
        _ = try await server.initialize()
        let started = try await server.call("generate", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        let jobId = try #require(started["jobId"]?.stringValue)
        try await ProxyE2E.waitForReport(server, token: .string(jobId))
        let elsewhere = MediaFixtures.temporaryDirectory(named: "cache-elsewhere").path
        let refused = try await server.request(
            "updateSettings",
            [
                "settings": .object([
                    "cacheDirectory": .string(elsewhere),
                    "maxConcurrentJobs": .int(2),
                ])
            ])
        #expect(refused.errorCode == -32803 && refused["error"]?["data"]?["cause"] == .string("jobsActive"), "\(refused)")
        #expect(try await server.call("getSettings")["maxConcurrentJobs"] == .int(1), "a refused patch changes nothing")

        #expect(try await server.request("shutdown")["result"] == .null)
        #expect(ProxyE2E.progress(server, token: .string(jobId)).last?["outcome"] == .string("cancelled"))
        #expect(ProxyE2E.outputs(cache).isEmpty, "left: \(ProxyE2E.proxyFiles(cache))")
        server.notify("exit")
        #expect(try await server.waitForExit() == 0)
        let next = try ServerProcess(cacheDirectory: cache)
        _ = try await next.initialize()
        let status = try await next.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(status["status"] == .string("cancelled") && status["jobId"] == .string(jobId), "\(status)")
    }

    /// protocol/spec.md §7.4: `lastAccessedAt` is the last time `generate`, `status` or `resolve` returned the record.
    @Test func statusAndResolveCountAsAccesses() async throws {
        let source = try await ProxyE2E.copy(MediaFixtures.shortClip(), as: "access-clip.mp4")
        let server = try ServerProcess()
        _ = try await server.initialize()
        let made = try await server.call(
            "generate",
            [
                "sourcePath": .string(source.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false),
            ], timeout: .seconds(60))
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        func date(_ value: JSONValue?) -> Date? {
            guard let text = value?.stringValue else { return nil }
            return formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text)
        }
        let generated = try #require(date(made["proxy"]?["lastAccessedAt"]))
        try await Task.sleep(for: .milliseconds(1200))
        let status = try await server.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        let statusAccess = try #require(date(status["lastAccessedAt"]))
        #expect(statusAccess.timeIntervalSince(generated) >= 1, "status returned the record: \(generated) → \(statusAccess)")
        _ = try await server.call("setQuality", ["mode": .string("proxy"), "quality": .string("Draft")])
        try await Task.sleep(for: .milliseconds(1200))
        _ = try await server.call("resolve", ["sourcePath": .string(source.path)])
        let afterResolve = try #require(
            date(try await server.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])["lastAccessedAt"]))
        #expect(afterResolve.timeIntervalSince(generated) >= 2, "resolve used the proxy: \(generated) → \(afterResolve)")
        #expect(date(status["createdAt"]) == date(made["proxy"]?["createdAt"]))
    }

    @Test func cancelGenerationBySlotWithoutAnyJobIsJobNotFound() async throws {
        let server = try ServerProcess()
        _ = try await server.initialize()
        let clip = try await MediaFixtures.shortClip()
        let response = try await server.request("cancelGeneration", ["sourcePath": .string(clip.path), "quality": .string("High")])
        #expect(response.errorCode == -32020)
        // protocol/spec.md §6.2: data carries `cause`, and `sourcePath` and `quality` as given.
        #expect(response["error"]?["data"]?["cause"] == .string("jobNotFound"), "\(response)")
        #expect(response["error"]?["data"]?["sourcePath"] == .string(clip.path))
        #expect(response["error"]?["data"]?["quality"] == .string("High"))
    }

    // MARK: - Restarts

    @Test func aCompletedProxySurvivesARestart() async throws {
        let source = try await MediaFixtures.shortClip()
        let cache = MediaFixtures.temporaryDirectory(named: "cache-restart").path
        let first = try ServerProcess(cacheDirectory: cache)
        _ = try await first.initialize()
        let made = try await first.call(
            "generate",
            [
                "sourcePath": .string(source.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false),
            ], timeout: .seconds(60))
        _ = try await first.request("shutdown")
        first.notify("exit")
        #expect(try await first.waitForExit() == 0)

        let second = try ServerProcess(cacheDirectory: cache)
        _ = try await second.initialize()
        let status = try await second.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(status["status"] == .string("completed"))
        #expect(status["proxyPath"] == made["proxy"]?["proxyPath"] && status["jobId"] == made["jobId"])
        let again = try await second.call("generate", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(again["status"] == .string("completed") && again["jobId"] == made["jobId"])
        #expect(try await second.call("stats")["totalProxies"] == .int(1))
    }

    @Test func aKilledServerNeverLeavesAProxyMarkedCompleted() async throws {
        let source = try await ProxyE2E.long()
        let cache = MediaFixtures.temporaryDirectory(named: "cache-kill").path
        let first = try ServerProcess(cacheDirectory: cache)
        _ = try await first.initialize()
        let started = try await first.call("generate", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        let jobId = try #require(started["jobId"]?.stringValue)
        try await ProxyE2E.waitForReport(first, token: .string(jobId))
        #expect(!SharedCacheEndToEndTests.partialFiles(cache).isEmpty)
        kill(first.process.processIdentifier, SIGKILL)
        #expect(try await first.waitForExit() != nil)

        let second = try ServerProcess(cacheDirectory: cache)
        _ = try await second.initialize()
        let status = try await second.call("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        #expect(status["status"] == .string("failed"), "\(status)")
        #expect(status["jobId"] == .string(jobId))
        #expect(status["error"]?.stringValue?.contains("interrupted") == true)
        #expect(ProxyE2E.outputs(cache).isEmpty, "left: \(ProxyE2E.proxyFiles(cache))")
        #expect(try await second.call("stats")["totalProxies"] == .int(0))
        _ = try await second.call("setQuality", ["mode": .string("proxy"), "quality": .string("Draft")])
        let resolved = try await second.call("resolve", ["sourcePath": .string(source.path)])
        #expect(resolved["reason"]?.stringValue?.hasPrefix("proxy generation failed: ") == true, "\(resolved)")
        #expect(resolved["usingProxy"] == .bool(false))
        // A failed slot gets a new job.
        let retry = try await second.call("generate", ["sourcePath": .string(source.path), "quality": .string("Draft")])
        let retryId = try #require(retry["jobId"]?.stringValue)
        #expect(retryId != jobId && retry["status"] != .string("completed"))
        _ = try await second.call("cancelGeneration", ["jobId": .string(retryId)])
    }

    // MARK: - Settings and the cache directory

    @Test func settingsAreReportedAndPatchesValidatedAsAWhole() async throws {
        let document = try OpenRPCDocument.load()
        let server = try ServerProcess()
        _ = try await server.initialize()
        let settings = try await server.call("getSettings")
        #expect(document.validateResult(of: "getSettings", settings) == [])
        #expect(
            settings
                == .object([
                    "cacheDirectory": .string(server.cacheDirectory), "cacheLimitBytes": .int(10_737_418_240),
                    "maxConcurrentJobs": .int(1), "hardwareAcceleration": .string("off"),
                    "waveformCacheDirectory": .string(server.waveformCacheDirectory),
                    "frameCacheDirectory": .string(server.frameCacheDirectory), "frameCacheBytes": .int(100 << 20),
                    "proxyGenerationEnabled": .bool(true), "defaultQuality": .string("Preview"), "scalePercent": .null,
                    "telemetryWindowSeconds": .int(60),
                ]))
        let zeroJobs = try await server.request(
            "updateSettings", ["settings": .object(["cacheLimitBytes": .int(5000), "maxConcurrentJobs": .int(0)])])
        #expect(zeroJobs.errorCode == -32602)
        #expect(zeroJobs.errorMessage == "parameter 'settings.maxConcurrentJobs' must be between 1 and 16")
        #expect(try await server.call("getSettings") == settings, "a bad patch changes nothing")
        let tooMany = try await server.request("updateSettings", ["settings": .object(["maxConcurrentJobs": .int(17)])])
        #expect(tooMany.errorCode == -32602 && tooMany.errorMessage.contains("'settings.maxConcurrentJobs'"))
        let badAcceleration = try await server.request("updateSettings", ["settings": .object(["hardwareAcceleration": .string("gpu")])])
        #expect(badAcceleration.errorCode == -32602 && badAcceleration.errorMessage.contains("'settings.hardwareAcceleration'"))
        let badLimit = try await server.request("updateSettings", ["settings": .object(["cacheLimitBytes": .int(0)])])
        #expect(badLimit.errorCode == -32602 && badLimit.errorMessage.contains("'settings.cacheLimitBytes'"))
        let relative = try await server.request("updateSettings", ["settings": .object(["cacheDirectory": .string("cache")])])
        #expect(relative.errorCode == -32602 && relative.errorMessage.contains("'settings.cacheDirectory'"))
        let wrongType = try await server.request("updateSettings", ["settings": .object(["maxConcurrentJobs": .string("2")])])
        #expect(wrongType.errorCode == -32602 && wrongType.errorMessage.contains("'settings.maxConcurrentJobs'"), "\(wrongType)")
        #expect(try await server.request("updateSettings", [:]).errorMessage == "missing required parameter 'settings'")
        #expect(try await server.call("getSettings") == settings)

        let newDirectory = MediaFixtures.temporaryDirectory(named: "cache-moved").path + "/sub/../cache"
        let newWaveforms = MediaFixtures.temporaryDirectory(named: "waveforms-moved").path + "/w"
        let newFrames = MediaFixtures.temporaryDirectory(named: "frames-moved").path + "/f"
        let updated = try await server.call(
            "updateSettings",
            [
                "settings": .object([
                    "cacheLimitBytes": .int(5_368_709_120), "maxConcurrentJobs": .int(3), "hardwareAcceleration": .string("auto"),
                    "cacheDirectory": .string(newDirectory), "waveformCacheDirectory": .string(newWaveforms),
                    "frameCacheDirectory": .string(newFrames), "frameCacheBytes": .int(50 << 20),
                ])
            ])
        #expect(document.validateResult(of: "updateSettings", updated) == [])
        let normalised = URL(fileURLWithPath: newDirectory).standardizedFileURL.path
        #expect(
            updated
                == .object([
                    "cacheDirectory": .string(normalised), "cacheLimitBytes": .int(5_368_709_120),
                    "maxConcurrentJobs": .int(3), "hardwareAcceleration": .string("auto"),
                    "waveformCacheDirectory": .string(newWaveforms),
                    "frameCacheDirectory": .string(newFrames), "frameCacheBytes": .int(50 << 20),
                    "proxyGenerationEnabled": .bool(true), "defaultQuality": .string("Preview"), "scalePercent": .null,
                    "telemetryWindowSeconds": .int(60),
                ]))
        var framesInfo = stat()
        #expect(lstat(newFrames, &framesInfo) == 0 && framesInfo.st_mode & 0o777 == 0o700, "the frame cache directory too")
        #expect(try await server.call("getSettings") == updated)
        var info = stat()
        #expect(lstat(normalised, &info) == 0 && info.st_mode & 0o777 == 0o700, "the new directory is created 0700")
        let stats = try await server.call("stats")
        #expect(stats["cacheDirectory"] == .string(normalised) && stats["cacheLimitBytes"] == .int(5_368_709_120))
        #expect(stats["waveformCache"]?["cacheDirectory"] == .string(newWaveforms))
        #expect(lstat(newWaveforms, &info) == 0 && info.st_mode & 0o777 == 0o700)
    }

    @Test func aSymlinkedCacheDirectoryIsRefused() async throws {
        let real = MediaFixtures.temporaryDirectory(named: "real-cache")
        let link = MediaFixtures.temporaryDirectory(named: "links").appendingPathComponent("cache")
        #expect(symlink(real.path, link.path) == 0)
        let server = try ServerProcess(cacheDirectory: link.path)
        let initialized = try await server.initialize()
        #expect(initialized["settings"]?["cacheDirectory"] == .string(link.path))
        let clip = try await MediaFixtures.shortClip()
        for (method, params) in [
            ("stats", [String: JSONValue]()), ("generate", ["sourcePath": .string(clip.path)]),
            ("status", ["sourcePath": .string(clip.path)]), ("resolve", ["sourcePath": .string(clip.path)]),
            ("clearCache", [:]),
        ] {
            let response = try await server.request(method, params)
            #expect(response.errorCode == -32021, "\(method): \(response)")
            #expect(response["error"]?["data"]?["cause"] == .string("symlink"), "\(method): \(response)")
            #expect(response["error"]?["data"]?["path"] == .string(link.path))
        }
        #expect(try await server.call("ping")["serverTime"] != nil, "other methods keep working")
        let warnings = server.notifications("window/logMessage").filter { $0["type"] == .int(2) }
        #expect(warnings.count == 1, "the warning is sent once: \(warnings)")
        #expect(warnings.first?["message"]?.stringValue?.contains(link.path) == true)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: real.path)) ?? ["?"]).isEmpty, "nothing is written through the link")

        // An explicit cacheDirectory is checked at once and changes nothing when refused.
        let file = try MediaFixtures.file("cache-file-\(UUID().uuidString.prefix(6))", bytes: Data("x".utf8))
        let refused = try await server.request("updateSettings", ["settings": .object(["cacheDirectory": .string(file.path)])])
        #expect(refused.errorCode == -32021 && refused["error"]?["data"]?["cause"] == .string("notADirectory"), "\(refused)")
        #expect(try await server.call("getSettings")["cacheDirectory"] == .string(link.path))

        // Fixing the directory helps without a restart.
        #expect(unlink(link.path) == 0 && mkdir(link.path, 0o755) == 0)
        let fixed = try await server.call("stats")
        #expect(fixed["totalProxies"] == .int(0) && fixed["cacheDirectory"] == .string(link.path))
        var info = stat()
        #expect(lstat(link.path, &info) == 0 && info.st_mode & 0o777 == 0o700)

        let otherLink = MediaFixtures.temporaryDirectory(named: "links").appendingPathComponent("cache")
        #expect(symlink(real.path, otherLink.path) == 0)
        let other = try ServerProcess()
        let failed = try await other.request("initialize", ["initializationOptions": .object(["cacheDirectory": .string(otherLink.path)])])
        #expect(failed.errorCode == -32021 && failed["error"]?["data"]?["cause"] == .string("symlink"), "\(failed)")
        #expect(try await other.request("ping").errorCode == -32002, "the server stays uninitialized")
    }
}
