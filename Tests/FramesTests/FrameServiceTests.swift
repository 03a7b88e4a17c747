import FileErrors
import Foundation
import Frames
import Jobs
import Logging
import Media
import MediaCache
import TestSupport
import Testing

/// Clips of each kind the frames layer must read, made once per run.
enum FrameFixtures {
    static let video = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]
    /// Constant frame rate, B-frames, a keyframe every second: seeks and decoding on both matter.
    static let constantRate = MediaFixtures.make(
        "frames-cfr.mp4",
        video + [
            "-t", "4", "-c:v", "libx264", "-g", "25",
            "-bf", "2", "-pix_fmt", "yuv420p",
        ])
    /// 10-bit HEVC.
    static let hevc10 = MediaFixtures.make(
        "frames-hevc10.mp4",
        video + [
            "-t", "2", "-c:v", "libx265", "-pix_fmt", "yuv420p10le",
            "-x265-params", "log-level=error:keyint=25",
        ])
    /// A phone clip: stored landscape with a 90° display rotation (shown portrait).
    static let rotated = MediaFixtures.rotated
    /// Variable frame rate: dropped frames and jittered timestamps.
    static let variableRate = MediaFixtures.variableFrameRate

    /// The presentation times of a clip's pictures, from ffprobe, relative to the first.
    static func pictureTimes(_ path: String) -> [Double] {
        let result =
            (try? Spawn.run(
                ReferenceTools.ffprobe,
                [
                    "-v", "error", "-select_streams", "v:0", "-show_entries",
                    "frame=best_effort_timestamp_time", "-of", "csv=p=0", path,
                ]))?.text ?? ""
        // A line may carry side data after the time ("0.000000,side_data,"): the time is the first field.
        let times = result.split(whereSeparator: \.isNewline)
            .compactMap { line in line.split(separator: ",").first.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } }
            .sorted()
        return times.map { $0 - (times.first ?? 0) }
    }

    /// Picture number `index` (presentation order) of `path` from the ffmpeg CLI, upright and scaled, as RGBA.
    static func referencePicture(_ path: String, index: Int, width: Int, height: Int) -> [UInt8] {
        let result = try? ReferenceTools.ffmpeg([
            "-v", "error", "-i", path, "-vf",
            "select=eq(n\\,\(index)),scale=\(width):\(height):flags=bicubic,format=rgba",
            "-fps_mode", "passthrough", "-frames:v", "1", "-f", "rawvideo", "-",
        ])
        return [UInt8](result?.stdout ?? Data())
    }

    /// PSNR of the luma (BT.601 weights) of two RGBA pictures. Luma, because the CLI rotates 4:2:0 pictures
    /// before converting them to RGB and this server after, which moves chroma at sharp colour edges a little.
    static func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return 0 }
        func luma(_ p: [UInt8], _ i: Int) -> Double { 0.299 * Double(p[i]) + 0.587 * Double(p[i + 1]) + 0.114 * Double(p[i + 2]) }
        var sum = 0.0
        for pixel in stride(from: 0, to: a.count, by: 4) {
            let difference = luma(a, pixel) - luma(b, pixel)
            sum += difference * difference
        }
        let mse = sum / Double(a.count / 4)
        return mse == 0 ? 99 : 10 * log10(255 * 255 / mse)
    }
}

func quietLogger() -> Logger {
    var logger = Logger(label: "frames-tests")
    logger.logLevel = .critical
    return logger
}

@Suite(.timeLimit(.minutes(10)))
struct FrameServiceTests {
    /// Where the services of these tests would deliver files (the delivery test uses folders of its own).
    static let fileDirectory = TestFiles.scratch("frame-files").path

    /// The picture at each time is the last one whose presentation time is at or before it, and looks like the
    /// CLI's picture of the same number (PSNR over 35 dB at the same size), whatever the order of requests.
    @Test(arguments: [
        ("cfr", FrameFixtures.constantRate), ("vfr", FrameFixtures.variableRate),
        ("rotated", FrameFixtures.rotated), ("hevc10", FrameFixtures.hevc10),
    ])
    func picturesAreTheOnesShownAtEachTime(_ kind: String, _ path: String) async throws {
        let pictures = FrameFixtures.pictureTimes(path)
        try #require(pictures.count > 20, "\(kind): \(pictures.count) pictures")
        let service = FrameService(limitBytes: 64 << 20, fileDirectory: Self.fileDirectory, logger: quietLogger())
        let last = pictures.count - 1
        // Exact starts, midway points, the first and last pictures; forwards, backwards, and far jumps.
        var times: [(Double, Int)] = [(0, 0), (pictures[last], last)]
        for index in [1, 5, 12, 13, 30, last - 3, 7, 2] where index < last {
            times.append((pictures[index], index))
            times.append(((pictures[index] + pictures[index + 1]) / 2, index))
        }
        var results: [Double: [UInt8]] = [:]
        for (time, expected) in times {
            let image = try await service.frame(FrameRequest(path: path, time: time, shape: FrameShape(width: 160, format: .rgba)))
            #expect(
                abs(image.time - pictures[expected]) < 0.0015,
                "\(kind) at \(time): got the picture at \(image.time), expected #\(expected) at \(pictures[expected])")
            let reference = FrameFixtures.referencePicture(path, index: expected, width: image.width, height: image.height)
            let psnr = FrameFixtures.psnr(image.bytes, reference)
            #expect(psnr > 35, "\(kind) at \(time): PSNR \(psnr) dB against the CLI's picture #\(expected)")
            results[time] = image.bytes
        }
        // Every picture in order, then back a few (decoding on, with frame threading holding pictures back).
        let sequential = FrameService(limitBytes: 1 << 20, fileDirectory: Self.fileDirectory, logger: quietLogger())
        for index in Array(0..<min(last, 60)) + [40, 39, 41] {
            let time = (pictures[index] + pictures[index + 1]) / 2
            let image = try await sequential.frame(FrameRequest(path: path, time: time, shape: FrameShape(width: 32, format: .rgba)))
            #expect(abs(image.time - pictures[index]) < 0.0015, "\(kind) in order at \(time): got \(image.time), expected \(pictures[index])")
        }
        // Random times in random order (seeks back, decoding on, keyframes indexed by decoding time): each answer
        // is the last picture at or before its time.
        var generator = SplitMix64(seed: 42)
        let scattered = FrameService(limitBytes: 0, fileDirectory: Self.fileDirectory, logger: quietLogger())
        for _ in 0..<80 {
            let time = Double.random(in: 0...(pictures[last] + 0.03), using: &generator)
            let expected = pictures.lastIndex { $0 <= time + 1e-9 } ?? 0
            let image = try await scattered.frame(FrameRequest(path: path, time: time, shape: FrameShape(width: 32, format: .rgba)))
            #expect(abs(image.time - pictures[expected]) < 0.0015, "\(kind) at \(time): got \(image.time), expected \(pictures[expected])")
        }
        // Asked again: from the cache, the same bytes.
        for (time, _) in times.shuffled() {
            let again = try await service.frame(FrameRequest(path: path, time: time, shape: FrameShape(width: 160, format: .rgba)))
            #expect(again.fromCache, "\(kind) at \(time)")
            #expect(again.bytes == results[time])
        }
        if kind == "rotated" {
            let upright = try await service.frame(FrameRequest(path: path, time: 0, shape: FrameShape(format: .rgba)))
            #expect(upright.width == 240 && upright.height == 320, "display size: \(upright.width)x\(upright.height)")
        }
    }

    @Test func boundariesAndBadRequests() async throws {
        let path = FrameFixtures.constantRate
        let pictures = FrameFixtures.pictureTimes(path)
        let service = FrameService(limitBytes: 8 << 20, fileDirectory: Self.fileDirectory, logger: quietLogger())
        let end = pictures.last! + 0.04
        let atEnd = try await service.frame(FrameRequest(path: path, time: end, shape: FrameShape(width: 64)))
        #expect(abs(atEnd.time - pictures.last!) < 0.001, "the end of the video shows the last picture")
        for time in [-0.5, end + 0.5, .nan] {
            await #expect(throws: FrameError.self) {
                _ = try await service.frame(FrameRequest(path: path, time: time, shape: FrameShape(width: 64)))
            }
        }
        for shape in [
            FrameShape(width: 0), FrameShape(height: -3), FrameShape(width: 100_000), FrameShape(quality: 0),
            FrameShape(height: 16_000),
        ] {
            await #expect(throws: FrameError.self) {
                _ = try await service.frame(FrameRequest(path: path, time: 1, shape: shape))
            }
        }
        await #expect(throws: MediaError.self) {
            _ = try await service.frame(FrameRequest(path: MediaFixtures.audioOnly, time: 0, shape: FrameShape()))
        }
        await #expect(throws: MediaError.self) {
            _ = try await service.frame(FrameRequest(path: "/nonexistent/clip.mp4", time: 0, shape: FrameShape()))
        }
        // Still working afterwards; JPEG and PNG are real images of the asked size.
        let jpeg = try await service.frame(FrameRequest(path: path, time: 2, shape: FrameShape(width: 100)))
        #expect(jpeg.bytes.prefix(3) == [0xFF, 0xD8, 0xFF] && jpeg.width == 100 && jpeg.height == 75)
        let png = try await service.frame(FrameRequest(path: path, time: 2, shape: FrameShape(height: 60, format: .png)))
        #expect(png.bytes.prefix(4) == [0x89, 0x50, 0x4E, 0x47] && png.width == 80 && png.height == 60)
        // An inaccurate request may return the keyframe at or before the time.
        let keyframe = try await service.frame(FrameRequest(path: path, time: 2.5, shape: FrameShape(width: 64), accurate: false))
        #expect(keyframe.time <= 2.5 && keyframe.time >= 2.0 - 0.001, "\(keyframe.time)")
    }

    /// Many requests at once over two files: one session per file takes them one at a time, and every answer
    /// is the picture of its own time.
    @Test func concurrentRequestsGetTheirOwnPictures() async throws {
        let files = [FrameFixtures.constantRate, FrameFixtures.hevc10]
        let pictures = files.map(FrameFixtures.pictureTimes)
        let service = FrameService(limitBytes: 1 << 20, fileDirectory: Self.fileDirectory, logger: quietLogger())
        try await withThrowingTaskGroup(of: (Int, Int, Double).self) { group in
            for request in 0..<40 {
                let file = request % 2, index = (request * 7) % (pictures[file].count - 1)
                group.addTask {
                    let time = (pictures[file][index] + pictures[file][index + 1]) / 2
                    let image = try await service.frame(
                        FrameRequest(
                            path: files[file], time: time,
                            shape: FrameShape(width: 48, format: .rgba)))
                    return (file, index, image.time)
                }
            }
            for try await (file, index, time) in group {
                #expect(abs(time - pictures[file][index]) < 0.0015, "file \(file) picture \(index) at \(pictures[file][index]): got \(time)")
            }
        }
        #expect(service.stats().warmDecoders == 2)
    }

    /// A file whose pictures are all damaged (the container is intact): a clear error, and the service goes on.
    @Test func undecodablePicturesAreACorruptFileError() async throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: FrameFixtures.constantRate))
        // Overwrite the media data (the `mdat` box's payload) with noise, keeping every box's size.
        let mdat = try #require(bytes.range(of: Data("mdat".utf8)))
        var generator = SystemRandomNumberGenerator()
        let moov = bytes.range(of: Data("moov".utf8))?.lowerBound ?? bytes.count
        let payload = mdat.upperBound..<(moov > mdat.upperBound ? moov - 4 : bytes.count)
        for index in payload { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        let damaged = TestFiles.scratch("damaged").appendingPathComponent("noise.mp4")
        try bytes.write(to: damaged)
        let service = FrameService(limitBytes: 1 << 20, fileDirectory: Self.fileDirectory, logger: quietLogger())
        do {
            let image = try await service.frame(FrameRequest(path: damaged.path, time: 1, shape: FrameShape(width: 32)))
            Issue.record("a picture came out of noise at \(image.time)")
        } catch let error as MediaError {
            guard case .corrupt = error else {
                Issue.record("\(error)")
                return
            }
        }
        #expect(try await service.frame(FrameRequest(path: FrameFixtures.constantRate, time: 1, shape: FrameShape(width: 32))).time == 1)
    }

    @Test func theCacheEvictsTheLeastRecentlyUsedBeyondItsBudget() async throws {
        let path = FrameFixtures.constantRate
        let picture = 80 * 60 * 4
        let service = FrameService(limitBytes: picture * 2 + picture / 2, fileDirectory: Self.fileDirectory, logger: quietLogger())
        func frame(_ time: Double) async throws -> FrameImage {
            try await service.frame(FrameRequest(path: path, time: time, shape: FrameShape(width: 80, format: .rgba)))
        }
        _ = try await frame(1.0)
        _ = try await frame(2.0)
        #expect(try await frame(1.0).fromCache)  // 1.0 is now the most recent
        _ = try await frame(3.0)  // evicts 2.0
        let stats = service.stats()
        #expect(stats.entries == 2 && stats.evictions == 1 && stats.sizeBytes == picture * 2)
        #expect(try await frame(1.0).fromCache)
        #expect(try await frame(2.0).fromCache == false)
        #expect(service.stats().hits == 2 && service.stats().misses == 4)
    }

    @Test func preloadingTurnsTheNextRequestsIntoHits() async throws {
        let path = FrameFixtures.constantRate
        let service = FrameService(limitBytes: 32 << 20, fileDirectory: Self.fileDirectory, logger: quietLogger())
        let shape = FrameShape(width: 120)
        _ = try await service.frame(FrameRequest(path: path, time: 0.5, shape: shape))
        await service.setPlayhead(path: path, time: 0.5, rate: 1, shape: nil)  // the last shape asked for
        let deadline = TestDeadline.after(.seconds(30))
        // The 2-second horizon at 25 fps: the 50 pictures from 0.54 to 2.5.
        while service.stats().preloaded < 50, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(service.stats().preloaded >= 50, "\(service.stats())")
        for time in [0.54, 0.8, 1.3, 2.2] {
            let image = try await service.frame(FrameRequest(path: path, time: time, shape: shape))
            #expect(image.fromCache, "\(time) should have been preloaded")
        }
        // Paused: the neighbours on both sides, for stepping (four each side, none of them preloaded yet).
        let before = service.stats().preloaded
        await service.setPlayhead(path: path, time: 3.0, rate: 0, shape: shape)
        while service.stats().preloaded < before + 8, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        for time in [2.84, 2.92, 3.04, 3.08, 3.16] {
            #expect(try await service.frame(FrameRequest(path: path, time: time, shape: shape)).fromCache, "\(time)")
        }
    }

    @Test func preloadingNeverEvictsThePicturesAroundThePlayhead() async throws {
        let path = FrameFixtures.constantRate
        let picture = 64 * 48 * 4
        // Room for 12 pictures; preloading wants 50.
        let service = FrameService(limitBytes: picture * 12, fileDirectory: Self.fileDirectory, logger: quietLogger())
        let shape = FrameShape(width: 64, format: .rgba)
        for time in [3.0, 3.5] { _ = try await service.frame(FrameRequest(path: path, time: time, shape: shape)) }
        await service.setPlayhead(path: path, time: 0.2, rate: 1, shape: shape)
        let deadline = TestDeadline.after(.seconds(30))
        while service.stats().preloaded < 10, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(300))
        let stats = service.stats()
        #expect(stats.entries <= 12 && stats.preloaded >= 10, "\(stats)")
        // The pictures just ahead of the playhead stayed: preloading stopped instead of evicting them.
        for time in [0.24, 0.28, 0.32] {
            #expect(try await service.frame(FrameRequest(path: path, time: time, shape: shape)).fromCache, "\(time)")
        }
    }

    /// Delivered files are the service's: written once per picture into this process's folder, deleted when their
    /// picture is evicted, forgotten and removed with their folder when the directory changes, and gone at shutdown.
    @Test func deliveredFilesLiveAndDieWithTheirPictures() async throws {
        let path = FrameFixtures.constantRate
        let picture = 64 * 48 * 4
        let first = TestFiles.scratch("frame-files-a").path, second = TestFiles.scratch("frame-files-b").path
        let service = FrameService(limitBytes: picture * 2, fileDirectory: first, logger: quietLogger())
        let shape = FrameShape(width: 64, format: .rgba)
        let one = try await service.frame(FrameRequest(path: path, time: 1, shape: shape))
        let file = try await service.file(of: one)
        #expect(file.path.hasPrefix(first + "/frames/"), "\(file.path)")
        #expect(try Data(contentsOf: file) == Data(one.bytes))
        #expect(try await service.file(of: one) == file, "a picture is written once")
        #expect(await service.fileUsage() == FrameFileUsage(directory: first, files: 1, bytes: Int64(picture)))

        // Two more pictures: the first is evicted, and its file with it.
        for time in [2.0, 3.0] { _ = try await service.frame(FrameRequest(path: path, time: time, shape: shape)) }
        #expect(!FileManager.default.fileExists(atPath: file.path), "an evicted picture's file is deleted")

        let three = try await service.frame(FrameRequest(path: path, time: 3, shape: shape))
        let before = try await service.file(of: three)
        try await service.setFileDirectory(second)
        #expect(!FileManager.default.fileExists(atPath: before.deletingLastPathComponent().path), "the old folder is removed")
        let after = try await service.file(of: three)
        #expect(after.path.hasPrefix(second + "/frames/") && FileManager.default.fileExists(atPath: after.path), "\(after.path)")

        // A directory that cannot be used is refused and changes nothing.
        let blocker = TestFiles.scratch("frame-files-c").appendingPathComponent("a-file")
        try Data("x".utf8).write(to: blocker)
        await #expect(throws: CacheDirectory.Rejected.self) { try await service.setFileDirectory(blocker.path) }
        #expect(try await service.file(of: three) == after)

        await service.shutdown()
        #expect(!FileManager.default.fileExists(atPath: after.deletingLastPathComponent().path), "shutdown removes the folder")
    }
}
