import Foundation
import JSONRPC
import TestSupport
import Testing

/// Two editor windows on one cache, or an editor and the CLI: real processes sharing a cache directory.
@Suite(.timeLimit(.minutes(10)))
struct SharedCacheEndToEndTests {
    /// A source whose High proxy takes several seconds, long enough for other processes to act meanwhile.
    static func ninetySeconds() async throws -> URL { try await ProxyE2E.long() }

    /// Runs the CLI on `cache`; returns its exit status and stdout.
    static func cli(_ arguments: [String], cache: String) async throws -> (status: Int32, output: String) {
        // The waveform cache beside the proxy cache: the CLI's stats and clear cover both, never the user's.
        let result = try await Spawn.runOffPool(
            ServerProcess.executable.path,
            arguments + ["--cache-dir", cache, "--waveform-cache-dir", cache + "-waveforms"])
        return (result.status, result.text)
    }

    /// The partial files in the proxy cache: a job's output before its rename, in `proxies/` or in a slot's segments
    /// folder (as `folder/name`).
    static func partialFiles(_ cache: String) -> [String] {
        ProxyE2E.proxyFiles(cache).flatMap { name -> [String] in
            guard name.hasSuffix(".segments") else { return name.hasSuffix(".partial.mp4") ? [name] : [] }
            let inside = (try? FileManager.default.contentsOfDirectory(atPath: cache + "/proxies/" + name)) ?? []
            return inside.filter { $0.hasSuffix(".partial") }.map { name + "/" + $0 }.sorted()
        }
    }

    /// Every file of proxies in the making: partial outputs, and everything in the slots' segments folders (parts
    /// being written and finished ones), as `folder/name`.
    static func workFiles(_ cache: String) -> [String] {
        ProxyE2E.proxyFiles(cache).flatMap { name -> [String] in
            guard name.hasSuffix(".segments") else { return name.hasSuffix(".partial.mp4") ? [name] : [] }
            let inside = (try? FileManager.default.contentsOfDirectory(atPath: cache + "/proxies/" + name)) ?? []
            return inside.map { name + "/" + $0 }.sorted()
        }
    }

    @Test func theCLIAndASecondServerLeaveARunningJobAlone() async throws {
        let source = try await Self.ninetySeconds()
        let cache = MediaFixtures.temporaryDirectory(named: "cache-two-windows").path
        let first = try ServerProcess(cacheDirectory: cache)
        _ = try await first.initialize()
        let token = JSONValue.string("first")
        let started = try await first.call(
            "generate",
            [
                "sourcePath": .string(source.path), "quality": .string("High"),
                "workDoneToken": token,
            ])
        let jobId = try #require(started["jobId"]?.stringValue)
        try await ProxyE2E.waitForReport(first, token: token)
        try #require(!Self.partialFiles(cache).isEmpty)
        // The parts finished so far (video segments and the audio, not the HLS files made from them): whatever else
        // happens below, they stay until the job joins them.
        func parts(_ files: [String]) -> Set<String> {
            Set(files.filter { $0.hasSuffix(".m4a") || ($0.hasSuffix(".m4s") && !$0.contains("-hls-")) })
        }
        let finished = parts(Self.workFiles(cache))

        // The CLI's stats and clear, then a second editor window on the same cache.
        let stats = try await Self.cli(["stats"], cache: cache)
        #expect(stats.status == 0 && stats.output.contains("proxies"), "\(stats)")
        let clear = try await Self.cli(["clear"], cache: cache)
        #expect(clear.status == 0 && clear.output.contains("kept 1"), "\(clear)")
        let second = try ServerProcess(cacheDirectory: cache)
        _ = try await second.initialize()
        #expect(try await second.call("stats")["totalProxies"] == .int(0))
        let cleared = try await second.call("clearCache", ["scope": .string("all")])
        #expect(cleared == .object(["deletedFiles": .int(0), "freedBytes": .int(0), "keptInUse": .int(1), "clearedFrames": .int(0)]))
        let seen = try await second.call("status", ["sourcePath": .string(source.path), "quality": .string("High")])
        #expect(seen["status"] == .string("generating") && seen["jobId"] == .string(jobId), "\(seen)")

        // Everything above happened while the first server's job ran, and touched nothing of it: the files are read
        // before the status, so a job still generating cannot have joined (and deleted) its parts in between.
        let files = Self.workFiles(cache)
        let during = try await first.call("status", ["sourcePath": .string(source.path), "quality": .string("High")])
        try #require(during["status"] == .string("generating"), "the job ended before the other processes acted: \(during)")
        #expect(finished.isSubset(of: parts(files)), "finished parts went: \(finished.subtracting(parts(files)))")
        #expect(files.contains { $0.hasSuffix(".partial") } || parts(files).count > finished.count, "nothing in the making: \(files)")

        let end = try await ProxyE2E.waitForEnd(first, token: token, timeout: .seconds(180))
        #expect(end["outcome"] == .string("completed"), "\(end)")
        _ = try await first.call("setQuality", ["mode": .string("proxy"), "quality": .string("High")])
        let served = try await first.call("resolve", ["sourcePath": .string(source.path)])
        #expect(served["usingProxy"] == .bool(true), "\(served)")
        let path = try #require(served["path"]?.stringValue)
        #expect(FileManager.default.fileExists(atPath: path))
        // The second window sees the first's completed proxy.
        _ = try await second.call("setQuality", ["mode": .string("proxy"), "quality": .string("High")])
        #expect(try await second.call("resolve", ["sourcePath": .string(source.path)])["path"] == .string(path))
        #expect(Self.partialFiles(cache).isEmpty)
        #expect(first.stderr.contains("does not exist") == false)
    }

    /// The parts (`<key>-00003.m4s`, `<key>-audio.m4a`) a server's log says it made of `source`'s proxies.
    static func partsMade(_ server: ServerProcess, of source: URL) -> [String] {
        server.stderr.split(separator: "\n").compactMap { line -> String? in
            guard line.hasSuffix(" proxy of \(source.path)"), let range = line.range(of: " made part ") else { return nil }
            return String(line[range.upperBound...].prefix { $0 != " " })
        }
    }

    @Test func twoServersAskedForTheSameProxyShareItsSegmentsAndBothGetIt() async throws {
        let source = try await ProxyE2E.copy(Self.ninetySeconds(), as: "same-proxy.mp4")
        let cache = MediaFixtures.temporaryDirectory(named: "cache-same-proxy").path
        let first = try ServerProcess(cacheDirectory: cache)
        let second = try ServerProcess(cacheDirectory: cache)
        _ = try await first.initialize()
        _ = try await second.initialize()
        let params: [String: JSONValue] = [
            "sourcePath": .string(source.path), "quality": .string("Draft"),
            "backgroundGeneration": .bool(false),
        ]
        var firstParams = params, secondParams = params
        firstParams["workDoneToken"] = .string("a")
        secondParams["workDoneToken"] = .string("b")
        let firstId = first.sendRequest("generate", firstParams)
        try await ProxyE2E.waitForReport(first, token: .string("a"))
        let secondId = second.sendRequest("generate", secondParams)

        // Both catalogues are busy meanwhile (progress writes, lookups): no request fails on a locked database.
        var lookups: [(ServerProcess, Int)] = []
        for _ in 0..<40 {
            for server in [first, second] {
                lookups.append((server, server.sendRequest("status", ["sourcePath": .string(source.path), "quality": .string("Draft")])))
                lookups.append((server, server.sendRequest("resolve", ["sourcePath": .string(source.path)])))
            }
        }
        for (server, id) in lookups {
            let response = try await server.response(id, timeout: .seconds(60))
            #expect(response["result"] != nil, "\(response)")
        }

        let a = try await first.response(firstId, timeout: .seconds(180))
        let b = try await second.response(secondId, timeout: .seconds(180))
        let proxyA = try #require(a["result"]?["proxy"], "\(a)")
        let proxyB = try #require(b["result"]?["proxy"], "\(b)")
        #expect(proxyA["proxyPath"] == proxyB["proxyPath"])
        #expect(proxyA["jobId"] == proxyB["jobId"] && proxyA["jobId"] == a["result"]?["jobId"], "one job made the proxy")
        #expect(b["result"]?["jobId"] != a["result"]?["jobId"], "the second server's own job reused it")
        // The second helped, and each of the nine segments was encoded once, by one of the two.
        let helped = ProxyE2E.progress(second, token: .string("b"))
        #expect(helped.contains { $0["message"]?.stringValue?.hasPrefix("Helping another aura-media process: encoding segment") == true })
        let (madeByFirst, madeBySecond) = (Self.partsMade(first, of: source), Self.partsMade(second, of: source))
        #expect(!madeByFirst.isEmpty && !madeBySecond.isEmpty, "\(madeByFirst) \(madeBySecond)")
        #expect((madeByFirst + madeBySecond).count == 9 && Set(madeByFirst + madeBySecond).count == 9, "\(madeByFirst) \(madeBySecond)")
        let times = try await OffPool.run { ReferenceTools.videoPacketTimes(proxyA["proxyPath"]?.stringValue ?? "") }
        #expect(times == (0..<2250).map { $0 * 40 }, "the joined proxy has every frame once")
        #expect(ProxyE2E.proxyFiles(cache) == [URL(fileURLWithPath: proxyA["proxyPath"]?.stringValue ?? "").lastPathComponent])
        #expect(!first.stderr.contains("database is locked") && !second.stderr.contains("database is locked"))
    }

    @Test func anMP4WithBytesAfterItsLastBoxIsProbedAndProxied() async throws {
        let clip = try await MediaFixtures.shortClip()
        let original = try Data(contentsOf: clip)
        var state: UInt32 = 0x1234_5678
        let random = Data(
            (0..<100_000).map { _ -> UInt8 in
                state = state &* 1_664_525 &+ 1_013_904_223
                return UInt8(truncatingIfNeeded: state >> 24)
            })
        let variants: [(String, Data)] = [
            ("trailing-random.mp4", original + random),
            ("trailing-zeros.mp4", original + Data(count: 65_536)),
            ("trailing-few.mp4", original + Data("ABCDEFG".utf8)),
            // A header that looks like a box declaring far more than the file holds (a pre-allocating recorder).
            ("trailing-fake-box.mp4", original + Data([0x7f, 0xff, 0xff, 0xff]) + Data("mdat".utf8) + Data(count: 4096)),
        ]
        let server = try ServerProcess()
        _ = try await server.initialize()
        for (name, bytes) in variants {
            let file = try MediaFixtures.file(name, bytes: bytes)
            let probe = try await server.request("probe", ["path": .string(file.path)])
            #expect(probe["result"]?["durationSeconds"]?.doubleValue.map { abs($0 - 2) < 0.1 } == true, "\(name): \(probe)")
        }
        let file = try MediaFixtures.file("trailing-random.mp4", bytes: original + random)
        let made = try await server.call(
            "generate",
            [
                "sourcePath": .string(file.path), "quality": .string("Draft"),
                "backgroundGeneration": .bool(false),
            ], timeout: .seconds(60))
        let proxyPath = try #require(made["proxy"]?["proxyPath"]?.stringValue)
        let frames = try await ProxyE2E.videoFrames(proxyPath)
        #expect(frames.count == 50, "every frame of the 2 s source is in the proxy: \(frames.count)")
        // The CLI takes it too.
        let cli = try await Self.cli(["generate", "--quality", "Preview", file.path], cache: server.cacheDirectory)
        #expect(cli.status == 0, "\(cli.output)")
        // Really missing data is still refused.
        let truncated = try MediaFixtures.truncatedCopy(of: clip, name: "still-truncated.mp4")
        #expect(try await server.request("probe", ["path": .string(truncated.path)]).errorCode == -32007)
    }

    /// The client sends 60,000 pings and reads nothing for 3 s: the server stops reading instead of buffering
    /// (the client's writes block and, from then on, its memory stays flat), then delivers every response once it
    /// reads.
    @Test func aClientThatStopsReadingPausesTheServerAndLosesNothing() async throws {
        let cache = MediaFixtures.temporaryDirectory(named: "cache-backpressure").path
        let (process, input, output) = try Spawn.start { () throws -> (Process, Pipe, Pipe) in
            let process = Process()
            process.executableURL = ServerProcess.executable
            process.arguments = [
                "serve", "--cache-dir", cache, "--waveform-cache-dir", cache + "-waveforms",
                "--frame-cache-dir", cache + "-frames",
            ]
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            return (process, input, output)
        }
        defer { if process.isRunning { process.terminate() } }
        let count = 60_000
        let echo = String(repeating: "x", count: 200)
        let written = Locked(0)
        let writer = input.fileHandleForWriting
        Thread.detachNewThread {
            writer.write(FrameEncoder.frame(Data(#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#.utf8)))
            for id in 1...count {
                writer.write(FrameEncoder.frame(Data(#"{"jsonrpc":"2.0","id":\#(id),"method":"ping","params":{"echo":"\#(echo)"}}"#.utf8)))
                written.withLock { $0 = id }
            }
            try? writer.close()
        }
        // The baseline is taken once the server has stopped reading (the writer is blocked): a start-up still under
        // way on a busy machine (libraries faulting in: ~50 MB) is not buffering.
        var unchangedPolls = 0, lastWritten = -1
        let pauseDeadline = TestDeadline.after(.seconds(30))
        while unchangedPolls < 3 && ContinuousClock.now < pauseDeadline {
            try await Task.sleep(for: .milliseconds(100))
            let now = written.withLock { $0 }
            unchangedPolls = now == lastWritten ? unchangedPolls + 1 : 0
            lastWritten = now
        }
        let rssAtStart = try #require(Self.residentMegabytes(process.processIdentifier))
        var rssMax = rssAtStart
        for _ in 0..<12 {
            try await Task.sleep(for: .milliseconds(250))
            rssMax = max(rssMax, Self.residentMegabytes(process.processIdentifier) ?? 0)
        }
        let writtenWhilePaused = written.withLock { $0 }
        #expect(writtenWhilePaused < count / 2, "the server kept reading a client that does not read: \(writtenWhilePaused) sent")
        #expect(rssMax - rssAtStart < 40 * TestFiles.memoryOverhead, "memory grew from \(rssAtStart) MB to \(rssMax) MB")

        // Reading again: every response arrives, once.
        var parser = FrameParser()
        var seen = Set<Int>()
        let reader = output.fileHandleForReading
        let deadline = TestDeadline.after(.seconds(120))
        while seen.count < count + 1 && ContinuousClock.now < deadline {
            let data = reader.availableData
            if data.isEmpty { break }
            parser.append(data)
            while let event = parser.nextEvent() {
                guard case .frame(let body) = event, case .int(let id)? = try JSONParser.parse(body)["id"] else { continue }
                #expect(seen.insert(id).inserted, "response \(id) arrived twice")
            }
        }
        #expect(seen.count == count + 1, "\(seen.count) of \(count + 1) responses arrived")
        #expect(written.withLock { $0 } == count)
    }

    /// The process's resident set size in MB, from /proc.
    static func residentMegabytes(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return nil }
        return kilobytes / 1024
    }
}
