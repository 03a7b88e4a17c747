import FileErrors
import Foundation
import Jobs
import Locking
import Logging
import Media
import MediaCache

/// Proxy generation, catalogue and cache for one cache directory.
///
/// Jobs run on the shared `JobQueue` (priorities, joining, replacement, cancellation, threads of their own);
/// what one job does is `ProxyJobWork`; the cache on disk and its rules are `ProxyStore`. Every blocking call
/// (probing, fingerprinting, SQLite, file deletion) runs on `BlockingQueue`, never on the concurrency pool or an
/// actor's executor.
///
/// Several processes may share the cache directory (two editor windows, a server and the CLI): each service holds
/// a `ProcessLease` there and a running job holds its slot's `WorkLock`, so no proxy is made twice at once,
/// cleanup only touches what processes that are gone left (`ProxyCacheJanitor`), and nothing another process is
/// writing or has just handed out is deleted.
///
/// Invariants:
/// - At most one job per slot (source content, quality) in a process, and one writer per slot across processes.
/// - A record is `completed` only after its file was written completely, fsynced and renamed into place.
/// - Partial files live under `*.partial.mp4` names and are removed on failure, cancellation and shutdown, and by
///   whoever next finds their slot's lock free.
public final class ProxyService: Sendable {
    let store: ProxyStore
    let queue: JobQueue<ProxySlot, ProxyRecord>
    let fingerprints: FingerprintCache
    /// The preview path's lookups (`previewLookup`), kept while the source and the catalogue are unchanged.
    let rememberedLookups = RememberedLookups()
    /// `notNeededReason`'s verdicts by source content, quality and scale (one probe per source, not per picture);
    /// started over past 4096.
    let needVerdicts = Mutex<[String: String?]>([:])
    /// The time the user last looked at in each source (`notePlayhead`), by path: a job makes that segment first.
    /// Started over past 4096 sources.
    let playheads = Mutex<[String: Double]>([:])
    /// Segment files confirmed whole for readers (`segmentFile`).
    let confirmedSegments = ConfirmedSegments()

    public var directory: CacheDirectory { store.directory }
    var catalog: ProxyCatalog { store.catalog }
    var lease: ProcessLease { store.lease }
    var logger: Logger { store.logger }

    /// Opens the cache in `directory` (created 0700 when missing), takes a lease in it, and cleans up what
    /// processes that are gone left behind (`ProxyCacheJanitor.cleanUpAtStart`). Blocks: call it off the
    /// concurrency pool (or accept a short block at start-up).
    public init(
        directoryPath: String, configuration: ProxyServiceConfiguration, fingerprints: FingerprintCache = FingerprintCache(),
        observer: ProxyJobObserver, logger: Logger
    ) throws {
        self.fingerprints = fingerprints
        store = try ProxyStore(directoryPath: directoryPath, configuration: configuration, observer: observer, logger: logger)
        queue = JobQueue(
            idPrefix: "job", maxConcurrent: configuration.maxConcurrentJobs,
            observer: JobListener(observer: observer))
        try store.janitor.cleanUpAtStart()
    }

    // MARK: - Generation

    /// Queues (or joins, or answers from the cache) a proxy request. Returns once the job is queued. `listener`
    /// gets the job's events from then on (its `began` before this returns).
    /// Throws `MediaError` for a missing, unreadable or unusable source (audio-only, still image, not media).
    public func generate(_ request: ProxyRequest, listener: ProxyJobListener? = nil) async throws -> ProxyTicket {
        let path = request.sourcePath
        let (fingerprint, info) = try await inspect(path: path)
        try Self.checkWorthAProxy(info, path: path, quality: request.quality, scalePercent: request.scalePercent, force: request.force)
        let slot = ProxySlot(fingerprintKey: fingerprint.key, quality: request.quality)
        // A fresh proxy answers at once, unless a job of this process is (re)making the slot.
        if !request.overwrite, await queue.activeJob(for: slot) == nil,
            let record = try await BlockingQueue.run({ [store] in
                try store.reusableProxy(for: slot, scalePercent: request.scalePercent, at: path)
            })
        {
            return ProxyTicket(
                jobId: record.jobId ?? "", status: .completed, sourcePath: path, quality: request.quality,
                progressPercent: 100, joined: false, record: record)
        }
        if let startTime = request.startTime { notePlayhead(sourcePath: path, seconds: startTime) }
        let work = ProxyJobWork(
            store: store, slot: slot, request: request, fingerprint: fingerprint,
            sourceDurationSeconds: info.durationSeconds ?? 0,
            playhead: { [playheads] in playheads.withLock { $0[path] } })
        let settingsKey = ProxySegmentBuild.settingsKey(ProxyJobWork.settings(for: request, configuration: store.configuration))
        let resumable =
            request.overwrite
            ? 0
            : try await BlockingQueue.run { [catalog] in try catalog.segments(of: slot, settingsKey: settingsKey).count }
        let ticket: JobQueue<ProxySlot, ProxyRecord>.Ticket
        do {
            ticket = try await queue.submit(
                .init(
                    key: slot, label: path, variant: request.scalePercent.map { "scale-\($0)" } ?? "box",
                    priority: request.priority, background: request.background, listener: listener,
                    work: work.jobWork))
        } catch JobQueue<ProxySlot, ProxyRecord>.QueueError.shutDown {
            throw MediaError.cancelled
        }
        rememberedLookups.noteSubmission()
        return ProxyTicket(
            jobId: ticket.snapshot.id, status: ticket.snapshot.proxyStatus, sourcePath: path, quality: request.quality,
            progressPercent: ticket.snapshot.progress.percent, joined: ticket.joined, record: nil, resumedSegments: resumable)
    }

    /// What a proxy of `quality` (or of `scalePercent` of the source's size) is encoded with.
    public static func transcodeSettings(
        quality: ProxyQuality, scalePercent: Int?, hardwareAcceleration: HardwareAcceleration
    ) -> TranscodeSettings {
        TranscodeSettings(
            target: scalePercent.map { .scalePercent($0) } ?? .box(width: quality.width, height: quality.height),
            videoBitRate: quality.videoBitRate, audioBitRate: ProxyQuality.audioBitRate,
            hardwareAcceleration: hardwareAcceleration)
    }

    /// Notes the time the user looks at in a source (`setPlayhead`, the latest `requestFrame`, a waveform's visible
    /// range, `generate`'s `startTime`): a job making its proxy makes the segment holding it next, then those after it.
    public func notePlayhead(sourcePath: String, seconds: Double) {
        guard seconds.isFinite else { return }
        playheads.withLock { playheads in
            if playheads.count >= 4096 && playheads[sourcePath] == nil { playheads.removeAll(keepingCapacity: true) }
            playheads[sourcePath] = max(0, seconds)
        }
    }

    /// Waits until the job ends and returns its proxy. Throws the job's `MediaError` when it failed,
    /// `MediaError.cancelled` when it was cancelled, `ProxyServiceError.replaced` when a request with other sizing
    /// replaced it. If the waiting task is cancelled and nobody else wants the job (no background request, no other
    /// waiter), the job is cancelled too.
    public func waitForCompletion(jobId: String) async throws -> ProxyRecord {
        // The source the job is about, for naming a failure that is not already a `MediaError`.
        let sourcePath = await queue.snapshot(of: jobId)?.label ?? "the source of proxy job \(jobId)"
        do {
            return try await queue.result(of: jobId)
        } catch is JobCancelled {
            throw MediaError.cancelled
        } catch JobQueue<ProxySlot, ProxyRecord>.QueueError.replaced(let id, let newId) {
            throw ProxyServiceError.replaced(jobId: id, by: newId)
        } catch JobQueue<ProxySlot, ProxyRecord>.QueueError.jobNotFound(let id) {
            throw ProxyServiceError.jobNotFound(id)
        } catch let error as CancellationError {
            throw error
        } catch {
            throw MediaError(describing: error, path: sourcePath)
        }
    }

    /// Cancels this process's queued or running job. Returns the job's snapshot — `status: .cancelled` when the
    /// cancellation was accepted, its current status when the job was already installing its proxy — or nil when
    /// no such job is active.
    @discardableResult
    public func cancel(jobId: String) async -> ProxyJobSnapshot? {
        guard let (snapshot, accepted) = await queue.cancel(id: jobId) else { return nil }
        var shown = snapshot
        if accepted { shown.status = .cancelled }
        return shown
    }

    /// Cancels this process's active job for a source and quality; nil when there is none.
    public func cancel(sourcePath: String, quality: ProxyQuality) async throws -> ProxyJobSnapshot? {
        let fingerprint = try await fingerprint(path: sourcePath)
        guard let job = await queue.activeJob(for: ProxySlot(fingerprintKey: fingerprint.key, quality: quality)) else { return nil }
        return await cancel(jobId: job.id)
    }

    /// Fails for a source that cannot have a proxy (no video stream, a still image: `MediaError.unsupported`) or, unless
    /// `force`, needs none (`ProxyServiceError.notNeeded`).
    static func checkWorthAProxy(_ info: MediaInfo, path: String, quality: ProxyQuality, scalePercent: Int?, force: Bool) throws {
        guard let video = info.streams.first(where: { $0.type == "video" && !$0.isAttachedPicture }) else {
            let kind = info.streams.contains { $0.type == "audio" } ? "an audio-only file" : "a file without a video stream"
            throw MediaError.unsupported(path: path, reason: "\(kind) cannot have a video proxy")
        }
        if info.formatName == "image2" || info.formatName.hasSuffix("_pipe") || (video.frameCount == 1 && (info.durationSeconds ?? 0) < 0.1) {
            throw MediaError.unsupported(path: path, reason: "a still image cannot have a video proxy")
        }
        if !force, let reason = notNeededReason(video: video, quality: quality, scalePercent: scalePercent) {
            throw ProxyServiceError.notNeeded(reason: reason)
        }
    }

    /// Why a proxy of this video at `quality` would be pointless, or nil when it is not: a source whose picture (square
    /// pixels, upright) already fits the quality's box would get a proxy of its own size, larger than itself at the
    /// preset's bit rate and no faster to decode. With `scalePercent` the proxy is always smaller, so always made.
    public static func notNeededReason(video: StreamInfo, quality: ProxyQuality, scalePercent: Int?) -> String? {
        guard scalePercent == nil, let geometry = video.displayGeometry,
            TranscodeGeometry.fits(geometry, within: (quality.width, quality.height))
        else { return nil }
        let (width, height) = geometry.pictureSize(width: nil, height: nil)
        return "the source (\(width)x\(height)) is no larger than the \(quality) proxy's \(quality.width)x\(quality.height) box"
    }

    /// `notNeededReason` for a source file (probed off the pool, once per content, quality and scale); nil when a proxy
    /// would be useful or the source has no video.
    public func notNeededReason(sourcePath: String, quality: ProxyQuality, scalePercent: Int?) async throws -> String? {
        let key = "\(try await fingerprint(path: sourcePath).key)|\(quality.rawValue)|\(scalePercent ?? 0)"
        if let known = needVerdicts.withLock({ $0[key] }) { return known }
        let info = try await BlockingQueue.run { try MediaProbe.probe(path: sourcePath) }
        let reason = info.primaryVideoStream.flatMap { Self.notNeededReason(video: $0, quality: quality, scalePercent: scalePercent) }
        needVerdicts.withLock { verdicts in
            if verdicts.count >= 4096 { verdicts.removeAll(keepingCapacity: true) }
            verdicts[key] = .some(reason)
        }
        return reason
    }

    // MARK: - Jobs

    /// The catalogue record a job produced (or is producing), if the slot still holds it. Blocks (SQLite).
    public func catalogRecord(jobId: String) throws -> ProxyRecord? {
        try catalog.record(jobId: jobId)
    }

    /// The final status of a job that is no longer active: remembered for the session, else read from the
    /// catalogue (jobs of earlier sessions and other processes). Nil for an unknown id.
    public func endedJobStatus(jobId: String) async throws -> ProxyStatus? {
        switch await queue.outcome(of: jobId) {
        case .completed?: return .completed
        case .failed?: return .failed
        case .cancelled?, .replaced?: return .cancelled
        case nil: return try await BlockingQueue.run { [catalog] in try catalog.record(jobId: jobId)?.status }
        }
    }

    /// Queued plus running jobs of this process.
    public var activeJobCount: Int {
        get async {
            let counts = await queue.counts
            return counts.queued + counts.running
        }
    }

    /// Applies new limits: a lower cache limit evicts at once; a higher concurrency starts queued jobs.
    public func reconfigure(_ configuration: ProxyServiceConfiguration) async {
        store.configuration = configuration
        await queue.setMaxConcurrent(configuration.maxConcurrentJobs)
        _ = try? await BlockingQueue.run { [store] in store.enforceLimit() }
    }

    // MARK: - Shutdown

    /// Cancels every job, waits for running transcodes to stop and their partial files to be removed, and gives
    /// up the lease. Files of other processes are left alone.
    public func shutdown() async {
        await queue.shutdown()
        store.area.release()
    }

    // MARK: - Helpers

    /// Fingerprints a source off the pool (reading 2 MiB unless the file is unchanged since last time).
    func fingerprint(path: String) async throws -> SourceFingerprint {
        try await BlockingQueue.run { [fingerprints] in try MediaError.mapping { () throws(FileError) in try fingerprints.fingerprint(path: path) } }
    }

    /// Fingerprint and probe of a source, off the pool.
    func inspect(path: String) async throws -> (SourceFingerprint, MediaInfo) {
        try await BlockingQueue.run { [fingerprints] in
            let info = try MediaProbe.probe(path: path)
            return (try MediaError.mapping { () throws(FileError) in try fingerprints.fingerprint(path: path) }, info)
        }
    }
}
