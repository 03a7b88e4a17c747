import Foundation
import Locking
import Logging
import Media
import MediaCache
import TestSupport
import Testing

@testable import Proxies

/// Small media files made once per test run with the ffmpeg CLI (a test-only tool; the product never runs it),
/// plus scratch directories and file helpers for the proxy tests.
enum ProxyFixtures {

    /// A fresh empty directory.
    static func scratch(_ name: String) -> URL { TestFiles.scratch(name) }

    /// The shared fixture maker's (`MediaFixtures`), under names of the proxy tests' own.
    static func media(_ name: String, _ arguments: [String]) async throws -> URL {
        try await MediaFixtures.mediaOffPool("proxies-" + name, arguments)
    }

    /// 1 s of 160x120 25 fps H.264 with stereo AAC: the fastest useful proxy source.
    static func tiny() async throws -> URL {
        try await media(
            "tiny.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
                "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                // Tagged BT.709, as the proxies are: its pictures go through unconverted, so copies of it give proxies
                // of one size (the eviction test relies on it; a converted picture costs x264 more bits at this tiny
                // size, and under VBV its threads then decide differently from run to run).
                "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
                "-c:a", "aac", "-movflags", "+faststart", "-shortest",
            ])
    }

    /// 12 s of 640x360 25 fps video only: long enough to still be running while a test queues more jobs.
    static func blocker() async throws -> URL {
        try await media(
            "blocker.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=12",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "250",
            ])
    }

    /// 32 s of 640x360 25 fps H.264 with stereo AAC, a keyframe every second: a proxy of three segments and the audio.
    static func threeSegments() async throws -> URL {
        try await media(
            "three-segments.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=32",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=32",
                "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25",
                "-c:a", "aac", "-shortest",
            ])
    }

    /// 1 s of stereo AAC, no video.
    static func audioOnly() async throws -> URL {
        try await media(
            "audio.m4a",
            [
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
                "-ac", "2", "-c:a", "aac",
            ])
    }

    /// One PNG frame.
    static func stillImage() async throws -> URL {
        try await media("still.png", ["-f", "lavfi", "-i", "testsrc2=size=160x120", "-frames:v", "1"])
    }

    /// A byte copy of `source` (a new file: new inode, new mtime) at `directory/name`.
    /// With `mtimeSeconds` the modification time is set to exactly that many seconds since 1970.
    @discardableResult
    static func copy(_ source: URL, into directory: URL, name: String? = nil, mtimeSeconds: Int? = nil) throws -> URL {
        let url = directory.appendingPathComponent(name ?? source.lastPathComponent)
        try Data(contentsOf: source).write(to: url)
        if let mtimeSeconds { setModificationTime(url, seconds: mtimeSeconds, nanoseconds: 0) }
        return url
    }

    static func setModificationTime(_ url: URL, seconds: Int, nanoseconds: Int) {
        TestFiles.setModificationTime(url, seconds: seconds, nanoseconds: nanoseconds)
    }

    static func modificationTime(_ url: URL) -> timespec { TestFiles.modificationTime(url) }

    static func size(_ url: URL) -> Int64? { TestFiles.size(url) }

    static func size(_ path: String) -> Int64? { size(URL(fileURLWithPath: path)) }

    /// The names of the files in `<cache>/proxies/`.
    /// The partial files in the proxy cache: a job's output before its rename, in `proxies/` or in a slot's segments
    /// folder (as `folder/name`).
    static func partialFiles(_ cache: URL) -> [String] {
        proxyFiles(cache).flatMap { name -> [String] in
            guard name.hasSuffix(".segments") else { return name.hasSuffix(".partial.mp4") ? [name] : [] }
            let folder = cache.appendingPathComponent("proxies").appendingPathComponent(name).path
            return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".partial") }
                .map { name + "/" + $0 }.sorted()
        }
    }

    static func proxyFiles(_ cache: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: cache.appendingPathComponent("proxies").path)) ?? []).sorted()
    }

    /// The sum of the sizes of the files in `<cache>/proxies/`.
    static func proxyBytes(_ cache: URL) -> Int64 {
        proxyFiles(cache).reduce(0) { $0 + (size(cache.appendingPathComponent("proxies").appendingPathComponent($1)) ?? 0) }
    }

}

/// Records every event a `ProxyService` reports, thread-safely, in order.
final class RecordingObserver: ProxyJobObserver {
    enum Event: Sendable {
        case queued(ProxyJobSnapshot)
        case progressed(ProxyJobSnapshot)
        case finished(ProxyJobSnapshot, ProxyJobOutcome)
        case warning(String)
        case notice(String)
    }

    private let events = Mutex<[Event]>([])

    /// An optional gate: the transcoding thread of the job for `sourcePath` is held inside its progress callback
    /// once its progress is within `percent` (never on the service's own 0 % start event), until `release()`.
    /// Holding the job's own thread makes "still running" and "finished encoding but not yet recorded" exact states.
    private struct Gate {
        var sourcePath: String
        var percent: ClosedRange<Double>
    }
    private let gate = Mutex<Gate?>(nil)
    private let held = Mutex(false)
    private let reachedGate = DispatchSemaphore(value: 0)
    private let releaseGate = DispatchSemaphore(value: 0)

    func hold(sourcePath: String, percent: ClosedRange<Double>) {
        gate.withLock { $0 = Gate(sourcePath: sourcePath, percent: percent) }
    }

    /// Waits until a job is held at the gate.
    func waitUntilHeld(timeout: Duration = .seconds(30)) async throws {
        let deadline = TestDeadline.after(timeout)
        while ContinuousClock.now < deadline {
            if reachedGate.wait(timeout: .now()) == .success { return }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw TimedOut(what: "a job to reach the gate")
    }

    /// Lets a held job go on (no-op when none is held).
    func release() {
        let wasHeld = held.withLock { state -> Bool in
            defer { state = false }
            return state
        }
        if wasHeld { releaseGate.signal() }
    }

    func jobQueued(_ job: ProxyJobSnapshot) { events.withLock { $0.append(.queued(job)) } }
    func jobProgressed(_ job: ProxyJobSnapshot) {
        events.withLock { $0.append(.progressed(job)) }
        let stop = gate.withLock { gate -> Bool in
            guard let current = gate, current.sourcePath == job.sourcePath, job.progress.percent > 0,
                current.percent.contains(job.progress.percent)
            else { return false }
            gate = nil
            return true
        }
        if stop {
            held.withLock { $0 = true }
            reachedGate.signal()
            releaseGate.wait()
        }
    }
    func jobFinished(_ job: ProxyJobSnapshot, outcome: ProxyJobOutcome) { events.withLock { $0.append(.finished(job, outcome)) } }
    func warning(_ message: String) { events.withLock { $0.append(.warning(message)) } }
    func notice(_ message: String) { events.withLock { $0.append(.notice(message)) } }

    var all: [Event] { events.withLock { $0 } }

    /// Job ids in the order their jobs started running (first `generating` snapshot of each).
    var startOrder: [String] {
        var order: [String] = []
        for case .progressed(let snapshot) in all where snapshot.proxyStatus == .generating && !order.contains(snapshot.id) {
            order.append(snapshot.id)
        }
        return order
    }

    func progress(of jobId: String) -> [ProxyJobSnapshot] {
        all.compactMap { if case .progressed(let snapshot) = $0, snapshot.id == jobId { return snapshot } else { return nil } }
    }

    func outcome(of jobId: String) -> ProxyJobOutcome? {
        for case .finished(let snapshot, let outcome) in all where snapshot.id == jobId { return outcome }
        return nil
    }

    func finishCount(of jobId: String) -> Int {
        all.filter { if case .finished(let snapshot, _) = $0 { return snapshot.id == jobId } else { return false } }.count
    }

    var notices: [String] { all.compactMap { if case .notice(let message) = $0 { return message } else { return nil } } }

    /// Waits until the job has finished and returns its outcome.
    func waitForOutcome(of jobId: String, timeout: Duration = .seconds(60)) async throws -> ProxyJobOutcome {
        let deadline = TestDeadline.after(timeout)
        while ContinuousClock.now < deadline {
            if let outcome = outcome(of: jobId) { return outcome }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TimedOut(what: "job \(jobId) to finish")
    }

    /// Waits until `predicate` holds over the recorded events.
    func waitUntil(_ what: String, timeout: Duration = .seconds(30), _ predicate: ([Event]) -> Bool) async throws {
        let deadline = TestDeadline.after(timeout)
        while ContinuousClock.now < deadline {
            if predicate(all) { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw TimedOut(what: what)
    }

    struct TimedOut: Error, CustomStringConvertible {
        var what: String
        var description: String { "timed out waiting for \(what)" }
    }
}

extension ProxyJobOutcome {
    /// "completed", "failed", "cancelled" or "replaced".
    var name: String {
        switch self {
        case .completed: return "completed"
        case .failed: return "failed"
        case .cancelled: return "cancelled"
        case .replaced: return "replaced"
        }
    }

    var completedRecord: ProxyRecord? {
        if case .completed(let record) = self { return record } else { return nil }
    }
}

extension ProxyLookup {
    var kind: String {
        switch self {
        case .none: return "none"
        case .active: return "active"
        case .record: return "record"
        case .stale: return "stale"
        }
    }
}

/// A quiet logger for services under test.
func quietLogger() -> Logger {
    var logger = Logger(label: "proxies-tests")
    logger.logLevel = .critical
    return logger
}

/// A service on a fresh (or given) cache directory with a recording observer.
func makeService(
    cache: URL? = nil, cacheLimitBytes: Int64 = 10 << 30, maxConcurrentJobs: Int = 1,
    observer: RecordingObserver = RecordingObserver()
) throws -> (ProxyService, RecordingObserver, URL) {
    let directory = cache ?? ProxyFixtures.scratch("cache")
    let service = try ProxyService(
        directoryPath: directory.path,
        configuration: ProxyServiceConfiguration(
            cacheLimitBytes: cacheLimitBytes,
            maxConcurrentJobs: maxConcurrentJobs),
        observer: observer, logger: quietLogger())
    return (service, observer, directory)
}

/// A record for catalogue tests; every member has a harmless default.
func makeRecord(
    fingerprint: String = "00000000000000aa", quality: ProxyQuality = .preview, sourcePath: String = "/media/clip.mp4",
    status: ProxyStatus = .completed, proxyPath: String = "/tmp/none.mp4", proxySizeBytes: Int64 = 1000,
    createdAt: Date = Date(), lastAccessedAt: Date = Date(), jobId: String? = nil
) -> ProxyRecord {
    ProxyRecord(
        id: nil, sourcePath: sourcePath, sourceFingerprint: fingerprint, sourceSizeBytes: 5000,
        sourceModificationTime: 1_700_000_000, sourceEdgeHash: "0123456789abcdef", quality: quality,
        scalePercent: nil, proxyPath: proxyPath, width: 320, height: 240, videoBitRate: 3_000_000,
        audioBitRate: nil, durationSeconds: 1, frameRate: 25, hasAudio: false, videoEncoder: "libx264",
        proxySizeBytes: proxySizeBytes, status: status, progressPercent: status == .completed ? 100 : 0,
        error: nil, createdAt: createdAt, lastAccessedAt: lastAccessedAt, jobId: jobId)
}
