import FileErrors
import Foundation
import Jobs
import Locking
import Logging
import Media
import MediaCache

/// Waveforms of sources' audio: analysed once into a `WaveformPyramid`, persisted, and served in windows.
///
/// A request on a warm cache is answered from the pyramid (memory, else the file) without decoding. On a cold
/// one, the windows overlapping the visible range are decoded directly (a seek there, a few seconds of decoding)
/// and sent at once, while the whole stream is analysed in one pass by a background job on the shared
/// `JobQueue` (joined by every request for the same content, in this process or — through the source's
/// `WorkLock` — in another); the other windows follow from the pyramid. Resolutions finer than the pyramid's
/// 256-sample buckets are always decoded directly.
///
/// Cancelling a request stops its own work at once (direct decoding, waiting). The analysis goes on in the
/// background — every later request for the file needs it — unless the source changes under it.
public final class WaveformService: Sendable {
    let store: WaveformStore
    let queue: JobQueue<String, WaveformPyramid>
    private let fingerprints: FingerprintCache

    public var directory: CacheDirectory { store.directory }

    /// Opens the cache in `directoryPath` (created 0700, with the same refusal rules as the proxy cache) and
    /// removes what analyses of gone processes left. Blocks: call it off the concurrency pool.
    public init(
        directoryPath: String, fingerprints: FingerprintCache = FingerprintCache(), maxConcurrentAnalyses: Int = 2,
        logger: Logger
    ) throws {
        store = try WaveformStore(directoryPath: directoryPath, logger: logger)
        // Outcomes hold pyramids (tens of MB for long files): remember only the last few; the store keeps the rest.
        queue = JobQueue(idPrefix: "wave", maxConcurrent: maxConcurrentAnalyses, keptOutcomes: 4)
        self.fingerprints = fingerprints
        store.cleanUpAtStart()
    }

    // MARK: - Windows

    /// Answers a request: its windows in priority order (overlapping the visible range first, then by distance from
    /// it), each as soon as it is ready; once they are all out, the sequence's `summary` says what was covered. The
    /// sequence throws `MediaError` for unusable files (no audio: `.unsupported`) and `WaveformError` for ranges and
    /// resolutions that do not fit the file. Ending the iteration early (or cancelling the iterating task) stops the
    /// request's own work at once.
    public func windows(for request: WaveformRangeRequest) -> WaveformWindows {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WaveformWindow.self)
        let summary = Mutex<WaveformSummary?>(nil)
        let producer = Task { [self] in
            do {
                let covered = try await produce(request) { window in continuation.yield(window) }
                summary.withLock { $0 = covered }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in producer.cancel() }
        return WaveformWindows(stream: stream, summary: summary)
    }

    /// Makes a request's windows, handing each to `deliver` (the sequence's continuation) in priority order.
    private func produce(_ request: WaveformRangeRequest, deliver: @escaping @Sendable (WaveformWindow) -> Void) async throws -> WaveformSummary {
        let path = request.sourcePath
        let fingerprint = try await BlockingQueue.run { [fingerprints] in
            try MediaError.mapping { () throws(FileError) in try fingerprints.fingerprint(path: path) }
        }
        let audioStream = request.audioStream
        let key = WaveformStore.key(fingerprint.key, audioStream: audioStream)
        var pyramid = store.cached(key)
        if pyramid == nil { pyramid = try await BlockingQueue.run { [store] in store.load(key) } }
        let fromCache = pyramid != nil
        let stream: WaveformPlan.Stream
        if let pyramid {
            stream = Self.stream(of: pyramid)
        } else {
            stream = try await BlockingQueue.run { try Self.stream(at: path, audioStream: audioStream) }
        }
        let plan = try WaveformPlan(request, stream: stream)
        let series = plan.series(for: request.channels)

        if plan.usesPyramid, let pyramid {
            for index in plan.order {
                try Task.checkCancellation()
                deliver(window(index, of: plan, from: pyramid, series: series))
            }
            return summary(plan, pyramid: pyramid, fromCache: fromCache)
        }
        // Cold: start (or join) the analysis, decode what must come first, then serve the rest from the pyramid.
        let analysis = plan.usesPyramid ? try await analyse(path: path, fingerprint: fingerprint, audioStream: audioStream) : nil
        let direct = plan.usesPyramid ? plan.order.filter { plan.visible.contains($0) } : plan.order
        try await decode(direct, of: plan, series: series, path: path, audioStream: audioStream, deliver: deliver)
        guard let analysis else { return summary(plan, pyramid: nil, fromCache: false) }
        let analysed = try await result(of: analysis, key: key)
        let exact = try WaveformPlan(request, stream: Self.stream(of: analysed))
        for index in exact.order where !direct.contains(index) {
            try Task.checkCancellation()
            deliver(window(index, of: exact, from: analysed, series: series))
        }
        return summary(exact, pyramid: analysed, fromCache: false)
    }

    private func window(_ index: Int, of plan: WaveformPlan, from pyramid: WaveformPyramid, series: [Int]) -> WaveformWindow {
        let (start, count) = plan.window(index)
        let pixels = pyramid.pixels(
            samplesPerPixel: plan.samplesPerPixel, originSample: plan.originSample,
            firstPixel: Int((start - plan.originSample) / Int64(plan.samplesPerPixel)), count: count,
            series: series)
        return plan.makeWindow(index, pixels: pixels)
    }

    private func summary(_ plan: WaveformPlan, pyramid: WaveformPyramid?, fromCache: Bool) -> WaveformSummary {
        let stream = pyramid.map(Self.stream(of:)) ?? plan.stream
        let rate = Double(stream.sampleRate)
        return WaveformSummary(
            windowCount: plan.windowCount, sampleRate: stream.sampleRate, channelCount: stream.channelCount,
            duration: Double(stream.sampleCount) / rate, audioStartTime: stream.startSeconds,
            fromCache: fromCache, samplesPerPixel: plan.samplesPerPixel,
            startTime: Double(plan.originSample) / rate, endTime: Double(plan.endSample) / rate)
    }

    /// Decodes windows directly, in the given order, on a blocking-work thread; stops promptly when the calling
    /// task is cancelled.
    private func decode(
        _ indices: [Int], of plan: WaveformPlan, series: [Int], path: String, audioStream: Int,
        deliver: @escaping @Sendable (WaveformWindow) -> Void
    ) async throws {
        guard !indices.isEmpty else { return }
        let cancelled = CancellationFlag()
        try await withTaskCancellationHandler {
            try await BlockingQueue.run {
                let reader = try Self.reader(path: path, audioStream: audioStream)
                for index in indices {
                    if cancelled.isSet { throw CancellationError() }
                    let (start, count) = plan.window(index)
                    // From 256 samples per pixel up, the window is built as the pyramid builds it (256-sample buckets,
                    // then halved), so a window decoded directly holds exactly the values the pyramid serves later.
                    let bucket = plan.usesPyramid ? WaveformPyramid.baseBucketSamples : plan.samplesPerPixel
                    var pixels = PixelAccumulator(
                        samplesPerPixel: bucket, channelCount: reader.channelCount, originSample: start,
                        pixelLimit: count * (plan.samplesPerPixel / bucket),
                        expectedPixels: count * (plan.samplesPerPixel / bucket))
                    var read: Int64 = 0
                    try reader.read(from: reader.position == start ? nil : start) { chunk in
                        read = chunk.firstSample + Int64(chunk.frameCount) - start
                        return !cancelled.isSet && pixels.add(chunk)
                    }
                    if cancelled.isSet { throw CancellationError() }
                    pixels.finish()
                    let window: WaveformPixels
                    if plan.usesPyramid {
                        let covered = min(read, Int64(count) * Int64(plan.samplesPerPixel))
                        let local = WaveformPyramid(
                            sampleRate: reader.sampleRate, channelCount: reader.channelCount, sampleCount: covered,
                            startSeconds: reader.startSeconds, base: pixels.output)
                        window = local.pixels(
                            samplesPerPixel: plan.samplesPerPixel, originSample: 0, firstPixel: 0, count: count,
                            series: series)
                    } else {
                        window = WaveformPixels(series: series.map { pixels.output[$0] })
                    }
                    deliver(plan.makeWindow(index, pixels: window))
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }

    // MARK: - Analysis

    /// Starts (or joins) the background analysis of one audio stream of a source's content; returns the job's id.
    private func analyse(path: String, fingerprint: SourceFingerprint, audioStream: Int, priority: Int = 0) async throws -> String {
        let key = WaveformStore.key(fingerprint.key, audioStream: audioStream)
        let store = self.store
        let work = JobWork<WaveformPyramid>(
            claim: { try WorkLock.tryAcquire(WaveformStore.lockName(key), in: store.directory).map { lock in ReleasingClaim { lock.release() } } },
            run: { context in
                // Another process may have made it while this job waited for the lock.
                if let made = store.load(key) {
                    store.logger.info("job \(context.id) reuses the waveform another process analysed for \(path)")
                    return made
                }
                let pyramid = try Self.analyse(path: path, audioStream: audioStream, context: context)
                guard try MediaError.mapping({ () throws(FileError) in try SourceFingerprint.of(path: path) }) == fingerprint else {
                    throw MediaError.corrupt(path: path, reason: "the source changed while its waveform was being analysed")
                }
                try context.commit { try store.save(pyramid, key: key, jobId: context.id) }
                return pyramid
            })
        let label = audioStream == 0 ? path : "\(path) (audio stream \(audioStream))"
        return try await queue.submit(.init(key: key, label: label, priority: priority, background: true, work: work)).snapshot.id
    }

    private func result(of job: String, key: String) async throws -> WaveformPyramid {
        do {
            return try await queue.result(of: job)
        } catch is JobCancelled {
            throw MediaError.cancelled
        } catch JobQueue<String, WaveformPyramid>.QueueError.jobNotFound {
            // Ended and already forgotten by the queue (it keeps few outcomes): the store has what it made.
            let store = self.store
            guard let pyramid = try await BlockingQueue.run({ store.load(key) }) else { throw MediaError.cancelled }
            return pyramid
        }
    }

    /// One pass over the whole stream: level 0 of the pyramid, then every coarser level from it. Memory is the
    /// pyramid only; samples are consumed as they are decoded.
    static func analyse(path: String, audioStream: Int = 0, context: JobContext? = nil) throws -> WaveformPyramid {
        let reader = try Self.reader(path: path, audioStream: audioStream, threads: 0)
        let expected = reader.estimatedSampleCount.map { Int($0 / Int64(WaveformPyramid.baseBucketSamples)) + 1 } ?? 0
        var pixels = PixelAccumulator(
            samplesPerPixel: WaveformPyramid.baseBucketSamples, channelCount: reader.channelCount,
            expectedPixels: expected)
        var samples: Int64 = 0
        var cancelled = false
        var lastReport = ContinuousClock.now
        let started = lastReport
        try reader.read { chunk in
            if context?.isCancelled == true {
                cancelled = true
                return false
            }
            samples = chunk.firstSample + Int64(chunk.frameCount)
            let now = ContinuousClock.now
            if let context, now - lastReport >= .milliseconds(250) {
                lastReport = now
                let elapsed = (now - started) / .seconds(1)
                let seconds = Double(samples) / Double(reader.sampleRate)
                let total = reader.estimatedSampleCount.map { Double($0) / Double(reader.sampleRate) }
                context.report(
                    JobProgress(
                        percent: total.map { min(99.9, seconds / max($0, 0.001) * 100) } ?? 0,
                        message: "Analysing audio: \(Int(seconds)) s", rate: elapsed > 0 ? seconds / elapsed : nil,
                        etaSeconds: total.map { elapsed > 0 ? max(0, ($0 - seconds) / (seconds / elapsed)) : 0 }))
            }
            return pixels.add(chunk)
        }
        if cancelled { throw JobCancelled() }
        pixels.finish()
        return WaveformPyramid(
            sampleRate: reader.sampleRate, channelCount: reader.channelCount, sampleCount: samples,
            startSeconds: reader.startSeconds, base: pixels.output)
    }

    static func stream(of pyramid: WaveformPyramid) -> WaveformPlan.Stream {
        WaveformPlan.Stream(
            sampleRate: pyramid.sampleRate, channelCount: pyramid.channelCount,
            sampleCount: pyramid.sampleCount, startSeconds: pyramid.startSeconds)
    }

    /// A reader of `path`'s `audioStream`-th audio stream. Throws `WaveformError.invalidRange` naming `audioStream`
    /// when the file has audio but fewer streams (and `MediaError.unsupported` when it has none).
    static func reader(path: String, audioStream: Int, threads: Int = 1) throws -> AudioSampleReader {
        let source = try MediaSource(path: path)
        try check(audioStream, of: source)
        return try AudioSampleReader(source: source, audioStream: audioStream, threads: threads)
    }

    /// Throws `WaveformError.invalidRange` naming `audioStream` when the source has audio but not that stream.
    static func check(_ audioStream: Int, of source: MediaSource) throws(WaveformError) {
        let count = source.info.audioStreams.count
        if audioStream < 0 || (count > 0 && audioStream >= count) {
            throw WaveformError.invalidRange(
                field: "audioStream",
                reason: "must be between 0 and \(count - 1): the file has \(count) audio stream\(count == 1 ? "" : "s")")
        }
    }

    /// The stream's facts from its container (the sample count is the container's estimate).
    static func stream(at path: String, audioStream: Int = 0) throws -> WaveformPlan.Stream {
        let reader = try Self.reader(path: path, audioStream: audioStream)
        guard let count = reader.estimatedSampleCount, count > 0 else {
            throw MediaError.unsupported(path: path, reason: "the audio stream does not state its length")
        }
        return WaveformPlan.Stream(
            sampleRate: reader.sampleRate, channelCount: reader.channelCount, sampleCount: count,
            startSeconds: reader.startSeconds)
    }

    // MARK: - The cache

    /// The pyramid of one of a source's audio streams, analysing it (or waiting for the analysis in progress) when
    /// needed.
    public func pyramid(of path: String, audioStream: Int = 0) async throws -> WaveformPyramid {
        let fingerprint = try await BlockingQueue.run { [fingerprints] in
            try MediaError.mapping { () throws(FileError) in try fingerprints.fingerprint(path: path) }
        }
        let key = WaveformStore.key(fingerprint.key, audioStream: audioStream)
        if let cached = store.cached(key) { return cached }
        if let loaded = try await BlockingQueue.run({ [store] in store.load(key) }) { return loaded }
        if audioStream != 0 { try await BlockingQueue.run { try Self.check(audioStream, of: MediaSource(path: path, quickAnalysis: true)) } }
        return try await result(of: analyse(path: path, fingerprint: fingerprint, audioStream: audioStream), key: key)
    }

    /// Queues the analysis of each of `path`'s `audioStreams` (the caller probed it) in the background at low
    /// priority (an import: nobody waits for it; a request for the file joins it and raises its priority). Returns how
    /// many analyses were queued: 0 when every stream's is persisted already. Throws the `MediaError`s of
    /// fingerprinting (missing, unreadable files).
    public func prefetch(path: String, audioStreams: Int) async throws -> Int {
        let fingerprint = try await BlockingQueue.run { [fingerprints] in
            try MediaError.mapping { () throws(FileError) in try fingerprints.fingerprint(path: path) }
        }
        var queued = 0
        for audioStream in 0..<audioStreams {
            let key = WaveformStore.key(fingerprint.key, audioStream: audioStream)
            if store.cached(key) != nil { continue }
            if try await BlockingQueue.run({ [store] in store.isPersisted(key) }) { continue }
            _ = try await analyse(path: path, fingerprint: fingerprint, audioStream: audioStream, priority: Self.prefetchPriority)
            queued += 1
        }
        return queued
    }

    /// Imports' analyses wait behind every request.
    static let prefetchPriority = -1

    /// Files and bytes of persisted pyramids.
    public func usage() async throws -> (files: Int, bytes: Int64) {
        try await BlockingQueue.run { [store] in store.usage() }
    }

    /// Deletes persisted pyramids nobody is writing (and forgets those in memory): all of them, or those of every
    /// audio stream of `sourcePath`'s current content.
    public func clear(sourcePath: String? = nil) async throws -> (files: Int, bytes: Int64, kept: Int) {
        let active = await queue.activeKeys
        var only: String?
        if let sourcePath {
            guard
                let key = try? await BlockingQueue.run({ [fingerprints] in
                    try MediaError.mapping { () throws(FileError) in try fingerprints.fingerprint(path: sourcePath) }.key
                })
            else {
                return (0, 0, 0)  // Nothing can be cached for a file that cannot be read.
            }
            only = key
        }
        return try await BlockingQueue.run { [store, only] in store.clear(only: only, sparing: active) }
    }

    /// Analyses running or queued in this process.
    public var activeJobCount: Int {
        get async {
            let counts = await queue.counts
            return counts.queued + counts.running
        }
    }

    /// Cancels every analysis and gives up the lease.
    public func shutdown() async {
        await queue.shutdown()
        store.area.release()
    }
}

/// Set once, from a cancellation handler; read by blocking work between units.
final class CancellationFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
