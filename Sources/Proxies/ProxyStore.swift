import Foundation
import Locking
import Logging
import Media
import MediaCache

/// The proxy cache on disk: its directory, catalogue and lease, and every rule for changing them.
///
/// Synchronous and blocking (SQLite, fsync, file system): called from job threads and from `BlockingQueue`,
/// never from an actor's executor. Safe from any thread: the catalogue serialises its own access and the
/// configuration is behind a mutex.
///
/// Cross-process rule: a slot's record is created, replaced or deleted, and its files written or deleted, only by
/// whoever holds the slot's `WorkLock`; a job changes its record only while the record still names the job.
final class ProxyStore: Sendable {
    /// The `proxies/` area: prepare, lease and deletion (the start-up sweep is the janitor's: it follows the catalogue).
    let area: CacheArea
    var directory: CacheDirectory { area.directory }
    let catalog: ProxyCatalog
    /// This process's sign of life in the cache; the records of its jobs carry its id.
    var lease: ProcessLease { area.lease }
    let janitor: ProxyCacheJanitor
    let observer: ProxyJobObserver
    let logger: Logger
    private let settings: Mutex<ProxyServiceConfiguration>

    /// How long a proxy handed out (resolved, status-checked, reused, completed) is protected from eviction, and
    /// from `clear` by another process.
    static let recentUseWindow: TimeInterval = 60

    init(directoryPath: String, configuration: ProxyServiceConfiguration, observer: ProxyJobObserver, logger: Logger) throws {
        area = try CacheArea(cachePath: directoryPath, name: CacheDirectory.proxiesArea)
        catalog = try ProxyCatalog(cache: area.directory)
        janitor = ProxyCacheJanitor(area: area, catalog: catalog, logger: logger)
        self.observer = observer
        self.logger = logger
        settings = Mutex(configuration)
    }

    var configuration: ProxyServiceConfiguration {
        get { settings.withLock { $0 } }
        set { settings.withLock { $0 = newValue } }
    }

    // MARK: - Records

    /// The slot's completed proxy when it can answer a request of this sizing (its file is whole), noted as used.
    func reusableProxy(for slot: ProxySlot, scalePercent: Int?, at path: String) throws -> ProxyRecord? {
        guard var record = try catalog.record(slot),
            record.status == .completed, record.scalePercent == scalePercent,
            fileSize(URL(fileURLWithPath: record.proxyPath)) == record.proxySizeBytes,
            try isCurrent(record, sourcePath: path)
        else { return nil }
        try noteUse(of: record, at: path)
        record.sourcePath = path
        record.lastAccessedAt = Date()
        return record
    }

    /// Whether a completed proxy is what this version makes of its source. One made by an earlier version that lacks
    /// what this one makes of the source (`Transcoder.isOutdated`: processed pictures of an HDR, wide-gamut or
    /// interlaced source, the tracks of a source with several audio streams) is not: it is made again, and meanwhile
    /// the source is used. The verdict is recorded (`outdatedPictureVersion`, or the current version), so each old
    /// proxy's source is read once, not at every lookup. A source that cannot be read keeps its proxy.
    func isCurrent(_ record: ProxyRecord, sourcePath: String) throws -> Bool {
        if record.pictureVersion == Self.outdatedPictureVersion { return false }
        guard (record.pictureVersion ?? 0) < Transcoder.pictureVersion, let id = record.id else { return true }
        guard let outdated = try? Transcoder.isOutdated(proxyVersion: record.pictureVersion, of: sourcePath) else { return true }
        try catalog.recordPictureVersion(id: id, outdated ? Self.outdatedPictureVersion : Transcoder.pictureVersion)
        return !outdated
    }

    /// The `pictureVersion` recorded for a proxy made by an earlier version that lacks what this one makes.
    static let outdatedPictureVersion = 0

    /// Records a use of a completed proxy: its `lastAccessedAt` and the path it was reached by, and which process
    /// handed it out.
    func noteUse(of record: ProxyRecord, at path: String) throws {
        guard let id = record.id else { return }
        let now = Date()
        try catalog.touch(id: id, sourcePath: path, at: now)
        try catalog.recordUse(of: record.slot, by: lease.id, at: now)
    }

    /// Marks job `jobId`'s record (if the slot's record is still the job's) failed or cancelled. A proxy file the
    /// record used to describe (an `overwrite` that did not finish) is deleted when the slot can be locked (or
    /// `holdingLock`): it must not outlive a record that no longer says completed.
    func recordEnding(of jobId: String, slot: ProxySlot, cancelled: Bool, error: MediaError?, holdingLock: Bool) {
        do {
            guard var record = try catalog.record(jobId: jobId) else { return }
            record.status = cancelled ? .cancelled : .failed
            record.error = cancelled ? nil : error?.description
            guard try catalog.update(record, ifJobId: jobId) else { return }
            let lock = holdingLock ? nil : try WorkLock.tryAcquire(slot.lockName, in: directory)
            defer { lock?.release() }
            if holdingLock || lock != nil {
                area.removeFile(named: slot.fileName)
            }
        } catch {
            logger.error("catalogue update failed: \(error)")
        }
    }

    /// Whether a live process other than this one handed out the slot's proxy since `date`.
    func usedElsewhere(_ slot: ProxySlot, since date: Date) throws -> Bool {
        try catalog.users(of: slot, since: date, excluding: lease.id).contains { try ProcessLease.isAlive($0, in: directory) }
    }

    // MARK: - Eviction

    /// The bytes on disk of each slot's parts not yet joined: its segments folder (finished parts, their HLS copies
    /// and playlists, parts in the making). Slots without any are left out.
    func segmentUsage() throws -> [ProxySlot: Int64] {
        var usage: [ProxySlot: Int64] = [:]
        for slot in try catalog.slotsWithSegments() {
            let bytes = area.usage(folder: slot.segmentsFolder).bytes
            if bytes > 0 { usage[slot] = bytes }
        }
        return usage
    }

    /// Evicts while the cache (completed proxies and the parts of unfinished ones) is over its limit, down to 90 % of
    /// it, least recently used first: completed proxies, and the parts a failed or cancelled job kept for resuming
    /// (dated by their record's last use). Never evicts a proxy being generated or queued (here or in another process:
    /// its slot is locked, or its record is not completed), a part a helper is making, or anything used in the last
    /// minute.
    func enforceLimit() {
        let limit = configuration.cacheLimitBytes
        do {
            let completed = try catalog.completedByLeastRecentUse()
            let parts = try segmentUsage()
            var total = completed.reduce(Int64(0)) { $0 + $1.proxySizeBytes } + parts.values.reduce(0, +)
            guard total > limit else { return }
            let target = limit / 10 * 9
            let protectedSince = Date().addingTimeInterval(-Self.recentUseWindow)
            var candidates: [(usedAt: Date, proxy: ProxyRecord?, parts: ProxySlot?)] = completed.map { ($0.lastAccessedAt, $0, nil) }
            for slot in parts.keys {
                candidates.append((try catalog.record(slot)?.lastAccessedAt ?? .distantPast, nil, slot))
            }
            candidates.sort { $0.usedAt < $1.usedAt }
            var evicted = 0
            var evictedParts = 0
            for candidate in candidates where total > target && candidate.usedAt < protectedSince {
                if let slot = candidate.parts {
                    let freed = try evictParts(of: slot, protectedSince: protectedSince)
                    total -= freed
                    evictedParts += freed > 0 ? 1 : 0
                    continue
                }
                guard let listed = candidate.proxy, let lock = try WorkLock.tryAcquire(listed.slot.lockName, in: directory) else {
                    continue
                }
                defer { lock.release() }
                // Looked at again under the lock: another process may have used or replaced it meanwhile.
                guard let record = try catalog.record(id: listed.id!), record.status == .completed,
                    record.jobId == listed.jobId, record.lastAccessedAt < protectedSince
                else { continue }
                area.removeFile(named: URL(fileURLWithPath: record.proxyPath).lastPathComponent)
                try catalog.delete(ids: [record.id!])
                total -= record.proxySizeBytes
                evicted += 1
                logger.info("evicted \(record.quality) proxy of \(record.sourcePath) (\(record.proxySizeBytes) bytes)")
            }
            if evicted > 0 || evictedParts > 0 {
                let parts = evictedParts > 0 ? " and the kept parts of \(evictedParts) unfinished ones" : ""
                observer.notice(
                    "evicted \(evicted) least recently used proxies\(parts) to keep the cache under its limit of \(limit) bytes")
            }
            if total > limit {
                observer.warning("the proxy cache holds \(total) bytes, over its limit of \(limit): the remaining proxies are in use")
            }
        } catch {
            logger.error("cache limit enforcement failed: \(error)")
        }
    }

    /// Deletes the parts a slot's unfinished proxy kept, when nobody is making it (its lock is free, its record is
    /// neither queued nor generating, no helper holds a part) and it was not used since `protectedSince`. Returns the
    /// bytes freed.
    private func evictParts(of slot: ProxySlot, protectedSince: Date) throws -> Int64 {
        guard let lock = try WorkLock.tryAcquire(slot.lockName, in: directory) else { return 0 }
        defer { lock.release() }
        let record = try catalog.record(slot)
        if let record, record.status == .queued || record.status == .generating || record.lastAccessedAt >= protectedSince { return 0 }
        let files = directory.regularFiles(inArea: area.name, folder: slot.segmentsFolder)
        if files.contains(where: { janitor.isBeingMade($0.name, in: slot) }) { return 0 }
        let removed = removeSegments(of: slot)
        logger.info("evicted the \(removed.files) kept parts of the unfinished \(slot.quality) proxy of \(record?.sourcePath ?? slot.fingerprintKey)")
        return removed.bytes
    }

    // MARK: - Clearing

    /// Deletes the slot's segments (files and rows), for a caller that holds the slot's lock. Returns what went.
    @discardableResult
    func removeSegments(of slot: ProxySlot) -> (files: Int, bytes: Int64) {
        let usage = area.usage(folder: slot.segmentsFolder)
        try? catalog.deleteSegments(of: slot)
        area.removeFolder(named: slot.segmentsFolder)
        return usage
    }

    /// Deletes proxies (all, or those whose record matches `matches`) and their records, see
    /// `ProxyService.clear`.
    func clear(where matches: (ProxyRecord) -> Bool, strays: Bool) throws -> ClearResult {
        var result = ClearResult()
        let recentSince = Date().addingTimeInterval(-Self.recentUseWindow)
        for listed in try catalog.allRecords() where matches(listed) {
            // This process's own queued or running job: left alone, as the spec says, and not "in use elsewhere".
            if listed.ownerId == lease.id && (listed.status == .queued || listed.status == .generating) { continue }
            let slot = listed.slot
            guard let lock = try WorkLock.tryAcquire(slot.lockName, in: directory) else {
                result.keptInUse += 1  // Another process is writing it.
                continue
            }
            defer { lock.release() }
            guard let record = try catalog.record(id: listed.id!) else { continue }
            if record.status == .queued, try janitor.ownerIsAlive(record) {
                if record.ownerId != lease.id { result.keptInUse += 1 }  // Queued by another live process.
                continue
            }
            if record.status == .completed, try usedElsewhere(slot, since: recentSince) {
                result.keptInUse += 1
                continue
            }
            if let size = area.removeFile(named: URL(fileURLWithPath: record.proxyPath).lastPathComponent) {
                result.deletedFiles += 1
                result.freedBytes += size
            }
            let segments = removeSegments(of: slot)
            result.deletedFiles += segments.files
            result.freedBytes += segments.bytes
            try catalog.delete(ids: [record.id!])
        }
        if strays {
            // Stray files (a partial file of a crashed job, an unreferenced proxy) go too, when nobody writes them.
            let removed = try janitor.removeStrayFiles()
            result.deletedFiles += removed.files
            result.freedBytes += removed.bytes
        }
        logger.info("cleared \(result.deletedFiles) proxy files (\(result.freedBytes) bytes), kept \(result.keptInUse) in use elsewhere")
        return result
    }
}
