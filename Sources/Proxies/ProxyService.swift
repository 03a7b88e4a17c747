import Foundation
import Logging
import Media

/// Tunables of the proxy service that may change while it runs.
public struct ProxyServiceConfiguration: Sendable, Equatable {
    /// Completed proxies beyond this many bytes are evicted, least recently used first, down to 90 %.
    public var cacheLimitBytes: Int64
    /// How many jobs run at once.
    public var maxConcurrentJobs: Int
    /// Whether to try hardware H.264 encoders.
    public var hardwareAcceleration: HardwareAcceleration

    public init(cacheLimitBytes: Int64 = 10 << 30, maxConcurrentJobs: Int = 1, hardwareAcceleration: HardwareAcceleration = .off) {
        self.cacheLimitBytes = cacheLimitBytes
        self.maxConcurrentJobs = maxConcurrentJobs
        self.hardwareAcceleration = hardwareAcceleration
    }
}

/// The answer to a generation request: the job that will make (or made) the proxy.
public struct ProxyTicket: Sendable, Equatable {
    public var jobId: String
    public var status: ProxyStatus
    public var sourcePath: String
    public var quality: ProxyPreset
    public var progressPercent: Double
    /// True when the request joined a job that was already queued or running.
    public var joined: Bool
    /// The finished proxy, when `status == .completed`.
    public var record: ProxyRecord?
}

/// What the catalogue knows about a source at one quality.
public enum ProxyLookup: Sendable, Equatable {
    /// Nothing: never requested (or cleared).
    case none
    /// A queued or running job (its record carries live progress).
    case active(ProxyRecord, ProxyJobSnapshot)
    /// A record for the source's current content: completed, failed or cancelled.
    case record(ProxyRecord)
    /// A record made from this path when it held other content: the source changed since.
    case stale(ProxyRecord)

    /// The record with the status a client should see.
    public var visibleRecord: ProxyRecord? {
        switch self {
        case .none: return nil
        case .active(let record, _), .record(let record): return record
        case .stale(var record):
            record.status = .stale
            return record
        }
    }
}

/// Totals over completed proxies, matching the files on disk.
public struct ProxyCacheStats: Sendable, Equatable {
    public struct QualityTotals: Sendable, Equatable {
        public var count: Int
        public var sizeBytes: Int64
    }
    public var totalProxies: Int
    public var totalCacheSizeBytes: Int64
    public var totalSourceSizeBytes: Int64
    public var cacheLimitBytes: Int64
    public var queuedJobs: Int
    public var runningJobs: Int
    public var byQuality: [ProxyPreset: QualityTotals]

    /// totalCacheSizeBytes / totalSourceSizeBytes; 0 without sources.
    public var compressionRatio: Double {
        totalSourceSizeBytes > 0 ? Double(totalCacheSizeBytes) / Double(totalSourceSizeBytes) : 0
    }
    /// (1 − compressionRatio) × 100; 0 without sources.
    public var spaceSavedPercent: Double {
        totalSourceSizeBytes > 0 ? (1 - compressionRatio) * 100 : 0
    }
}

/// What `clear` removed.
public struct ClearResult: Sendable, Equatable {
    public var deletedFiles: Int
    public var freedBytes: Int64
    public init(deletedFiles: Int = 0, freedBytes: Int64 = 0) {
        self.deletedFiles = deletedFiles
        self.freedBytes = freedBytes
    }
}

/// Proxy generation, catalogue and cache for one cache directory.
///
/// An actor: the queue, the running set and the waiters are its state. Transcoding runs on one dedicated
/// thread per job (never on the concurrency pool), which reports progress through the job's mutex and
/// finishes by calling back into the actor.
///
/// Invariants:
/// - At most one job per (source content, quality); later requests join it.
/// - A record is `completed` only after its file was written completely and renamed into place.
/// - Partial files live under `*.partial.mp4` names and are removed on failure, cancellation and at startup.
public actor ProxyService {
    public nonisolated let directory: CacheDirectory
    nonisolated let catalog: ProxyCatalog
    private nonisolated let fingerprints = FingerprintCache()
    private let observer: ProxyJobObserver
    private let logger: Logger
    private var configuration: ProxyServiceConfiguration

    private var jobs: [String: ProxyJob] = [:]
    private var jobsByKey: [ProxyJobKey: String] = [:]
    private var queue: [ProxyJob] = []
    private var running: [String: Thread] = [:]
    private var waiters: [String: [UUID: CheckedContinuation<ProxyRecord, Error>]] = [:]
    private var finished: [String: CheckedContinuation<Void, Never>] = [:]
    /// How every job that ended in this session ended (their records may since have been replaced).
    private var endedJobs: [String: ProxyJobOutcome] = [:]
    private var nextSequence = 0
    private var isShutDown = false

    /// Opens the cache in `directory` (created 0700 when missing), reconciles the catalogue with the files
    /// (leftover partial files removed, interrupted jobs marked failed, records of vanished files dropped,
    /// unreferenced proxy files deleted), then enforces the size limit.
    public init(directoryPath: String, configuration: ProxyServiceConfiguration, observer: ProxyJobObserver,
                logger: Logger) throws {
        directory = try CacheDirectory.prepare(path: directoryPath)
        catalog = try ProxyCatalog(directory: directory.url)
        self.configuration = configuration
        self.observer = observer
        self.logger = logger
        try Self.reconcile(directory: directory, catalog: catalog, logger: logger)
    }

    // MARK: - Generation

    /// Queues (or joins, or answers from the cache) a proxy request. Returns at once.
    /// Throws `MediaError` for a missing, unreadable or unusable source (audio-only, still image, not media).
    public func generate(_ request: ProxyRequest) async throws -> ProxyTicket {
        guard !isShutDown else { throw MediaError.cancelled }
        let path = request.sourcePath
        let (fingerprint, info) = try await inspect(path: path)
        guard let video = info.streams.first(where: { $0.type == "video" && !$0.isAttachedPicture }) else {
            let kind = info.streams.contains { $0.type == "audio" } ? "an audio-only file" : "a file without a video stream"
            throw MediaError.unsupported(path: path, reason: "\(kind) cannot have a video proxy")
        }
        if info.formatName == "image2" || info.formatName.hasSuffix("_pipe") || (video.frameCount == 1 && (info.durationSeconds ?? 0) < 0.1) {
            throw MediaError.unsupported(path: path, reason: "a still image cannot have a video proxy")
        }
        let key = ProxyJobKey(fingerprintKey: fingerprint.key, quality: request.preset)

        var replacing: ProxyJob?
        if let jobID = jobsByKey[key], let job = jobs[jobID] {
            guard job.scalePercent == request.scalePercent else {
                replacing = job  // Other sizing: the slot holds one proxy, so the new request wins.
                return try enqueue(request, key: key, fingerprint: fingerprint, info: info, replacing: replacing)
            }
            if job.raisePriority(to: request.priority), job.status == .queued { sortQueue() }
            if request.background { job.markWantedInBackground() }
            return try ticket(for: job, joined: true)
        }
        if !request.overwrite, var record = try catalog.record(fingerprint: key.fingerprintKey, quality: key.quality.rawValue),
           record.status == .completed, record.scalePercent == request.scalePercent,
           fileSize(URL(fileURLWithPath: record.proxyPath)) == record.proxySizeBytes {
            try catalog.touch(id: record.id!, sourcePath: path)
            record.sourcePath = path
            record.lastAccessedAt = Date()
            return ProxyTicket(jobId: record.jobId ?? "", status: .completed, sourcePath: path, quality: request.preset,
                               progressPercent: 100, joined: false, record: record)
        }

        return try enqueue(request, key: key, fingerprint: fingerprint, info: info, replacing: nil)
    }

    private func enqueue(_ request: ProxyRequest, key: ProxyJobKey, fingerprint: SourceFingerprint, info: MediaInfo,
                         replacing: ProxyJob?) throws -> ProxyTicket {
        let path = request.sourcePath
        let jobID = Self.makeJobID()
        let now = Date()
        let record = try catalog.replace(ProxyRecord(
            id: nil, sourcePath: path, sourceFingerprint: key.fingerprintKey, sourceSizeBytes: fingerprint.sizeBytes,
            sourceModificationTime: fingerprint.modificationTime, sourceEdgeHash: fingerprint.edgeHash,
            quality: request.preset.rawValue, scalePercent: request.scalePercent,
            proxyPath: directory.proxyURL(fingerprintKey: key.fingerprintKey, quality: request.preset.rawValue).path,
            width: 0, height: 0, videoBitRate: request.preset.videoBitRate, audioBitRate: nil,
            durationSeconds: info.durationSeconds ?? 0, frameRate: nil, hasAudio: false, videoEncoder: nil,
            proxySizeBytes: 0, status: .queued, progressPercent: 0, error: nil, createdAt: now, lastAccessedAt: now,
            jobId: jobID))
        nextSequence += 1
        let job = ProxyJob(id: jobID, key: key, sourcePath: path, fingerprint: fingerprint, scalePercent: request.scalePercent,
                           priority: request.priority, sequence: nextSequence, recordID: record.id!, background: request.background)
        jobs[jobID] = job
        jobsByKey[key] = jobID
        if let replacing {
            logger.info("job \(jobID) replaces job \(replacing.id) (other sizing)")
            replacing.replace(by: jobID)
            cancel(replacing)
        }
        queue.append(job)
        sortQueue()
        observer.jobQueued(job.snapshot)
        startJobsIfPossible()
        return try ticket(for: job, joined: false)
    }

    /// Waits until the job ends and returns its proxy. Throws the job's `MediaError` when it failed and
    /// `MediaError.cancelled` when it was cancelled. If the waiting task is cancelled and nobody else wants
    /// the job (no background request, no other waiter), the job is cancelled too.
    public func waitForCompletion(jobId: String) async throws -> ProxyRecord {
        guard let job = jobs[jobId] else {
            // Already over (a quick failure can end a job before its requester starts waiting).
            guard let outcome = endedJobs[jobId] else { throw ProxyServiceError.jobNotFound(jobId) }
            return try Self.result(of: outcome, jobID: jobId).get()
        }
        let waiterID = UUID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                waiters[job.id, default: [:]][waiterID] = continuation
            }
        } onCancel: {
            Task { await self.abandonWait(jobID: job.id, waiterID: waiterID) }
        }
    }

    private func abandonWait(jobID: String, waiterID: UUID) {
        guard let continuation = waiters[jobID]?.removeValue(forKey: waiterID) else { return }
        continuation.resume(throwing: CancellationError())
        if let job = jobs[jobID], !job.wantedInBackground, waiters[jobID, default: [:]].isEmpty {
            logger.info("job \(jobID) is no longer wanted: cancelling it")
            cancel(job)
        }
    }

    /// Cancels a queued or running job. Returns the job's snapshot, or nil when no such job is active.
    @discardableResult
    public func cancel(jobId: String) -> ProxyJobSnapshot? {
        guard let job = jobs[jobId] else { return nil }
        cancel(job)
        return job.snapshot
    }

    /// Cancels the active job for a source and quality; nil when there is none.
    public func cancel(sourcePath: String, preset: ProxyPreset) async throws -> ProxyJobSnapshot? {
        let fingerprint = try await fingerprint(path: sourcePath)
        guard let jobID = jobsByKey[ProxyJobKey(fingerprintKey: fingerprint.key, quality: preset)] else { return nil }
        return cancel(jobId: jobID)
    }

    private func cancel(_ job: ProxyJob) {
        job.cancel()
        if let index = queue.firstIndex(where: { $0.id == job.id }) {
            queue.remove(at: index)
            finish(job, result: .failure(MediaError.cancelled))
        }
        // A running job notices the flag between packets and finishes through `finish`.
    }

    private func sortQueue() {
        queue.sort { ($0.priority, -$0.sequence) > ($1.priority, -$1.sequence) }
    }

    private func startJobsIfPossible() {
        while !isShutDown && running.count < configuration.maxConcurrentJobs && !queue.isEmpty {
            let job = queue.removeFirst()
            start(job)
        }
    }

    private func start(_ job: ProxyJob) {
        job.setStatus(.generating)
        updateRecord(id: job.recordID) { $0.status = .generating }
        let partial = directory.partialURL(fingerprintKey: job.key.fingerprintKey, quality: job.key.quality.rawValue, jobID: job.id)
        let settings = ProxyEncodingSettings(
            target: job.scalePercent.map { .scalePercent($0) } ?? .box(width: job.key.quality.width, height: job.key.quality.height),
            videoBitRate: job.key.quality.videoBitRate, audioBitRate: ProxyPreset.audioBitRate,
            hardwareAcceleration: configuration.hardwareAcceleration)
        let observer = self.observer
        observer.jobProgressed(job.snapshot)
        let thread = Thread { [weak self] in
            let transcoder = ProxyTranscoder(sourcePath: job.sourcePath, outputPath: partial.path, settings: settings)
            let result = Result {
                try transcoder.run(
                    progress: { progress in
                        job.record(progress)
                        observer.jobProgressed(job.snapshot)
                    },
                    isCancelled: { job.isCancelled })
            }
            Task { await self?.transcodeEnded(job, partial: partial, result: result) }
        }
        thread.name = "aura.proxy.\(job.id)"
        thread.stackSize = 8 << 20
        running[job.id] = thread
        logger.info("generating \(job.key.quality.rawValue) proxy of \(job.sourcePath) (job \(job.id))")
        thread.start()
    }

    private func transcodeEnded(_ job: ProxyJob, partial: URL, result: Result<TranscodeResult, Error>) {
        running.removeValue(forKey: job.id)
        switch result {
        case .success where job.isCancelled:
            // Cancelled (or replaced) after its last packet: the request to stop wins over the finished file.
            try? FileManager.default.removeItem(at: partial)
            finish(job, result: .failure(MediaError.cancelled))
        case .success(let transcode):
            if let reason = transcode.hardwareFallbackReason {
                observer.warning("hardware encoding unavailable, used \(transcode.videoEncoder): \(reason)")
            }
            finish(job, result: Result { try install(job, partial: partial, transcode: transcode) })
        case .failure(let error):
            try? FileManager.default.removeItem(at: partial)
            finish(job, result: .failure(error))
        }
        if let waiter = finished.removeValue(forKey: job.id) { waiter.resume() }
        startJobsIfPossible()
    }

    /// Moves a finished partial file into place and records it as completed.
    private func install(_ job: ProxyJob, partial: URL, transcode: TranscodeResult) throws -> ProxyRecord {
        let final = URL(fileURLWithPath: directory.proxyURL(fingerprintKey: job.key.fingerprintKey, quality: job.key.quality.rawValue).path)
        do {
            // The source must still be what was transcoded; a proxy of half-old, half-new content is worthless.
            let now = try SourceFingerprint.of(path: job.sourcePath)
            guard now == job.fingerprint else {
                throw MediaError.corrupt(path: job.sourcePath, reason: "the source changed while its proxy was being generated")
            }
            try Self.syncToDisk(partial)
            guard rename(partial.path, final.path) == 0 else {
                throw errno == ENOSPC ? MediaError.diskFull(path: final.path)
                    : MediaError.ioFailure(path: final.path, reason: String(cString: strerror(errno)))
            }
        } catch {
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
        let size = fileSize(final) ?? 0
        var record = try catalog.record(id: job.recordID) ?? {
            throw MediaError.ioFailure(path: final.path, reason: "its catalogue record vanished")
        }()
        record.status = .completed
        record.progressPercent = 100
        record.width = transcode.width
        record.height = transcode.height
        record.videoBitRate = transcode.videoBitRate
        record.audioBitRate = transcode.audioBitRate
        record.durationSeconds = transcode.durationSeconds
        record.frameRate = transcode.frameRate
        record.hasAudio = transcode.hasAudio
        record.videoEncoder = transcode.videoEncoder
        record.proxySizeBytes = size
        record.error = nil
        record.lastAccessedAt = Date()
        try catalog.update(record)
        return record
    }

    /// Records a job's outcome, wakes its waiters and tells the observer. Used for every ending.
    private func finish(_ job: ProxyJob, result: Result<ProxyRecord, Error>) {
        jobs.removeValue(forKey: job.id)
        if jobsByKey[job.key] == job.id { jobsByKey.removeValue(forKey: job.key) }
        let outcome: ProxyJobOutcome
        switch result {
        case .success(let record):
            job.setStatus(.completed)
            outcome = .completed(record)
        case .failure(let error):
            let mediaError = (error as? MediaError) ?? .ioFailure(path: job.sourcePath, reason: "\(error)")
            let cancelled = mediaError == .cancelled
            job.setStatus(cancelled ? .cancelled : .failed)
            if cancelled, let newJobID = job.replacedBy {
                outcome = .replaced(by: newJobID)
            } else {
                outcome = cancelled ? .cancelled : .failed(mediaError)
            }
            updateRecord(id: job.recordID) { record in
                record.status = cancelled ? .cancelled : .failed
                record.error = cancelled ? nil : mediaError.description
            }
            if jobsByKey[job.key] == nil {
                // An overwritten proxy's old file must not outlive a record that no longer says completed.
                try? FileManager.default.removeItem(atPath: directory.proxyURL(
                    fingerprintKey: job.key.fingerprintKey, quality: job.key.quality.rawValue).path)
            }
            logger.info("job \(job.id) \(cancelled ? "cancelled" : "failed: \(mediaError)")")
        }
        endedJobs[job.id] = outcome
        // The limit is enforced before the outcome is announced, so whoever hears "completed" finds the
        // cache already back under its limit.
        if case .completed = outcome { enforceLimit() }
        for (_, continuation) in waiters.removeValue(forKey: job.id) ?? [:] {
            continuation.resume(with: Self.result(of: outcome, jobID: job.id))
        }
        observer.jobFinished(job.snapshot, outcome: outcome)
    }

    /// What a waiter gets for an outcome.
    private static func result(of outcome: ProxyJobOutcome, jobID: String) -> Result<ProxyRecord, Error> {
        switch outcome {
        case .completed(let record): return .success(record)
        case .failed(let error): return .failure(error)
        case .cancelled: return .failure(MediaError.cancelled)
        case .replaced(let newJobID): return .failure(ProxyServiceError.replaced(jobId: jobID, by: newJobID))
        }
    }

    private func updateRecord(id: Int64, _ change: (inout ProxyRecord) -> Void) {
        do {
            guard var record = try catalog.record(id: id) else { return }
            change(&record)
            try catalog.update(record)
        } catch {
            logger.error("catalogue update failed: \(error)")
        }
    }

    private func ticket(for job: ProxyJob, joined: Bool) throws -> ProxyTicket {
        let snapshot = job.snapshot
        return ProxyTicket(jobId: job.id, status: snapshot.status, sourcePath: job.sourcePath, quality: job.key.quality,
                           progressPercent: snapshot.progressPercent, joined: joined, record: nil)
    }

    // MARK: - Queries

    /// What is known about `sourcePath` at `preset`. When the source was moved, the record found by content
    /// is reported under the new path (and remembered there).
    public func lookup(sourcePath: String, preset: ProxyPreset) async throws -> ProxyLookup {
        let fingerprint = try await fingerprint(path: sourcePath)
        let key = ProxyJobKey(fingerprintKey: fingerprint.key, quality: preset)
        if var record = try catalog.record(fingerprint: key.fingerprintKey, quality: preset.rawValue) {
            if record.sourcePath != sourcePath, let id = record.id {
                // The same content under a new path: the source was moved (or copied); remember where it is now.
                try catalog.updateSourcePath(id: id, to: sourcePath)
            }
            record.sourcePath = sourcePath
            if let jobID = jobsByKey[key], let job = jobs[jobID] {
                let snapshot = job.snapshot
                record.status = snapshot.status
                record.progressPercent = snapshot.progressPercent
                return .active(record, snapshot)
            }
            if record.status == .completed && fileSize(URL(fileURLWithPath: record.proxyPath)) == nil {
                try catalog.delete(ids: [record.id!])
                return .none
            }
            return .record(record)
        }
        if let old = try catalog.latestRecord(sourcePath: sourcePath, quality: preset.rawValue) {
            return .stale(old)
        }
        return .none
    }

    /// The catalogue record a job produced (or is producing), if the slot still holds it.
    public nonisolated func catalogRecord(jobId: String) throws -> ProxyRecord? {
        try catalog.record(jobId: jobId)
    }

    /// The final status of a job that is no longer active: remembered for the session, else read from the
    /// catalogue (jobs of earlier sessions). Nil for an unknown id.
    public func endedJobStatus(jobId: String) throws -> ProxyStatus? {
        switch endedJobs[jobId] {
        case .completed?: return .completed
        case .failed?: return .failed
        case .cancelled?, .replaced?: return .cancelled
        case nil: return try catalog.record(jobId: jobId)?.status
        }
    }

    /// Marks a completed proxy as used now (protects it from eviction for a minute).
    public func markUsed(_ record: ProxyRecord, at path: String) {
        guard let id = record.id else { return }
        try? catalog.touch(id: id, sourcePath: path)
    }

    /// Totals over completed proxies plus the job counts.
    public func stats() throws -> ProxyCacheStats {
        var stats = ProxyCacheStats(totalProxies: 0, totalCacheSizeBytes: 0, totalSourceSizeBytes: 0,
                                    cacheLimitBytes: configuration.cacheLimitBytes,
                                    queuedJobs: queue.count, runningJobs: running.count,
                                    byQuality: Dictionary(uniqueKeysWithValues: ProxyPreset.allCases.map { ($0, .init(count: 0, sizeBytes: 0)) }))
        for record in try catalog.completedByLeastRecentUse() {
            stats.totalProxies += 1
            stats.totalCacheSizeBytes += record.proxySizeBytes
            stats.totalSourceSizeBytes += record.sourceSizeBytes
            if let preset = ProxyPreset(rawValue: record.quality) {
                stats.byQuality[preset]?.count += 1
                stats.byQuality[preset]?.sizeBytes += record.proxySizeBytes
            }
        }
        return stats
    }

    // MARK: - Cache management

    /// Applies new limits: a lower cache limit evicts at once; a higher concurrency starts queued jobs.
    public func reconfigure(_ configuration: ProxyServiceConfiguration) {
        self.configuration = configuration
        enforceLimit()
        startJobsIfPossible()
    }

    /// Queued plus running jobs.
    public var activeJobCount: Int { jobs.count }

    /// Deletes proxies (all, or those of one source path — by path and by its current content) and their
    /// records. Queued and running jobs are left alone; only files inside the cache directory are touched.
    public func clear(sourcePath: String?) async throws -> ClearResult {
        var currentKey: String?
        if let sourcePath {
            currentKey = try? await fingerprint(path: sourcePath).key
        }
        let activeSlots = Set(jobsByKey.keys)
        var result = ClearResult()
        var removedIDs: [Int64] = []
        for record in try catalog.allRecords() where !activeSlots.contains(record.slot) {
            if let sourcePath, record.sourcePath != sourcePath && record.sourceFingerprint != currentKey { continue }
            if let size = removeFile(URL(fileURLWithPath: record.proxyPath)) {
                result.deletedFiles += 1
                result.freedBytes += size
            }
            removedIDs.append(record.id!)
        }
        try catalog.delete(ids: removedIDs)
        if sourcePath == nil {
            // Stray files (a partial file of a crashed job, an unreferenced proxy) go too.
            let known = Set(try catalog.allRecords().map { URL(fileURLWithPath: $0.proxyPath).lastPathComponent })
            let runningPartials = Set(jobs.values.map {
                directory.partialURL(fingerprintKey: $0.key.fingerprintKey, quality: $0.key.quality.rawValue, jobID: $0.id).lastPathComponent
            })
            for name in directory.proxyFileNames() where CacheDirectory.isProxyFile(name) || CacheDirectory.isPartialFile(name) {
                guard !known.contains(name) && !runningPartials.contains(name) else { continue }
                if let size = removeFile(directory.proxiesURL.appendingPathComponent(name)) {
                    result.deletedFiles += 1
                    result.freedBytes += size
                }
            }
        }
        logger.info("cleared \(result.deletedFiles) proxy files (\(result.freedBytes) bytes)")
        return result
    }

    /// Evicts least-recently-used completed proxies while the cache is over its limit, down to 90 % of it.
    /// Never evicts a proxy being generated or one resolved in the last minute.
    private func enforceLimit() {
        do {
            let completed = try catalog.completedByLeastRecentUse()
            var total = completed.reduce(Int64(0)) { $0 + $1.proxySizeBytes }
            guard total > configuration.cacheLimitBytes else { return }
            let target = configuration.cacheLimitBytes / 10 * 9
            let protectedSince = Date().addingTimeInterval(-60)
            let activeSlots = Set(jobsByKey.keys)
            var evicted: [Int64] = []
            for record in completed where total > target {
                guard record.lastAccessedAt < protectedSince, !activeSlots.contains(record.slot) else { continue }
                _ = removeFile(URL(fileURLWithPath: record.proxyPath))
                total -= record.proxySizeBytes
                evicted.append(record.id!)
                logger.info("evicted \(record.quality) proxy of \(record.sourcePath) (\(record.proxySizeBytes) bytes)")
            }
            try catalog.delete(ids: evicted)
            if !evicted.isEmpty {
                observer.notice("evicted \(evicted.count) least recently used proxies to keep the cache under its limit of \(configuration.cacheLimitBytes) bytes")
            }
            if total > configuration.cacheLimitBytes {
                observer.warning("the proxy cache holds \(total) bytes, over its limit of \(configuration.cacheLimitBytes): the remaining proxies are in use")
            }
        } catch {
            logger.error("cache limit enforcement failed: \(error)")
        }
    }

    private func removeFile(_ url: URL) -> Int64? {
        guard url.deletingLastPathComponent().standardizedFileURL == directory.proxiesURL.standardizedFileURL, let size = fileSize(url) else { return nil }
        return unlink(url.path) == 0 ? size : nil
    }

    // MARK: - Shutdown

    /// Cancels every job, waits for running transcodes to stop and their partial files to be removed.
    public func shutdown() async {
        isShutDown = true
        for job in queue { cancel(job) }
        let runningIDs = Array(running.keys)
        for id in runningIDs { jobs[id]?.cancel() }
        for id in runningIDs where running[id] != nil {
            await withCheckedContinuation { continuation in finished[id] = continuation }
        }
        for name in directory.proxyFileNames() where CacheDirectory.isPartialFile(name) {
            unlink(directory.proxiesURL.appendingPathComponent(name).path)
        }
    }

    // MARK: - Helpers

    private static func makeJobID() -> String {
        "job-" + UUID().uuidString.lowercased().prefix(13).replacingOccurrences(of: "-", with: "")
    }

    /// Fingerprints a source off the actor (reading 2 MiB unless the file is unchanged since last time).
    func fingerprint(path: String) async throws -> SourceFingerprint {
        try await BlockingQueue.run { [fingerprints] in try fingerprints.fingerprint(path: path) }
    }

    /// Fingerprint and probe of a source, off the actor.
    func inspect(path: String) async throws -> (SourceFingerprint, MediaInfo) {
        try await BlockingQueue.run { [fingerprints] in
            let info = try MediaProbe.probe(path: path)
            return (try fingerprints.fingerprint(path: path), info)
        }
    }

    private static func syncToDisk(_ url: URL) throws {
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        if fsync(descriptor) != 0 && errno == ENOSPC { throw MediaError.diskFull(path: url.path) }
    }

    /// Startup reconciliation; see `init`.
    private static func reconcile(directory: CacheDirectory, catalog: ProxyCatalog, logger: Logger) throws {
        for name in directory.proxyFileNames() where CacheDirectory.isPartialFile(name) {
            logger.info("removing leftover partial file \(name)")
            unlink(directory.proxiesURL.appendingPathComponent(name).path)
        }
        var vanished: [Int64] = []
        var keep = Set<String>()
        for var record in try catalog.allRecords() {
            switch record.status {
            case .queued, .generating:
                record.status = .failed
                record.error = "interrupted: the server stopped before the proxy was finished"
                try catalog.update(record)
            case .completed:
                if fileSize(URL(fileURLWithPath: record.proxyPath)) == nil {
                    vanished.append(record.id!)
                } else {
                    keep.insert(URL(fileURLWithPath: record.proxyPath).lastPathComponent)
                }
            default:
                break
            }
        }
        if !vanished.isEmpty { logger.info("dropping \(vanished.count) catalogue records whose proxy files vanished") }
        try catalog.delete(ids: vanished)
        for name in directory.proxyFileNames() where CacheDirectory.isProxyFile(name) && !keep.contains(name) {
            logger.info("removing unreferenced proxy file \(name)")
            unlink(directory.proxiesURL.appendingPathComponent(name).path)
        }
    }
}

/// Errors of the proxy service that are not about media.
public enum ProxyServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    case jobNotFound(String)
    /// No job (active or recorded) for a source at a quality.
    case noJobForSlot(sourcePath: String, quality: String)
    /// The job was cancelled because a request with other sizing took its slot.
    case replaced(jobId: String, by: String)

    public var description: String {
        switch self {
        case .jobNotFound(let id): return "No proxy job \(id) is known."
        case .noJobForSlot(let path, let quality): return "No \(quality) proxy job is known for \(path)."
        case .replaced(let id, let newID): return "Proxy job \(id) was replaced by job \(newID), which makes the slot's proxy with other sizing."
        }
    }
}
