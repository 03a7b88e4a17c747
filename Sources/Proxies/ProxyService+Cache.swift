import Foundation
import Media
import MediaCache

/// Queries and cache management: lookups, uses, stats, `clear` and eviction.
///
/// Deleting anything follows one rule across processes: a slot's files and record are deleted only while
/// holding the slot's `WorkLock` (so never while anyone writes them), never for a slot with a job in this
/// process, and never for a proxy another live process handed out in the last minute.
extension ProxyService {
    /// How long a proxy handed out (resolved, status-checked, reused, completed) is protected from eviction, and
    /// from `clear` by another process.
    static let recentUseWindow: TimeInterval = 60

    /// What is known about `sourcePath` at `preset`: this process's job, another process's job, a record, or a
    /// stale record. When the source was moved, the record found by content is reported under the new path (and
    /// remembered there). A record of a job whose process is gone is settled (marked failed) on the way.
    public func lookup(sourcePath: String, preset: ProxyPreset) async throws -> ProxyLookup {
        let fingerprint = try await fingerprint(path: sourcePath)
        let slot = ProxySlot(fingerprintKey: fingerprint.key, quality: preset)
        guard var record = try catalog.record(fingerprint: slot.fingerprintKey, quality: preset.rawValue) else {
            if let job = activeJob(for: slot) {
                return .active(reported(job.snapshot, on: nil, job: job), job.snapshot)
            }
            if let old = try catalog.latestRecord(sourcePath: sourcePath, quality: preset.rawValue) {
                return .stale(old)
            }
            return .none
        }
        if record.sourcePath != sourcePath, let id = record.id {
            // The same content under a new path: the source was moved (or copied); remember where it is now.
            try catalog.updateSourcePath(id: id, to: sourcePath)
        }
        record.sourcePath = sourcePath
        if let job = activeJob(for: slot) {
            let snapshot = job.snapshot
            return .active(reported(snapshot, on: record, job: job), snapshot)
        }
        switch record.status {
        case .queued, .generating:
            if try janitor.isLive(record) {
                return .active(record, ProxyJobSnapshot(
                    id: record.jobId ?? "", sourcePath: sourcePath, quality: preset, priority: 0, status: record.status,
                    progressPercent: record.progressPercent, message: "in another aura-media process"))
            }
            // Its process is gone: settle it now rather than at the next start.
            _ = try janitor.cleanUp(slot)
            guard var settled = try catalog.record(fingerprint: slot.fingerprintKey, quality: preset.rawValue) else { return .none }
            settled.sourcePath = sourcePath
            return .record(settled)
        case .completed where fileSize(URL(fileURLWithPath: record.proxyPath)) == nil:
            try catalog.delete(ids: [record.id!])
            return .none
        default:
            return .record(record)
        }
    }

    /// The record to show for this process's job: the slot's record when it is the job's, else the job's plan.
    private func reported(_ snapshot: ProxyJobSnapshot, on record: ProxyRecord?, job: ProxyJob) -> ProxyRecord {
        var shown = record ?? ProxyRecord(
            id: nil, sourcePath: job.sourcePath, sourceFingerprint: job.slot.fingerprintKey,
            sourceSizeBytes: job.fingerprint.sizeBytes, sourceModificationTime: job.fingerprint.modificationTime,
            sourceEdgeHash: job.fingerprint.edgeHash, quality: job.slot.quality.rawValue, scalePercent: job.scalePercent,
            proxyPath: directory.proxyURL(job.slot).path, width: 0, height: 0, videoBitRate: job.slot.quality.videoBitRate,
            audioBitRate: nil, durationSeconds: job.sourceDurationSeconds, frameRate: nil, hasAudio: false, videoEncoder: nil,
            proxySizeBytes: 0, status: snapshot.status, progressPercent: 0, error: nil, createdAt: job.enqueuedAt,
            lastAccessedAt: job.enqueuedAt, jobId: job.id, ownerId: lease.id)
        if shown.jobId != job.id {
            // Another process's record while this job waits for it: show the job.
            shown.jobId = job.id
            shown.scalePercent = job.scalePercent
            shown.error = nil
        }
        shown.status = snapshot.status
        shown.progressPercent = snapshot.progressPercent
        return shown
    }

    /// Marks a completed proxy as used now (protects it from eviction, and from other processes' `clear`, for a
    /// minute).
    public func markUsed(_ record: ProxyRecord, at path: String) {
        try? noteUse(of: record, at: path)
    }

    /// Records a use of a completed proxy: its `lastAccessedAt` and the path it was reached by, and which process
    /// handed it out.
    func noteUse(of record: ProxyRecord, at path: String) throws {
        guard let id = record.id else { return }
        let now = Date()
        try catalog.touch(id: id, sourcePath: path, at: now)
        try catalog.recordUse(of: record.slot, by: lease.id, at: now)
    }

    /// Totals over completed proxies plus this process's job counts.
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

    /// Applies new limits: a lower cache limit evicts at once; a higher concurrency starts queued jobs.
    public func reconfigure(_ configuration: ProxyServiceConfiguration) {
        self.configuration = configuration
        enforceLimit()
        startJobsIfPossible()
    }

    // MARK: - Clearing

    /// Deletes proxies (all, or those of one source path — by path and by its current content) and their
    /// records. Left alone: slots with a job in this process, and (counted in `keptInUse`) proxies another
    /// process is generating or handed out in the last minute. Only files inside the cache are touched.
    public func clear(sourcePath: String?) async throws -> ClearResult {
        var currentKey: String?
        if let sourcePath {
            currentKey = try? await fingerprint(path: sourcePath).key
        }
        var result = ClearResult()
        let recentSince = Date().addingTimeInterval(-Self.recentUseWindow)
        for listed in try catalog.allRecords() {
            if let sourcePath, listed.sourcePath != sourcePath && listed.sourceFingerprint != currentKey { continue }
            let slot = listed.slot
            guard activeJob(for: slot) == nil else { continue }
            guard let lock = try WorkLock.tryAcquire(slot.lockName, in: directory) else {
                result.keptInUse += 1  // Another process is writing it.
                continue
            }
            defer { lock.release() }
            guard let record = try catalog.record(id: listed.id!) else { continue }
            if record.status == .queued, try janitor.ownerIsAlive(record) {
                result.keptInUse += 1  // Queued by another live process.
                continue
            }
            if record.status == .completed, try usedElsewhere(slot, since: recentSince) {
                result.keptInUse += 1
                continue
            }
            if let size = directory.removeFile(named: URL(fileURLWithPath: record.proxyPath).lastPathComponent,
                                               inArea: CacheDirectory.proxiesArea) {
                result.deletedFiles += 1
                result.freedBytes += size
            }
            try catalog.delete(ids: [record.id!])
        }
        if sourcePath == nil {
            // Stray files (a partial file of a crashed job, an unreferenced proxy) go too, when nobody writes them.
            let removed = try janitor.removeStrayFiles(sparing: Set(jobsBySlot.keys))
            result.deletedFiles += removed.files
            result.freedBytes += removed.bytes
        }
        logger.info("cleared \(result.deletedFiles) proxy files (\(result.freedBytes) bytes), kept \(result.keptInUse) in use elsewhere")
        return result
    }

    /// Whether a live process other than this one handed out the slot's proxy since `date`.
    private func usedElsewhere(_ slot: ProxySlot, since date: Date) throws -> Bool {
        try catalog.users(of: slot, since: date, excluding: lease.id).contains { try ProcessLease.isAlive($0, in: directory) }
    }

    // MARK: - Eviction

    /// Evicts least-recently-used completed proxies while the cache is over its limit, down to 90 % of it.
    /// Never evicts a proxy being generated (here or in another process) or one used in the last minute.
    func enforceLimit() {
        do {
            let completed = try catalog.completedByLeastRecentUse()
            var total = completed.reduce(Int64(0)) { $0 + $1.proxySizeBytes }
            guard total > configuration.cacheLimitBytes else { return }
            let target = configuration.cacheLimitBytes / 10 * 9
            let protectedSince = Date().addingTimeInterval(-Self.recentUseWindow)
            var evicted = 0
            for listed in completed where total > target {
                guard listed.lastAccessedAt < protectedSince, activeJob(for: listed.slot) == nil,
                      let lock = try WorkLock.tryAcquire(listed.slot.lockName, in: directory) else { continue }
                defer { lock.release() }
                // Looked at again under the lock: another process may have used or replaced it meanwhile.
                guard let record = try catalog.record(id: listed.id!), record.status == .completed,
                      record.jobId == listed.jobId, record.lastAccessedAt < protectedSince else { continue }
                directory.removeFile(named: URL(fileURLWithPath: record.proxyPath).lastPathComponent, inArea: CacheDirectory.proxiesArea)
                try catalog.delete(ids: [record.id!])
                total -= record.proxySizeBytes
                evicted += 1
                logger.info("evicted \(record.quality) proxy of \(record.sourcePath) (\(record.proxySizeBytes) bytes)")
            }
            if evicted > 0 {
                observer.notice("evicted \(evicted) least recently used proxies to keep the cache under its limit of \(configuration.cacheLimitBytes) bytes")
            }
            if total > configuration.cacheLimitBytes {
                observer.warning("the proxy cache holds \(total) bytes, over its limit of \(configuration.cacheLimitBytes): the remaining proxies are in use")
            }
        } catch {
            logger.error("cache limit enforcement failed: \(error)")
        }
    }
}
