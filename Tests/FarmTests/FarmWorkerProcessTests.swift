import Farm
import Foundation
import TestSupport
import Testing

/// Real `aura-media worker` processes and `generate --catalogue` on one catalogue and one shared cache folder: the farm
/// as a studio runs it, on one machine. (Not named …EndToEndTests: the test command's end-to-end step selects those by
/// name, and these run in the farm's step, beside its PostgreSQL cluster.)
@Suite(.timeLimit(.minutes(10)))
struct FarmWorkerProcessTests {
    /// The built executable, next to the test bundle.
    static var executable: String {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("aura-media")
        if FileManager.default.isExecutableFile(atPath: besideTests.path) { return besideTests.path }
        return FarmTestCluster.packageRoot.appendingPathComponent(".build/debug/aura-media").path
    }

    /// A worker process, its log in a file.
    final class Worker: Sendable {
        let process: Process
        let log: URL

        /// `fileSizeLimit`: the worker runs under `RLIMIT_FSIZE` of that many bytes (SIGXFSZ ignored), so writing a
        /// bigger file fails with EFBIG, as on a full disk.
        init(catalogue: String, cache: String, lease: Int = 30, extra: [String] = [], fileSizeLimit: Int? = nil) throws {
            log = TestFiles.scratch("farm-workers").appendingPathComponent("worker-\(UUID().uuidString).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process = try Spawn.start { () throws -> Process in
                let process = Process()
                let arguments =
                    ["worker", "--catalogue", catalogue, "--cache-dir", cache, "--lease-seconds", "\(lease)", "--log-level", "info"] + extra
                if let fileSizeLimit {
                    // An ignored signal stays ignored across exec; prlimit then execs the worker with the limit set.
                    process.executableURL = URL(fileURLWithPath: "/bin/sh")
                    process.arguments =
                        [
                            "-c", #"trap '' XFSZ; exec prlimit --fsize=\#(fileSizeLimit):\#(fileSizeLimit) "$0" "$@""#,
                            FarmWorkerProcessTests.executable,
                        ]
                        + arguments
                } else {
                    process.executableURL = URL(fileURLWithPath: FarmWorkerProcessTests.executable)
                    process.arguments = arguments
                }
                process.standardOutput = handle
                process.standardError = handle
                process.standardInput = FileHandle.nullDevice
                try process.run()
                return process
            }
            try handle.close()
        }

        var text: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        /// SIGTERM, then waits for the exit; returns its status.
        func stop() async -> Int32 {
            if process.isRunning { process.terminate() }
            return await OffPool.run { [process] in
                process.waitUntilExit()
                return process.terminationStatus
            }
        }

        func kill9() async {
            kill(process.processIdentifier, SIGKILL)
            await OffPool.run { [process] in process.waitUntilExit() }
        }
    }

    static func generate(_ catalogue: String, _ arguments: [String]) async throws -> Spawn.Output {
        try await Spawn.runOffPool(executable, ["generate", "--catalogue", catalogue] + arguments)
    }

    /// Frames of the file's video stream, counted by decoding (the ffmpeg CLI), and whether it has audio.
    static func probe(_ path: String) async throws -> (frames: Int, hasAudio: Bool, decodeErrors: String) {
        let counted = try await Spawn.runOffPool(
            "/usr/bin/ffprobe", ["-v", "error", "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames", "-of", "csv=p=0", path])
        let lines = counted.text.split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        let frames = lines.first { $0.first == "video" }.flatMap { Int($0.last ?? "") } ?? 0
        let decoded = try await Spawn.runOffPool("/usr/bin/ffmpeg", ["-v", "error", "-i", path, "-f", "null", "-"])
        return (frames, lines.contains { $0.first == "audio" }, decoded.stderr)
    }

    /// The proxy id and path `generate` printed.
    static func proxyPath(in output: String, cache: String) -> String? {
        output.split(separator: "\n").compactMap { line -> String? in
            guard line.contains("completed"), let start = line.range(of: "farm/") else { return nil }
            return cache + "/" + line[start.lowerBound...].trimmingCharacters(in: .whitespaces)
        }.first
    }

    static func catalogue(_ url: String) throws -> FarmCatalogueLocation { try FarmCatalogueLocation(url: url, environment: [:]) }

    @Test func threeWorkersMakeEveryPartOnceAndJoinTheProxy() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        let url = location.description
        let cache = TestFiles.scratch("farm-three").path
        // 32 s: three segments (the last takes the 2 s tail) and the audio.
        let source = try await MediaFixtures.mediaOffPool(
            "farm-32s.mp4", MediaFixtures.video + MediaFixtures.sine + ["-t", "32", "-c:v", "libx264", "-g", "50", "-c:a", "aac"])
        let workers = try (0..<3).map { _ in try Worker(catalogue: url, cache: cache) }
        let result = try await Self.generate(url, ["--force", source.path])
        var statuses: [Int32] = []
        for worker in workers { statuses.append(await worker.stop()) }
        #expect(result.status == 0, "\(result.text)\n\(result.stderr)")
        #expect(statuses == [0, 0, 0], "SIGTERM drains and exits cleanly")
        let path = try #require(Self.proxyPath(in: result.text, cache: cache), "\(result.text)")
        let probed = try await Self.probe(path)
        #expect(probed.frames == 800)
        #expect(probed.hasAudio)
        #expect(probed.decodeErrors.isEmpty)
        // Every part was claimed once and made once: no part encoded twice.
        let parts = try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            let proxy = try #require(try await catalogue.status().proxies.first)
            #expect(proxy.status == "completed")
            return try await catalogue.parts(proxyId: proxy.id)
        }
        #expect(parts.count == 4)
        #expect(parts.allSatisfy { $0.state == "done" && $0.attempts == 1 })
        let logs = workers.map(\.text)
        #expect(logs.map { $0.components(separatedBy: " makes ").count - 1 }.reduce(0, +) == 4, "\(logs)")
        #expect(logs.filter { $0.contains(" joins the 4 parts") }.count == 1)
        // The parts' folder went once the proxy was joined; no partial file is left.
        let left = try FileManager.default.contentsOfDirectory(atPath: cache + "/farm")
        #expect(left == [URL(fileURLWithPath: path).lastPathComponent], "\(left)")
        // Ordering it again answers from the catalogue at once.
        let again = try await Self.generate(url, ["--force", source.path])
        #expect(again.status == 0)
        #expect(again.stderr.contains("4 already made"), "\(again.stderr)")
    }

    @Test func aWorkerKilledMidSegmentLosesItToAnotherWhenItsLeaseExpires() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        let url = location.description
        let cache = TestFiles.scratch("farm-kill").path
        // 1080p, so that a segment takes long enough to be killed in the middle of it.
        let source = try await MediaFixtures.mediaOffPool(
            "farm-1080p-20s.mp4",
            ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25", "-t", "20", "-c:v", "libx264", "-preset", "ultrafast", "-g", "50"])
        let doomed = try Worker(catalogue: url, cache: cache, lease: 5)
        let generation = Task { try await Self.generate(url, [source.path]) }
        // Wait until it is writing a segment: its claim is in the catalogue and its partial file on disk.
        let deadline = TestDeadline.date(after: 60)
        var held: FarmPartState?
        while held == nil, Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            let parts = try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue -> [FarmPartState] in
                guard let proxy = try await catalogue.status().proxies.first else { return [] }
                return try await catalogue.parts(proxyId: proxy.id)
            }
            let writing = (FileManager.default.enumerator(atPath: cache + "/farm")?.allObjects as? [String] ?? []).contains {
                $0.hasSuffix(".partial")
            }
            if writing { held = parts.first { $0.state == "claimed" } }
        }
        let killed = try #require(held, "the worker never started a segment")
        await doomed.kill9()
        let rescuer = try Worker(catalogue: url, cache: cache, lease: 5)
        let result = try await generation.value
        _ = await rescuer.stop()
        #expect(result.status == 0, "\(result.text)\n\(result.stderr)")
        let parts = try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            try await catalogue.parts(proxyId: try #require(try await catalogue.status().proxies.first).id)
        }
        let redone = try #require(parts.first { $0.part == killed.part })
        #expect(redone.attempts == 2)
        #expect(redone.madeBy != killed.heldBy)
        #expect(rescuer.text.contains("whose lease expired"), "\(rescuer.text)")
        let path = try #require(Self.proxyPath(in: result.text, cache: cache))
        let probed = try await Self.probe(path)
        #expect(probed.frames == 500)
        #expect(probed.decodeErrors.isEmpty)
    }

    @Test func workersAndTheOrderingCommandSurviveAPostgresRestart() async throws {
        // A cluster of its own: it is stopped and started again in the middle of the run.
        let cluster = try await OffPool.run { try FarmTestCluster.Cluster.start() }
        defer { cluster.stop() }
        let url = try await OffPool.run { try cluster.freshDatabase() }
        let location = try Self.catalogue(url)
        let cache = TestFiles.scratch("farm-restart").path
        let source = try await MediaFixtures.mediaOffPool(
            "farm-60s.mp4", MediaFixtures.video + MediaFixtures.sine + ["-t", "60", "-c:v", "libx264", "-g", "50", "-c:a", "aac"])
        let workers = try (0..<2).map { _ in try Worker(catalogue: url, cache: cache) }
        let generation = Task { try await Self.generate(url, ["--force", source.path]) }
        // Once the first part has landed, PostgreSQL goes away for longer than a call waits for it (10 s): the workers
        // and the ordering command see it unreachable, say so, and try again.
        let deadline = TestDeadline.date(after: 60)
        while Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            let done = try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
                try await catalogue.status().proxies.first?.segmentsCompleted ?? 0
            }
            if done > 0 { break }
        }
        try await OffPool.run { try cluster.halt() }
        try await Task.sleep(for: .seconds(14))
        try await OffPool.run { try cluster.resume() }
        let result = try await generation.value
        for worker in workers { _ = await worker.stop() }
        #expect(result.status == 0, "\(result.text)\n\(result.stderr)")
        // The outage was real: the ordering command, which asks every 250 ms, waited for it. (A worker sees it only
        // when it calls during the outage; one encoding a segment throughout does not, and carries on.)
        #expect(result.stderr.contains("cannot be reached"), "generate saw the outage and waited: \(result.stderr)")
        let parts = try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            try await catalogue.parts(proxyId: try #require(try await catalogue.status().proxies.first).id)
        }
        #expect(parts.count == 7)
        #expect(parts.allSatisfy { $0.state == "done" && $0.attempts == 1 }, "nothing lost or made twice: \(parts)")
        let path = try #require(Self.proxyPath(in: result.text, cache: cache))
        #expect(try await Self.probe(path).frames == 1500)
    }

    @Test func aFullSharedFolderFailsTheProxyAsDiskFullAndLeavesNoPartialFile() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        let url = location.description
        let cache = TestFiles.scratch("farm-full").path
        let source = try await MediaFixtures.mediaOffPool(
            "farm-12s-full.mp4", MediaFixtures.video + MediaFixtures.sine + ["-t", "12", "-c:v", "libx264", "-c:a", "aac"])
        // Files over 64 KB cannot be written: the first video segment fails as on a full disk.
        let full = try Worker(catalogue: url, cache: cache, fileSizeLimit: 64 << 10)
        let failed = try await Self.generate(url, ["--force", source.path])
        _ = await full.stop()
        #expect(failed.status != 0)
        #expect(failed.text.contains("diskFull"), "\(failed.text)\n\(failed.stderr)")
        let left = (FileManager.default.enumerator(atPath: cache + "/farm")?.allObjects as? [String]) ?? []
        #expect(!left.contains { $0.hasSuffix(".partial") || $0.hasSuffix(".mp4") }, "\(left)")
        // With room again, ordering it again makes it.
        let worker = try Worker(catalogue: url, cache: cache)
        let made = try await Self.generate(url, ["--force", source.path])
        _ = await worker.stop()
        #expect(made.status == 0, "\(made.text)\n\(made.stderr)")
        let path = try #require(Self.proxyPath(in: made.text, cache: cache))
        #expect(try await Self.probe(path).frames == 300)
    }

    @Test func aWorkerMapsTheOrderingMachinesPathsAndTheFingerprintConfirmsTheFile() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        let url = location.description
        let cache = TestFiles.scratch("farm-paths").path
        // "Two machines": the editor sees the footage under one path, the worker under another (a link to the same folder).
        let root = TestFiles.scratch("farm-mounts")
        let editorMount = root.appendingPathComponent("editor/footage")
        try FileManager.default.createDirectory(at: editorMount, withIntermediateDirectories: true)
        let workerMount = root.appendingPathComponent("worker-footage")
        try? FileManager.default.removeItem(at: workerMount)
        try FileManager.default.createSymbolicLink(at: workerMount, withDestinationURL: editorMount)
        let fixture = try await MediaFixtures.mediaOffPool(
            "farm-12s.mp4", MediaFixtures.video + MediaFixtures.sine + ["-t", "12", "-c:v", "libx264", "-c:a", "aac"])
        let source = editorMount.appendingPathComponent("interview.mp4")
        try? FileManager.default.removeItem(at: source)
        try FileManager.default.copyItem(at: fixture, to: source)
        // A third folder with another file of the same name: a wrong mapping must not be taken for the ordered file.
        let otherMount = root.appendingPathComponent("other/footage")
        try FileManager.default.createDirectory(at: otherMount, withIntermediateDirectories: true)
        let impostor = otherMount.appendingPathComponent("take2.mp4")
        try? FileManager.default.removeItem(at: impostor)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: MediaFixtures.h264AAC), to: impostor)
        let take2 = editorMount.appendingPathComponent("take2.mp4")
        try? FileManager.default.removeItem(at: take2)
        try FileManager.default.copyItem(at: fixture, to: take2)

        let worker = try Worker(
            catalogue: url, cache: cache,
            extra: ["--path-map", "\(editorMount.path)/take2.mp4=\(impostor.path)", "--path-map", "\(editorMount.path)=\(workerMount.path)"])
        let mapped = try await Self.generate(url, ["--force", source.path])
        #expect(mapped.status == 0, "\(mapped.text)\n\(mapped.stderr)")
        #expect(worker.text.contains(workerMount.path + "/interview.mp4"), "the worker read its own path: \(worker.text)")
        let wrong = try await Self.generate(url, ["--force", take2.path])
        _ = await worker.stop()
        #expect(wrong.status != 0)
        #expect(wrong.text.contains("not the content its proxy was ordered for"), "\(wrong.text)")
    }
}
