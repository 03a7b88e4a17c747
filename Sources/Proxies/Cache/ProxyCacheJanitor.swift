import Foundation
import Logging
import Media
import MediaCache

/// Cleans up what processes that are gone left in a proxy cache, and nothing else.
///
/// Several processes share a cache, so "leftover" cannot mean "not mine". It means: nobody holds the slot's
/// `WorkLock` (whoever writes a slot's files holds it until its record says how the job ended) and, for a job that
/// was only queued, its process's `ProcessLease` is gone. Everything here takes the slot's lock before changing
/// anything, and looks at the record again under it.
struct ProxyCacheJanitor: Sendable {
    /// The `proxies/` area: its files are listed and deleted through it (never following a symlink).
    let area: CacheArea
    var directory: CacheDirectory { area.directory }
    let catalog: ProxyCatalog
    let logger: Logger

    /// Why an interrupted job's record says `failed`.
    static let interruptedReason = "interrupted: the server stopped before the proxy was finished"

    /// At start: records of jobs whose process is gone become `failed`; their partial files, proxy files no
    /// completed record names, and records of completed proxies whose file vanished are removed; lease files of
    /// gone processes and old use notes are dropped. Slots another process is working on are left alone.
    func cleanUpAtStart() throws {
        ProcessLease.sweep(in: directory)
        try catalog.forgetUses(before: Date().addingTimeInterval(-3600))
        var slots = Set<ProxySlot>()
        var named = Set<String>()
        for record in try catalog.allRecords() {
            switch record.status {
            case .queued, .generating:
                slots.insert(record.slot)
            case .completed:
                named.insert(URL(fileURLWithPath: record.proxyPath).lastPathComponent)
                if fileSize(URL(fileURLWithPath: record.proxyPath)) == nil { slots.insert(record.slot) }
            default:
                break
            }
        }
        for name in area.fileNames() {
            if let slot = ProxySlot.parse(segmentsFolder: name) { slots.insert(slot) }
            guard let (slot, partialOfJob) = ProxySlot.parse(fileName: name) else { continue }
            if partialOfJob != nil || !named.contains(name) { slots.insert(slot) }
        }
        var left = 0
        for slot in slots where try !cleanUp(slot) { left += 1 }
        if left > 0 { logger.info("left \(left) proxy slots alone: other processes are working on them") }
    }

    /// Settles one slot if nobody is working on it: an interrupted job's record becomes `failed`, partial files
    /// are deleted, a completed record whose file vanished is dropped, a proxy file no completed record names is
    /// deleted. Returns false (changing nothing) when someone holds the slot's lock.
    @discardableResult
    func cleanUp(_ slot: ProxySlot) throws -> Bool {
        guard let lock = try WorkLock.tryAcquire(slot.lockName, in: directory) else { return false }
        defer { lock.release() }
        try settle(slot)
        return true
    }

    /// Deletes the slot's partial files but `keeping`'s; the caller holds the slot's lock, so nobody writes them.
    func removePartialFiles(of slot: ProxySlot, keeping jobId: String) {
        for name in area.fileNames() {
            guard let parsed = ProxySlot.parse(fileName: name), parsed.slot == slot,
                let partialOfJob = parsed.partialOfJob, partialOfJob != jobId
            else { continue }
            logger.info("removing leftover partial file \(name)")
            area.removeFile(named: name)
        }
    }

    /// `cleanUp` for a caller that holds the slot's lock.
    private func settle(_ slot: ProxySlot) throws {
        var record = try catalog.record(slot)
        if var interrupted = record, try isAbandoned(interrupted) {
            logger.info("marking interrupted job \(interrupted.jobId ?? "?") of \(interrupted.sourcePath) failed")
            interrupted.status = .failed
            interrupted.error = Self.interruptedReason
            try catalog.update(interrupted)
            record = interrupted
        }
        if let completed = record, completed.status == .completed, fileSize(URL(fileURLWithPath: completed.proxyPath)) == nil {
            logger.info("dropping the record of \(completed.sourcePath)'s \(completed.quality) proxy: its file vanished")
            try catalog.delete(ids: [completed.id!])
            record = nil
        }
        settleSegments(of: slot, record: record)
        for name in area.fileNames() {
            guard let (fileSlot, partialOfJob) = ProxySlot.parse(fileName: name), fileSlot == slot else { continue }
            if partialOfJob != nil {
                logger.info("removing leftover partial file \(name)")
                area.removeFile(named: name)
            } else if record?.status != .completed || URL(fileURLWithPath: record!.proxyPath).lastPathComponent != name {
                logger.info("removing unreferenced proxy file \(name)")
                area.removeFile(named: name)
            }
        }
    }

    /// The slot's segments folder, for a caller that holds the slot's lock: partial files (their writers are gone) are
    /// deleted; the finished segments stay while the slot's record may be resumed (failed, cancelled), and go with a
    /// completed proxy or without a record.
    ///
    /// A part that a helper of another process is making (`isBeingMade`) keeps its files, and the folder stays.
    func settleSegments(of slot: ProxySlot, record: ProxyRecord?) {
        let folder = slot.segmentsFolder
        guard area.fileNames().contains(folder) else { return }
        let files = directory.regularFiles(inArea: area.name, folder: folder)
        let resumable = record.map { $0.status != .completed } ?? false
        if !resumable && !files.contains(where: { isBeingMade($0.name, in: slot) }) {
            try? catalog.deleteSegments(of: slot)
            area.removeFolder(named: folder)
            return
        }
        for file in files where file.name.hasSuffix(".partial") && !isBeingMade(file.name, in: slot) {
            logger.info("removing leftover partial file \(folder)/\(file.name)")
            area.removeFile(named: file.name, folder: folder)
        }
    }

    /// Whether someone holds the lock of the part a file of the slot's segments folder belongs to (a helper makes
    /// it now, `ProxySegmentBuild.help`). False for files of no part; true when the lock cannot be checked.
    func isBeingMade(_ name: String, in slot: ProxySlot) -> Bool {
        guard let lock = slot.partLockName(ofFileInSegments: name) else { return false }
        return (try? WorkLock.isHeld(lock, in: directory)) ?? true
    }

    /// Deletes proxy and partial files that no completed record names, that nobody is writing, and whose slot no
    /// live process has a job queued for. Returns how many files and bytes went.
    func removeStrayFiles() throws -> (files: Int, bytes: Int64) {
        var removed: (files: Int, bytes: Int64) = (0, 0)
        let named = Set(try catalog.allRecords().filter { $0.status == .completed }.map { URL(fileURLWithPath: $0.proxyPath).lastPathComponent })
        for name in area.fileNames() where !named.contains(name) {
            if let slot = ProxySlot.parse(segmentsFolder: name), let lock = try WorkLock.tryAcquire(slot.lockName, in: directory) {
                // Segments nobody can resume (no record, or a completed one) go; a failed or cancelled job's stay.
                defer { lock.release() }
                let before = area.usage(folder: name)
                settleSegments(of: slot, record: try catalog.record(slot))
                if !area.fileNames().contains(name) {
                    removed.files += before.files
                    removed.bytes += before.bytes
                }
                continue
            }
            guard let (slot, _) = ProxySlot.parse(fileName: name),
                let lock = try WorkLock.tryAcquire(slot.lockName, in: directory)
            else { continue }
            defer { lock.release() }
            let record = try catalog.record(slot)
            if let record, record.status == .completed, URL(fileURLWithPath: record.proxyPath).lastPathComponent == name { continue }
            if let record, record.status == .queued, try ownerIsAlive(record) { continue }
            if let size = area.removeFile(named: name) {
                removed.files += 1
                removed.bytes += size
            }
        }
        return removed
    }

    /// Whether `record` is of a job nobody will finish, seen by a caller that holds the slot's lock: generating
    /// (so its writer is gone), or queued by a process that is gone.
    private func isAbandoned(_ record: ProxyRecord) throws -> Bool {
        switch record.status {
        case .generating: return true
        case .queued: return try !ownerIsAlive(record)
        default: return false
        }
    }

    /// Whether the process that queued or is generating `record` is still at it: a generating job holds its
    /// slot's lock; a queued one's process holds its lease.
    func isLive(_ record: ProxyRecord) throws -> Bool {
        switch record.status {
        case .generating: return try WorkLock.isHeld(record.slot.lockName, in: directory)
        case .queued: return try ownerIsAlive(record)
        default: return false
        }
    }

    /// Whether the process that wrote `record` still runs (false for records of old versions without an owner).
    func ownerIsAlive(_ record: ProxyRecord) throws -> Bool {
        guard let owner = record.ownerId else { return false }
        return try ProcessLease.isAlive(owner, in: directory)
    }
}
