import Foundation
import Jobs
import Media
import MediaCache

/// Queries and cache management: lookups, uses, stats and `clear` (eviction is `ProxyStore.enforceLimit`).
extension ProxyService {
    /// What is known about `sourcePath` at `quality`: this process's job, another process's job, a record, or a
    /// stale record. When the source was moved, the record found by content is reported under the new path (and
    /// remembered there). A record of a job whose process is gone is settled (marked failed) on the way.
    public func lookup(sourcePath: String, quality: ProxyQuality) async throws -> ProxyLookup {
        try await lookup(sourcePath: sourcePath, quality: quality, fingerprint: fingerprint(path: sourcePath))
    }

    /// `lookup` for a source already fingerprinted.
    func lookup(sourcePath: String, quality: ProxyQuality, fingerprint: SourceFingerprint) async throws -> ProxyLookup {
        let slot = ProxySlot(fingerprintKey: fingerprint.key, quality: quality)
        let job = await queue.activeJob(for: slot)
        return try await BlockingQueue.run { [store] in
            try Self.lookup(slot, sourcePath: sourcePath, fingerprint: fingerprint, job: job, in: store)
        }
    }

    private static func lookup(
        _ slot: ProxySlot, sourcePath: String, fingerprint: SourceFingerprint, job: ProxyJobSnapshot?,
        in store: ProxyStore
    ) throws -> ProxyLookup {
        let catalog = store.catalog
        guard var record = try catalog.record(slot) else {
            if let job {
                return .active(reported(job, on: nil, slot: slot, fingerprint: fingerprint, store: store), job)
            }
            if let old = try catalog.latestRecord(sourcePath: sourcePath, quality: slot.quality) {
                return .stale(old)
            }
            return .none
        }
        if record.sourcePath != sourcePath, let id = record.id {
            // The same content under a new path: the source was moved (or copied); remember where it is now.
            try catalog.updateSourcePath(id: id, to: sourcePath)
        }
        record.sourcePath = sourcePath
        if let job {
            return .active(reported(job, on: record, slot: slot, fingerprint: fingerprint, store: store), job)
        }
        switch record.status {
        case .queued, .generating:
            if try store.janitor.isLive(record) {
                return .active(
                    record,
                    ProxyJobSnapshot(
                        id: record.jobId ?? "", key: slot, label: sourcePath, variant: "", priority: 0,
                        status: record.status == .queued ? .queued : .running,
                        progress: JobProgress(percent: record.progressPercent, message: "in another aura-media process")))
            }
            // Its process is gone: settle it now rather than at the next start.
            try store.janitor.cleanUp(slot)
            guard var settled = try catalog.record(slot) else { return .none }
            settled.sourcePath = sourcePath
            return .record(settled)
        case .completed where fileSize(URL(fileURLWithPath: record.proxyPath)) == nil:
            try catalog.delete(ids: [record.id!])
            return .none
        case .completed where try !store.isCurrent(record, sourcePath: sourcePath):
            // Made before HDR, wide gamut and fields were handled: made again when asked; the source meanwhile.
            return .none
        default:
            return .record(record)
        }
    }

    /// The record to show for this process's job: the slot's record when it is the job's, else the job's plan.
    private static func reported(
        _ job: ProxyJobSnapshot, on record: ProxyRecord?, slot: ProxySlot, fingerprint: SourceFingerprint,
        store: ProxyStore
    ) -> ProxyRecord {
        var shown =
            record
            ?? .planned(
                slot, sourcePath: job.sourcePath, fingerprint: fingerprint,
                proxyPath: store.directory.proxyURL(slot).path, scalePercent: nil, durationSeconds: 0,
                status: job.proxyStatus, jobId: job.id, ownerId: store.lease.id, at: Date())
        if shown.jobId != job.id {
            // Another process's record while this job waits for it: show the job.
            shown.jobId = job.id
            shown.error = nil
        }
        shown.status = job.proxyStatus
        shown.progressPercent = job.progress.percent
        if let count = job.progress.segmentCount {
            shown.segmentCount = count
            shown.segmentsCompleted = job.progress.segmentsCompleted ?? 0
            shown.coverage = job.progress.coverage ?? []
        }
        return shown
    }

    /// Marks a completed proxy as used now (protects it from eviction, and from other processes' `clear`, for a
    /// minute).
    public func markUsed(_ record: ProxyRecord, at path: String) async {
        _ = try? await BlockingQueue.run { [store] in try store.noteUse(of: record, at: path) }
    }

    /// Totals over completed proxies plus this process's job counts.
    public func stats() async throws -> ProxyCacheStats {
        let counts = await queue.counts
        let limit = store.configuration.cacheLimitBytes
        let (completed, parts) = try await BlockingQueue.run { [catalog, store] in
            (try catalog.completedByLeastRecentUse(), try store.segmentUsage())
        }
        var stats = ProxyCacheStats(
            totalProxies: 0, totalCacheSizeBytes: 0, totalSourceSizeBytes: 0, cacheLimitBytes: limit,
            queuedJobs: counts.queued, runningJobs: counts.running,
            byQuality: Dictionary(uniqueKeysWithValues: ProxyQuality.allCases.map { ($0, .init(count: 0, sizeBytes: 0)) }))
        stats.segmentsSizeBytes = parts.values.reduce(0, +)
        for record in completed {
            stats.totalProxies += 1
            stats.totalCacheSizeBytes += record.proxySizeBytes
            stats.totalSourceSizeBytes += record.sourceSizeBytes
            stats.byQuality[record.quality]?.count += 1
            stats.byQuality[record.quality]?.sizeBytes += record.proxySizeBytes
        }
        return stats
    }

    /// Deletes proxies (all, or those of one source path — by path and by its current content) and their
    /// records. Left alone: this process's queued and running jobs, and (counted in `keptInUse`) proxies another
    /// process is generating, has queued, or handed out in the last minute. Only files inside the cache are touched.
    public func clear(sourcePath: String?) async throws -> ClearResult {
        let currentKey = sourcePath == nil ? nil : try? await fingerprint(path: sourcePath!).key
        return try await BlockingQueue.run { [store] in
            try store.clear(
                where: { record in
                    guard let sourcePath else { return true }
                    return record.sourcePath == sourcePath || record.sourceFingerprint == currentKey
                }, strays: sourcePath == nil)
        }
    }
}
