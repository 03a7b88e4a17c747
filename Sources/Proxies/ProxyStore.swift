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

    /// Evicts least-recently-used completed proxies while the cache is over its limit, down to 90 % of it.
    /// Never evicts a proxy being generated (here or in another process: its slot is locked; a slot with a queued
    /// job holds the job's record, which is not completed) or one used in the last minute.
    func enforceLimit() {
        let limit = configuration.cacheLimitBytes
        do {
            let completed = try catalog.completedByLeastRecentUse()
            var total = completed.reduce(Int64(0)) { $0 + $1.proxySizeBytes }
            guard total > limit else { return }
            let target = limit / 10 * 9
            let protectedSince = Date().addingTimeInterval(-Self.recentUseWindow)
            var evicted = 0
            for listed in completed where total > target {
                guard listed.lastAccessedAt < protectedSince,
                    let lock = try WorkLock.tryAcquire(listed.slot.lockName, in: directory)
                else { continue }
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
            if evicted > 0 {
                observer.notice("evicted \(evicted) least recently used proxies to keep the cache under its limit of \(limit) bytes")
            }
            if total > limit {
                observer.warning("the proxy cache holds \(total) bytes, over its limit of \(limit): the remaining proxies are in use")
            }
        } catch {
            logger.error("cache limit enforcement failed: \(error)")
        }
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
