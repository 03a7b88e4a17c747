import Foundation
import Logging
import Media
import MediaCache

/// Proxy generation, catalogue and cache for one cache directory.
///
/// An actor: the queue, the running set and the waiters are its state. Transcoding runs on one dedicated
/// thread per job (never on the concurrency pool), which reports progress through the job's mutex and
/// finishes by calling back into the actor.
///
/// Several processes may share the cache directory (two editor windows, a server and the CLI). Each service
/// holds a `ProcessLease` there, and a job holds its slot's `WorkLock` from the moment it starts until its
/// record says how it ended; a job whose slot another process holds waits (without using a worker) and then
/// reuses that process's proxy instead of making it again. Cleanup (`ProxyCacheJanitor`), eviction and `clear`
/// only touch slots whose lock they can take and records whose owner is gone.
///
/// Invariants:
/// - At most one job per slot (source content, quality) in a process, and one writer per slot across processes.
/// - A record is `completed` only after its file was written completely and renamed into place.
/// - Partial files live under `*.partial.mp4` names and are removed on failure, cancellation and shutdown, and
///   by whoever next finds their slot's lock free.
public actor ProxyService {
    public nonisolated let directory: CacheDirectory
    nonisolated let catalog: ProxyCatalog
    /// This service's sign of life in the cache; the records of its jobs carry its id.
    nonisolated let lease: ProcessLease
    nonisolated let janitor: ProxyCacheJanitor
    private nonisolated let fingerprints = FingerprintCache()
    let observer: ProxyJobObserver
    let logger: Logger
    var configuration: ProxyServiceConfiguration

    private var jobs: [String: ProxyJob] = [:]
    var jobsBySlot: [ProxySlot: String] = [:]
    var queue: [ProxyJob] = []
    var running: [String: Thread] = [:]
    /// The slot locks of running jobs, by job id.
    private var slotLocks: [String: WorkLock] = [:]
    private var waiters: [String: [UUID: CheckedContinuation<ProxyRecord, Error>]] = [:]
    private var finished: [String: CheckedContinuation<Void, Never>] = [:]
    /// How every job that ended in this session ended (their records may since have been replaced).
    private var endedJobs: [String: ProxyJobOutcome] = [:]
    private var nextSequence = 0
    private var isShutDown = false
    /// Wakes the queue while jobs wait for slots other processes hold.
    private var retryTask: Task<Void, Never>?

    /// How often a job waiting for another process's slot looks again.
    static let waitPollInterval = Duration.milliseconds(250)

    /// Opens the cache in `directory` (created 0700 when missing), takes a lease in it, and cleans up what
    /// processes that are gone left behind (`ProxyCacheJanitor.cleanUpAtStart`).
    public init(directoryPath: String, configuration: ProxyServiceConfiguration, observer: ProxyJobObserver,
                logger: Logger) throws {
        directory = try CacheDirectory.prepareProxyCache(path: directoryPath)
        lease = try ProcessLease.take(in: directory)
        catalog = try ProxyCatalog(cache: directory)
        janitor = ProxyCacheJanitor(directory: directory, catalog: catalog, logger: logger)
        self.configuration = configuration
        self.observer = observer
        self.logger = logger
        try janitor.cleanUpAtStart()
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
        guard !isShutDown else { throw MediaError.cancelled }
        let slot = ProxySlot(fingerprintKey: fingerprint.key, quality: request.preset)

        if let jobID = jobsBySlot[slot], let job = jobs[jobID] {
            guard job.scalePercent == request.scalePercent else {
                // Other sizing: the slot holds one proxy, so the new request wins.
                return try enqueue(request, slot: slot, fingerprint: fingerprint, info: info, replacing: job)
            }
            if job.raisePriority(to: request.priority), job.status == .queued { sortQueue() }
            if request.background { job.markWantedInBackground() }
            return ticket(for: job, joined: true)
        }
        if !request.overwrite, var record = try catalog.record(fingerprint: slot.fingerprintKey, quality: slot.quality.rawValue),
           record.status == .completed, record.scalePercent == request.scalePercent,
           fileSize(URL(fileURLWithPath: record.proxyPath)) == record.proxySizeBytes {
            try noteUse(of: record, at: path)
            record.sourcePath = path
            record.lastAccessedAt = Date()
            return ProxyTicket(jobId: record.jobId ?? "", status: .completed, sourcePath: path, quality: request.preset,
                               progressPercent: 100, joined: false, record: record)
        }
        return try enqueue(request, slot: slot, fingerprint: fingerprint, info: info, replacing: nil)
    }

    private func enqueue(_ request: ProxyRequest, slot: ProxySlot, fingerprint: SourceFingerprint, info: MediaInfo,
                         replacing: ProxyJob?) throws -> ProxyTicket {
        let jobID = Self.makeJobID()
        let current = try catalog.record(fingerprint: slot.fingerprintKey, quality: slot.quality.rawValue)
        nextSequence += 1
        let job = ProxyJob(id: jobID, slot: slot, sourcePath: request.sourcePath, fingerprint: fingerprint,
                           scalePercent: request.scalePercent, priority: request.priority, sequence: nextSequence,
                           background: request.background, overwrite: request.overwrite,
                           supersedesJobId: request.overwrite ? current?.jobId : nil,
                           sourceDurationSeconds: info.durationSeconds ?? 0)
        // The slot's record says "queued" from now on, unless a job (another process's, or the one being
        // replaced) holds the slot: its record stays until this job takes the slot over when it starts.
        if let lock = try WorkLock.tryAcquire(slot.lockName, in: directory) {
            defer { lock.release() }
            try catalog.replace(plannedRecord(for: job, status: .queued))
        }
        jobs[jobID] = job
        jobsBySlot[slot] = jobID
        if let replacing {
            logger.info("job \(jobID) replaces job \(replacing.id) (other sizing)")
            replacing.replace(by: jobID)
            cancel(replacing)
        }
        queue.append(job)
        sortQueue()
        observer.jobQueued(job.snapshot)
        startJobsIfPossible()
        return ticket(for: job, joined: false)
    }

    /// The record a job writes before its proxy exists: planned facts, sizes 0.
    private func plannedRecord(for job: ProxyJob, status: ProxyStatus) -> ProxyRecord {
        ProxyRecord(
            id: nil, sourcePath: job.sourcePath, sourceFingerprint: job.slot.fingerprintKey,
            sourceSizeBytes: job.fingerprint.sizeBytes, sourceModificationTime: job.fingerprint.modificationTime,
            sourceEdgeHash: job.fingerprint.edgeHash, quality: job.slot.quality.rawValue, scalePercent: job.scalePercent,
            proxyPath: directory.proxyURL(job.slot).path, width: 0, height: 0, videoBitRate: job.slot.quality.videoBitRate,
            audioBitRate: nil, durationSeconds: job.sourceDurationSeconds, frameRate: nil, hasAudio: false,
            videoEncoder: nil, proxySizeBytes: 0, status: status, progressPercent: 0, error: nil,
            createdAt: job.enqueuedAt, lastAccessedAt: job.enqueuedAt, jobId: job.id, ownerId: lease.id)
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

    /// Cancels this process's active job for a source and quality; nil when there is none.
    public func cancel(sourcePath: String, preset: ProxyPreset) async throws -> ProxyJobSnapshot? {
        let fingerprint = try await fingerprint(path: sourcePath)
        guard let jobID = jobsBySlot[ProxySlot(fingerprintKey: fingerprint.key, quality: preset)] else { return nil }
        return cancel(jobId: jobID)
    }

    private func cancel(_ job: ProxyJob) {
        job.cancel()
        if let index = queue.firstIndex(where: { $0.id == job.id }) {
            queue.remove(at: index)
            finish(job, result: .failure(MediaError.cancelled))
            startJobsIfPossible()
        }
        // A running job notices the flag between packets and finishes through `finish`.
    }

    private func sortQueue() {
        queue.sort { ($0.priority, -$0.sequence) > ($1.priority, -$1.sequence) }
    }

    // MARK: - Scheduling

    /// Starts queued jobs, highest priority first, while workers are free. A job whose slot is held elsewhere
    /// stays queued without taking a worker (the jobs behind it go ahead) and is looked at again shortly.
    func startJobsIfPossible() {
        guard !isShutDown else { return }
        var index = 0
        var waitingElsewhere = false
        while running.count < configuration.maxConcurrentJobs && index < queue.count {
            let job = queue[index]
            let lock: WorkLock?
            do {
                lock = try WorkLock.tryAcquire(job.slot.lockName, in: directory)
            } catch {
                queue.remove(at: index)
                finish(job, result: .failure(error))
                continue
            }
            guard let lock else {
                // This process's own earlier job of the slot (one being replaced) ends soon and starts the queue
                // again; another process's is polled.
                if !running.keys.contains(where: { jobs[$0]?.slot == job.slot }) {
                    noteWaitingElsewhere(job)
                    waitingElsewhere = true
                }
                index += 1
                continue
            }
            queue.remove(at: index)
            start(job, holding: lock)
        }
        if waitingElsewhere || queue.contains(where: \.isWaitingElsewhere) { scheduleRetry() }
    }

    private func scheduleRetry() {
        guard retryTask == nil else { return }
        retryTask = Task { [weak self] in
            try? await Task.sleep(for: Self.waitPollInterval)
            await self?.retryWaitingJobs()
        }
    }

    private func retryWaitingJobs() {
        retryTask = nil
        startJobsIfPossible()
    }

    /// Shows the progress of the process that holds a queued job's slot as the job's own.
    private func noteWaitingElsewhere(_ job: ProxyJob) {
        let record = try? catalog.record(fingerprint: job.slot.fingerprintKey, quality: job.slot.quality.rawValue)
        let percent = record.flatMap { $0.status == .generating && $0.jobId != job.id ? $0.progressPercent : nil } ?? 0
        let message = "another aura-media process is generating this proxy (\(Int(percent))%)"
        if job.recordElsewhere(percent: percent, message: message) {
            observer.jobProgressed(job.snapshot)
        }
    }

    /// Starts a job that holds its slot's lock: reuses a proxy another process made meanwhile, or takes the
    /// slot's record over and transcodes on a thread of its own.
    private func start(_ job: ProxyJob, holding lock: WorkLock) {
        do {
            if let made = try proxyMadeElsewhere(for: job) {
                logger.info("job \(job.id) reuses the proxy made by job \(made.jobId ?? "?") of another process")
                lock.release()
                finish(job, result: .success(made))
                return
            }
            // Take the slot over: what a process that died while generating it left goes, and its record becomes
            // the job's (the job's own queued record, or whatever was there).
            janitor.removePartialFiles(of: job.slot, keeping: job.id)
            var record = try catalog.record(jobId: job.id) ?? plannedRecord(for: job, status: .generating)
            record.status = .generating
            try catalog.replace(record)
        } catch {
            lock.release()
            finish(job, result: .failure(error))
            return
        }
        slotLocks[job.id] = lock
        job.setStatus(.generating)
        let partial = directory.partialURL(job.slot, jobID: job.id)
        let settings = ProxyEncodingSettings(
            target: job.scalePercent.map { .scalePercent($0) } ?? .box(width: job.slot.quality.width, height: job.slot.quality.height),
            videoBitRate: job.slot.quality.videoBitRate, audioBitRate: ProxyPreset.audioBitRate,
            hardwareAcceleration: configuration.hardwareAcceleration)
        let observer = self.observer
        let catalog = self.catalog
        let recordID = try? catalog.record(jobId: job.id)?.id
        observer.jobProgressed(job.snapshot)
        let thread = Thread { [weak self] in
            let transcoder = ProxyTranscoder(sourcePath: job.sourcePath, outputPath: partial.path, settings: settings)
            var lastShared = Date.distantPast
            let result = Result {
                try transcoder.run(
                    progress: { progress in
                        job.record(progress)
                        observer.jobProgressed(job.snapshot)
                        // Other processes show this job's progress from its record: about once a second.
                        if let recordID, Date().timeIntervalSince(lastShared) >= 1 {
                            lastShared = Date()
                            try? catalog.updateProgress(id: recordID, jobId: job.id, percent: progress.percent)
                        }
                    },
                    isCancelled: { job.isCancelled })
            }
            Task { await self?.transcodeEnded(job, partial: partial, result: result) }
        }
        thread.name = "aura.proxy.\(job.id)"
        thread.stackSize = 8 << 20
        running[job.id] = thread
        logger.info("generating \(job.slot.quality.rawValue) proxy of \(job.sourcePath) (job \(job.id))")
        thread.start()
    }

    /// A completed proxy of the job's slot that another process made while the job waited, when it fits the
    /// request (same sizing; for `overwrite`, made by a job that started after the request).
    private func proxyMadeElsewhere(for job: ProxyJob) throws -> ProxyRecord? {
        guard var record = try catalog.record(fingerprint: job.slot.fingerprintKey, quality: job.slot.quality.rawValue),
              record.status == .completed, record.jobId != job.id, record.scalePercent == job.scalePercent,
              fileSize(URL(fileURLWithPath: record.proxyPath)) == record.proxySizeBytes else { return nil }
        if job.overwrite && (record.jobId == nil || record.jobId == job.supersedesJobId) { return nil }
        try noteUse(of: record, at: job.sourcePath)
        record.sourcePath = job.sourcePath
        record.lastAccessedAt = Date()
        return record
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
        // The record says how the job ended: the slot is free for others.
        slotLocks.removeValue(forKey: job.id)?.release()
        if let waiter = finished.removeValue(forKey: job.id) { waiter.resume() }
        startJobsIfPossible()
    }

    /// Moves a finished partial file into place and records it as completed.
    private func install(_ job: ProxyJob, partial: URL, transcode: TranscodeResult) throws -> ProxyRecord {
        let final = directory.proxyURL(job.slot)
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
        var record = try catalog.record(jobId: job.id) ?? {
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
        guard try catalog.update(record, ifJobId: job.id) else {
            throw MediaError.ioFailure(path: final.path, reason: "its catalogue record was taken over")
        }
        return record
    }

    /// Records a job's outcome, wakes its waiters and tells the observer. Used for every ending.
    private func finish(_ job: ProxyJob, result: Result<ProxyRecord, Error>) {
        jobs.removeValue(forKey: job.id)
        if jobsBySlot[job.slot] == job.id { jobsBySlot.removeValue(forKey: job.slot) }
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
            recordEnding(of: job, cancelled: cancelled, error: mediaError)
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

    /// Marks the job's record (if the slot's record is still the job's) failed or cancelled. A proxy file the
    /// record used to describe (an `overwrite` that did not finish) is deleted: it must not outlive a record that
    /// no longer says completed.
    private func recordEnding(of job: ProxyJob, cancelled: Bool, error: MediaError) {
        do {
            guard var record = try catalog.record(jobId: job.id) else { return }
            record.status = cancelled ? .cancelled : .failed
            record.error = cancelled ? nil : error.description
            guard try catalog.update(record, ifJobId: job.id), jobsBySlot[job.slot] == nil else { return }
            let ownLock = slotLocks[job.id]
            let lock = ownLock == nil ? try WorkLock.tryAcquire(job.slot.lockName, in: directory) : nil
            defer { lock?.release() }
            if ownLock != nil || lock != nil {
                directory.removeFile(named: job.slot.fileName, inArea: CacheDirectory.proxiesArea)
            }
        } catch {
            logger.error("catalogue update failed: \(error)")
        }
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

    private func ticket(for job: ProxyJob, joined: Bool) -> ProxyTicket {
        let snapshot = job.snapshot
        return ProxyTicket(jobId: job.id, status: snapshot.status, sourcePath: job.sourcePath, quality: job.slot.quality,
                           progressPercent: snapshot.progressPercent, joined: joined, record: nil)
    }

    // MARK: - Jobs

    /// This process's active job for a slot.
    func activeJob(for slot: ProxySlot) -> ProxyJob? {
        jobsBySlot[slot].flatMap { jobs[$0] }
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

    /// Queued plus running jobs.
    public var activeJobCount: Int { jobs.count }

    // MARK: - Shutdown

    /// Cancels every job, waits for running transcodes to stop and their partial files to be removed, and
    /// gives up the lease. Files of other processes are left alone.
    public func shutdown() async {
        isShutDown = true
        retryTask?.cancel()
        retryTask = nil
        for job in queue { cancel(job) }
        let runningIDs = Array(running.keys)
        for id in runningIDs { jobs[id]?.cancel() }
        for id in runningIDs where running[id] != nil {
            await withCheckedContinuation { continuation in finished[id] = continuation }
        }
        for name in directory.proxyFileNames() {
            if let jobID = ProxySlot.parse(fileName: name)?.partialOfJob, endedJobs[jobID] != nil {
                directory.removeFile(named: name, inArea: CacheDirectory.proxiesArea)
            }
        }
        lease.release()
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
}
