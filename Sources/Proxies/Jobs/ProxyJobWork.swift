import FileErrors
import Foundation
import Jobs
import Locking
import Media
import MediaCache

/// What one proxy job does, in the steps the `JobQueue` runs:
///
/// 1. `prepare` (when queued): the slot's record says "queued" — unless a job holds the slot (another process's,
///    or the one this job replaces), whose record stays until this job takes the slot over.
/// 2. `claim`: the slot's `WorkLock`, held from the start to the final record. While another process holds it
///    the job waits without a worker, showing that process's progress (`progressElsewhere`), and now and then
///    claims a worker to help it instead (`help`): it makes the parts that process has not taken yet, then gives
///    the worker back (`JobYielded`) and waits again, resting `helperRest` when it found nothing to take.
/// 3. `run`, on the job's thread: reuse the proxy another process made meanwhile, or take the slot over (its
///    record and any partial file a dead process left), transcode into a partial file, and at the point of no
///    return move it into place, fsync, record it completed, and enforce the cache limit.
/// 4. `endedWithoutRunning`: a job cancelled while queued marks its queued record cancelled.
final class ProxyJobWork: Sendable {
    let store: ProxyStore
    let slot: ProxySlot
    let request: ProxyRequest
    let fingerprint: SourceFingerprint
    let sourceDurationSeconds: Double
    let enqueuedAt = Date()
    /// The time the user looks at in the source, read before each segment (`ProxySegmentBuild.ordered`).
    let playhead: @Sendable () -> Double?
    /// For `overwrite`: the job whose proxy (finished or in the making) the request wants replaced, as found when
    /// the job was queued. A proxy made by that job is not reused; one made by any later job is.
    private let supersedes = Mutex<String?>(nil)
    /// What the last claim granted: the slot's lock (the job owns the slot) or a turn at helping its owner; and when
    /// the job may next try to help. Written by `claim`, read by `run` on the job's thread.
    private let turn = Mutex<(helping: Bool, restUntil: Date)>((false, .distantPast))

    /// How long a job that found nothing to help with waits before it looks again.
    static let helperRest: TimeInterval = 2

    init(
        store: ProxyStore, slot: ProxySlot, request: ProxyRequest, fingerprint: SourceFingerprint, sourceDurationSeconds: Double,
        playhead: @escaping @Sendable () -> Double?
    ) {
        self.playhead = playhead
        self.store = store
        self.slot = slot
        self.request = request
        self.fingerprint = fingerprint
        self.sourceDurationSeconds = sourceDurationSeconds
    }

    var jobWork: JobWork<ProxyRecord> {
        JobWork(
            prepare: prepare,
            claim: claim,
            progressElsewhere: progressElsewhere, run: run, endedWithoutRunning: endedWithoutRunning)
    }

    /// The record a job writes before its proxy exists: planned facts, sizes 0.
    func plannedRecord(jobId: String, status: ProxyStatus) -> ProxyRecord {
        .planned(
            slot, sourcePath: request.sourcePath, fingerprint: fingerprint, proxyPath: store.directory.proxyURL(slot).path,
            scalePercent: request.scalePercent, durationSeconds: sourceDurationSeconds, status: status, jobId: jobId,
            ownerId: store.lease.id, at: enqueuedAt)
    }

    // MARK: - Steps

    /// The slot's lock; else, unless the job replaces a proxy (`overwrite` makes it from scratch) or rests, a turn at
    /// helping whoever holds it.
    private func claim() throws -> (any JobClaim)? {
        if let lock = try WorkLock.tryAcquire(slot.lockName, in: store.directory) {
            turn.withLock { $0.helping = false }
            return ReleasingClaim { lock.release() }
        }
        let helping = turn.withLock { turn in
            turn.helping = !request.overwrite && Date() >= turn.restUntil
            return turn.helping
        }
        return helping ? NoClaim() : nil
    }

    private func prepare(jobId: String) throws {
        let current = try store.catalog.record(slot)
        supersedes.withLock { $0 = request.overwrite ? current?.jobId : nil }
        guard let lock = try WorkLock.tryAcquire(slot.lockName, in: store.directory) else { return }
        defer { lock.release() }
        if try store.catalog.record(slot)?.jobId != jobId {
            try store.catalog.replace(plannedRecord(jobId: jobId, status: .queued))
        }
    }

    private func progressElsewhere(jobId: String) -> JobProgress? {
        guard let record = try? store.catalog.record(slot),
            record.status == .generating, record.jobId != jobId
        else { return nil }
        if record.ownerId == store.lease.id {
            return JobProgress(percent: 0, message: "waiting for job \(record.jobId ?? "?") to stop")
        }
        return JobProgress(
            percent: record.progressPercent,
            message: "another aura-media process is generating this proxy (\(Int(record.progressPercent))%)")
    }

    private func endedWithoutRunning(jobId: String, outcome: JobOutcome<ProxyRecord>) {
        switch outcome {
        case .completed: return
        case .failed(let error):
            store.recordEnding(
                of: jobId, slot: slot, cancelled: false, error: MediaError(describing: error, path: request.sourcePath),
                holdingLock: false)
        case .cancelled, .replaced: store.recordEnding(of: jobId, slot: slot, cancelled: true, error: nil, holdingLock: false)
        }
    }

    /// Runs on the job's thread, holding the slot's lock (or helping its holder).
    private func run(_ context: JobContext) throws -> ProxyRecord {
        if turn.withLock({ $0.helping }) { try help(context) }
        if let made = try proxyMadeElsewhere(jobId: context.id) {
            store.logger.info("job \(context.id) reuses the proxy made by job \(made.jobId ?? "?")")
            return made
        }
        // Take the slot over: what a process that died while generating it left goes, and its record becomes the
        // job's (the job's own queued record, or whatever was there).
        store.janitor.removePartialFiles(of: slot, keeping: context.id)
        var record = try store.catalog.record(jobId: context.id) ?? plannedRecord(jobId: context.id, status: .generating)
        record.status = .generating
        record.ownerId = store.lease.id
        record = try store.catalog.replace(record)

        let partial = store.directory.partialURL(slot, jobId: context.id)
        do {
            let (transcode, build) = try transcode(into: partial, recordId: record.id!, context: context)
            // The point of no return: a cancellation accepted before it wins over the finished file.
            let made = try context.commit { try install(partial, transcode: transcode, jobId: context.id) }
            if build.resumedSegments > 0 {
                store.logger.info("job \(context.id) reused \(build.resumedSegments) segments made before")
            }
            return made
        } catch {
            store.area.removeFile(named: partial.lastPathComponent)
            // Every failure leaves as a `MediaError` (a cache file error under its media name), so the job's outcome
            // and its record say the same.
            let failure = MediaError(describing: error, path: request.sourcePath)
            let cancelled = error is JobCancelled || failure == .cancelled
            store.recordEnding(of: context.id, slot: slot, cancelled: cancelled, error: cancelled ? nil : failure, holdingLock: true)
            store.logger.info("job \(context.id) \(cancelled ? "cancelled" : "failed: \(failure)")")
            throw cancelled ? JobCancelled() : failure
        }
    }

    /// Makes parts of the slot's proxy beside the process that holds the slot (`ProxySegmentBuild.help`), then gives
    /// the worker back: always throws, `JobYielded` or `JobCancelled`. A failure to help is logged, not the job's:
    /// the owner meets it too, or the job meets it once it claims the slot.
    private func help(_ context: JobContext) throws -> Never {
        var made = 0
        do {
            if try proxyMadeElsewhere(jobId: context.id) == nil, let record = try store.catalog.record(slot),
                record.status == .generating, record.ownerId != store.lease.id, record.scalePercent == request.scalePercent
            {
                let build = ProxySegmentBuild(
                    store: store, slot: slot, request: request, fingerprint: fingerprint,
                    settings: Self.settings(for: request, configuration: store.configuration), context: context, recordId: nil,
                    role: .helper, playhead: playhead)
                made = try build.help()
                if made > 0 { store.logger.info("job \(context.id) made \(made) parts of the proxy of \(request.sourcePath) for another process") }
            }
        } catch {
            if error is JobCancelled || context.isCancelled { throw JobCancelled() }
            store.logger.warning("job \(context.id) stopped helping with the proxy of \(request.sourcePath): \(error)")
        }
        turn.withLock { $0.restUntil = made > 0 ? .distantPast : Date().addingTimeInterval(Self.helperRest) }
        throw JobYielded()
    }

    /// A completed proxy of the slot that another process made while the job waited, when it fits the request
    /// (same sizing; for `overwrite`, made by a job that started after the request).
    private func proxyMadeElsewhere(jobId: String) throws -> ProxyRecord? {
        guard let record = try store.reusableProxy(for: slot, scalePercent: request.scalePercent, at: request.sourcePath),
            record.jobId != jobId
        else { return nil }
        if request.overwrite && (record.jobId == nil || record.jobId == supersedes.withLock({ $0 })) { return nil }
        return record
    }

    /// What a proxy of `request` is encoded with.
    static func settings(for request: ProxyRequest, configuration: ProxyServiceConfiguration) -> TranscodeSettings {
        ProxyService.transcodeSettings(
            quality: request.quality, scalePercent: request.scalePercent, hardwareAcceleration: configuration.hardwareAcceleration)
    }

    /// Makes the proxy from its segments (`ProxySegmentBuild`), joined into `partial`.
    private func transcode(into partial: URL, recordId: Int64?, context: JobContext) throws -> (TranscodeResult, ProxySegmentBuild) {
        let settings = Self.settings(for: request, configuration: store.configuration)
        store.logger.info("generating \(slot.quality.rawValue) proxy of \(request.sourcePath) (job \(context.id))")
        let build = ProxySegmentBuild(
            store: store, slot: slot, request: request, fingerprint: fingerprint, settings: settings, context: context,
            recordId: recordId, playhead: playhead)
        return (try build.run(joiningInto: partial), build)
    }

    /// Moves a finished partial file into place, records it completed and brings the cache back under its limit,
    /// all before the outcome is announced.
    private func install(_ partial: URL, transcode: TranscodeResult, jobId: String) throws -> ProxyRecord {
        let final = store.directory.proxyURL(slot)
        // The source must still be what was transcoded; a proxy of half-old, half-new content is worthless.
        guard try SourceFingerprint.of(path: request.sourcePath) == fingerprint else {
            throw MediaError.corrupt(path: request.sourcePath, reason: "the source changed while its proxy was being generated")
        }
        try MediaError.mapping { () throws(FileError) in try DurableFile.install(partial, as: final) }
        var record =
            try store.catalog.record(jobId: jobId)
            ?? {
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
        record.toneMapped = transcode.toneMapped
        record.deinterlaced = transcode.deinterlaced
        record.pictureVersion = Transcoder.pictureVersion
        record.proxySizeBytes = fileSize(final) ?? 0
        record.segmentsCompleted = record.segmentCount
        record.coverage = [[0, (Double(transcode.frameCount) / transcode.frameRate * 1000).rounded() / 1000]]
        record.error = nil
        record.lastAccessedAt = Date()
        guard try store.catalog.update(record, ifJobId: jobId) else {
            throw MediaError.ioFailure(path: final.path, reason: "its catalogue record was taken over")
        }
        // The proxy is whole: its segments are no longer needed (and no longer count against the limit).
        store.removeSegments(of: slot)
        store.enforceLimit()
        return record
    }
}
