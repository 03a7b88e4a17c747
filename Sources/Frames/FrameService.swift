import FileErrors
import Foundation
import Jobs
import Locking
import Logging
import Media
import MediaCache

/// Pictures of sources at any time, for scrubbing: answered from the frame cache when the picture is known,
/// otherwise decoded by a warm session of the file (`DecoderPool`) and cached; the playhead's neighbourhood is
/// decoded ahead in the background (`setPlayhead`).
///
/// Blocking work (fingerprints, decoding, encoding, files) runs on `BlockingQueue` threads and preloading on the
/// shared `JobQueue`'s threads; explicit requests take a session before preloading does.
public final class FrameService: Sendable {
    private let cache: FrameCache
    private let timeline = FrameTimeline()
    private let pool: DecoderPool
    private let fingerprints: FingerprintCache
    private let preloads: JobQueue<String, Int>
    /// Where pictures asked for as files go (the frame cache directory); the service alone writes and deletes them.
    private let files: FrameFiles
    private let logger: Logger
    /// What the service learnt about files and requests (lock: one `Mutex` each).
    private let facts = Mutex([String: FileFacts]())
    private let lastShapes = Mutex([String: FrameShape]())

    /// What a file's open session said, kept so that cached answers need no session.
    private struct FileFacts {
        var geometry: DisplayGeometry
        var endSeconds: Double
        var frameSeconds: Double
    }

    /// How far ahead preloading decodes, in seconds of playback.
    static let preloadHorizon = 2.0
    /// How many pictures either side of a paused playhead are decoded (stepping with the arrow keys).
    static let pausedNeighbours = 4

    /// - Parameter fileDirectory: the frame cache directory delivered files go to (opened on first delivery).
    public init(
        limitBytes: Int, fileDirectory: String, fingerprints: FingerprintCache = FingerprintCache(), maxSessions: Int = 4,
        logger: Logger
    ) {
        cache = FrameCache(limitBytes: limitBytes)
        files = FrameFiles(path: fileDirectory, logger: logger)
        pool = DecoderPool(maxSessions: maxSessions)
        self.fingerprints = fingerprints
        preloads = JobQueue(idPrefix: "preload", maxConcurrent: 2, keptOutcomes: 16)
        self.logger = logger
    }

    // MARK: - Requests

    /// The picture shown at `request.time` in `request.path`, as an image of the requested shape.
    /// Throws `FrameError` for times and sizes that do not fit the file and `MediaError` for unusable files.
    public func frame(_ request: FrameRequest) async throws -> FrameImage {
        try Self.validate(request.shape)
        let image = try await BlockingQueue.run { [self] in try frameNow(request) }
        lastShapes.withLock { $0[request.path] = request.shape }
        return image
    }

    private func frameNow(_ request: FrameRequest) throws -> FrameImage {
        var request = request
        let file = try MediaError.mapping { () throws(FileError) in try fingerprints.fingerprint(path: request.path) }.key
        if let known = facts.withLock({ $0[file] }) {
            let (width, height) = try Self.size(of: request.shape, geometry: known.geometry)
            try Self.check(request.time, end: known.endSeconds)
            request.time = Self.clamped(request.time, end: known.endSeconds)
            if let start = timeline.picture(file: file, at: request.time) {
                let key = Self.key(file: file, seconds: start, width: width, height: height, shape: request.shape)
                if let hit = cache.lookup(key) {
                    cache.count(hit: true)
                    return FrameImage(
                        time: hit.time, width: width, height: height, format: request.shape.format,
                        bytes: hit.bytes, fromCache: true, key: key)
                }
            }
        }
        let session = try pool.session(path: request.path, file: file)
        let known = remember(session, file: file)
        let (width, height) = try Self.size(of: request.shape, geometry: known.geometry)
        try Self.check(request.time, end: known.endSeconds)
        request.time = Self.clamped(request.time, end: known.endSeconds)
        return try session.lock.withLock(urgent: true) {
            let position = try session.reader.picture(at: request.time, accurate: request.accurate) { start, end in
                timeline.record(file: file, start: start, end: end)
            }
            let key = Self.key(file: file, seconds: position.seconds, width: width, height: height, shape: request.shape)
            if let hit = cache.lookup(key) {
                cache.count(hit: true)
                return FrameImage(
                    time: hit.time, width: width, height: height, format: request.shape.format,
                    bytes: hit.bytes, fromCache: true, key: key)
            }
            cache.count(hit: false)
            let bytes = try session.encodeCurrent(width: width, height: height, shape: request.shape)
            let (_, evicted) = cache.insert(key, bytes: bytes, time: position.seconds, preloaded: false)
            removeFiles(evicted)
            return FrameImage(
                time: position.seconds, width: width, height: height, format: request.shape.format,
                bytes: bytes, fromCache: false, key: key)
        }
    }

    // MARK: - Delivered files

    /// The file of a picture in the frame cache directory (written once; it stays until its cache entry is evicted,
    /// the cache is cleared, the directory setting changes or the process ends). Throws `CacheDirectory.Rejected` when
    /// the directory cannot be used, `MediaError` when the file cannot be written (a full disk).
    public func file(of image: FrameImage) async throws -> URL {
        let store = try await files.store()
        if let known = cache.lookup(image.key)?.file,
            known.deletingLastPathComponent().standardizedFileURL.path == store.folder.standardizedFileURL.path,
            FileManager.default.fileExists(atPath: known.path)
        {
            return known
        }
        let written = try await BlockingQueue.run { try store.write(image.bytes, key: image.key) }
        // An entry evicted meanwhile (a tiny budget) leaves its file to the process's end or the next clear.
        _ = cache.attach(written, to: image.key)
        return written
    }

    /// Delivered files go to `path` from now on: it is opened first (a directory that cannot be used throws
    /// `CacheDirectory.Rejected` and changes nothing); then the pictures forget their files in the old directory, whose
    /// folder is removed.
    public func setFileDirectory(_ path: String) async throws {
        guard let old = try await files.switchDirectory(to: path) else { return }
        cache.detachFiles(under: old.folder)
        await old.shutdown()
    }

    /// The frame cache directory with this process's delivered files in it; nil when it cannot be used.
    public func fileUsage() async -> FrameFileUsage? {
        guard let store = try? await files.store(), let usage = try? await BlockingQueue.run({ store.usage() }) else { return nil }
        return FrameFileUsage(directory: store.directory.url.path, files: usage.files, bytes: usage.bytes)
    }

    /// Deletes the files of evicted pictures (on the calling blocking thread).
    private func removeFiles(_ evicted: [URL]) {
        guard !evicted.isEmpty, let store = files.openStore else { return }
        store.remove(evicted)
    }

    // MARK: - Preloading

    /// Takes a new playhead position for `path` (the file the client previews: source or proxy): decodes the
    /// pictures ahead of it in the background, replacing the preloading of the previous position (call it in the
    /// order positions arrive), and protects its neighbourhood in the cache. `shape` defaults to the last one
    /// requested for the file; without either nothing is decoded (the client has not shown what it wants yet).
    public func setPlayhead(path: String, time: Double, rate: Double, shape: FrameShape?) async {
        guard let shape = shape ?? lastShapes.withLock({ $0[path] }), (try? Self.validate(shape)) != nil else { return }
        let work = JobWork<Int>(run: { [self] context in
            try preload(path: path, time: time, rate: rate, shape: shape, context: context)
        })
        _ = try? await preloads.submit(
            .init(
                key: path, label: path, variant: "\(time)@\(rate)", priority: -1,
                background: true, work: work))
    }

    /// The times to decode around a playhead, in decoding order (ascending: one pass forward).
    static func preloadTimes(at time: Double, rate: Double, frameSeconds: Double, end: Double) -> [Double] {
        var times: [Double] = []
        if rate == 0 {
            times = (-pausedNeighbours...pausedNeighbours).filter { $0 != 0 }.map { time + Double($0) * frameSeconds }
        } else {
            let step = max(1, abs(rate)) * frameSeconds * (rate < 0 ? -1 : 1)
            let count = Int((preloadHorizon / frameSeconds).rounded(.up))
            times = (1...max(1, count)).map { time + Double($0) * step }
        }
        return times.filter { $0 >= 0 && $0 <= end }.sorted()
    }

    private func preload(path: String, time: Double, rate: Double, shape: FrameShape, context: JobContext) throws -> Int {
        let file = try MediaError.mapping { () throws(FileError) in try fingerprints.fingerprint(path: path) }.key
        let session = try pool.session(path: path, file: file)
        let known = remember(session, file: file)
        let (width, height) = try Self.size(of: shape, geometry: known.geometry)
        let times = Self.preloadTimes(at: time, rate: rate, frameSeconds: known.frameSeconds, end: known.endSeconds)
        let low = min(times.first ?? time, time) - known.frameSeconds, high = max(times.last ?? time, time) + known.frameSeconds
        cache.protect(file: file, window: low...high)
        var made = 0
        for target in times {
            if context.isCancelled { throw JobCancelled() }
            if let start = timeline.picture(file: file, at: target),
                cache.contains(Self.key(file: file, seconds: start, width: width, height: height, shape: shape))
            {
                continue
            }
            let full = try session.lock.withLock(urgent: false) { () -> Bool in
                let position = try session.reader.picture(at: target) { start, end in
                    timeline.record(file: file, start: start, end: end)
                }
                let key = Self.key(file: file, seconds: position.seconds, width: width, height: height, shape: shape)
                guard !cache.contains(key) else { return false }
                let bytes = try session.encodeCurrent(width: width, height: height, shape: shape)
                let (added, evicted) = cache.insert(key, bytes: bytes, time: position.seconds, preloaded: true)
                removeFiles(evicted)
                if added { made += 1 }
                return !added
            }
            if full { break }  // Only the playhead's own pictures are left to evict: stop here.
        }
        return made
    }

    // MARK: - The cache

    public func stats() -> FrameCacheStats {
        let stats = cache.stats()
        return FrameCacheStats(
            entries: stats.entries, sizeBytes: stats.bytes, limitBytes: stats.limit, hits: stats.hits,
            misses: stats.misses, evictions: stats.evictions, preloaded: stats.preloaded,
            warmDecoders: pool.count)
    }

    /// A new byte budget, applied at once.
    public func setLimit(_ bytes: Int) async {
        let evicted = cache.setLimit(bytes)
        guard !evicted.isEmpty else { return }
        _ = try? await BlockingQueue.run { [self] in removeFiles(evicted) }
    }

    /// Empties the cache (and its files), closes the warm sessions and stops preloading: the next request is cold.
    /// Returns the pictures and bytes dropped and the delivered files deleted.
    public func clear() async -> (entries: Int, bytes: Int, files: Int) {
        for key in await preloads.activeKeys { _ = await preloads.cancel(key: key) }
        let removed = cache.removeAll()
        if !removed.files.isEmpty, let store = files.openStore {
            try? await BlockingQueue.run { store.remove(removed.files) }
        }
        timeline.removeAll()
        await pool.removeAll()
        return (removed.entries, removed.bytes, removed.files.count)
    }

    /// Stops preloading and removes this process's delivered files.
    public func shutdown() async {
        await preloads.shutdown()
        await files.shutdown()
    }

    // MARK: - Rules

    private func remember(_ session: DecoderSession, file: String) -> FileFacts {
        let reader = session.reader
        let fps = reader.source.info.primaryVideoStream?.frameRate ?? 0
        let known = FileFacts(
            geometry: reader.geometry, endSeconds: reader.endSeconds,
            frameSeconds: fps > 0 && fps.isFinite ? 1 / fps : 1.0 / 30)
        facts.withLock { facts in
            if facts.count > 4096 { facts.removeAll() }
            facts[file] = known
        }
        return known
    }

    static func key(file: String, seconds: Double, width: Int, height: Int, shape: FrameShape) -> FrameKey {
        FrameKey(
            file: file, micros: Int64((seconds * 1e6).rounded()), width: width, height: height, format: shape.format,
            quality: shape.quality)
    }

    static func validate(_ shape: FrameShape) throws {
        for (name, side) in [("width", shape.width), ("height", shape.height)] {
            if let side, !(1...FrameShape.maxSide).contains(side) {
                throw FrameError.badSize("parameter '\(name)' must be between 1 and \(FrameShape.maxSide), not \(side)")
            }
        }
        if shape.format == .jpeg, !(1...100).contains(shape.quality) { throw FrameError.badQuality(shape.quality) }
    }

    static func size(of shape: FrameShape, geometry: DisplayGeometry) throws -> (Int, Int) {
        let size = geometry.pictureSize(width: shape.width, height: shape.height)
        guard size.width <= FrameShape.maxSide, size.height <= FrameShape.maxSide else {
            throw FrameError.badSize("the picture would be \(size.width)x\(size.height): sides are at most \(FrameShape.maxSide)")
        }
        return size
    }

    /// The end of the video shows its last picture: a time there is read just before it.
    static func clamped(_ time: Double, end: Double) -> Double {
        end.isFinite && time >= end ? max(0, end - 1e-6) : time
    }

    static func check(_ time: Double, end: Double) throws {
        guard time.isFinite, time >= 0, time <= end + 1e-6 else { throw FrameError.timeOutOfRange(time: time, duration: end) }
    }
}
