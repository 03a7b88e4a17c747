import Foundation
import GRDB
import Locking
import MediaCache

/// The persistent catalogue of proxies: a SQLite database inside the proxy cache directory.
///
/// Living inside the cache directory makes a cache self-contained: two cache directories never share
/// records, and deleting the directory forgets everything. Several processes may use one catalogue at once
/// (`CatalogueDatabase`: WAL, busy timeout); inside a process GRDB's `DatabaseQueue` serialises access, so the
/// catalogue may be used from any thread.
///
/// Cross-process rule: a slot's record is created, replaced or deleted only by whoever holds the slot's
/// `WorkLock`; a job updates its record only while the record still names the job (`update(_:ifJobId:)`).
public final class ProxyCatalog: Sendable {
    /// The database file name inside the cache directory.
    public static let fileName = "catalogue.sqlite"

    private let database: DatabaseQueue
    /// Writes this process made (they do not move SQLite's `data_version`, which counts other connections' commits).
    private let localWrites = Mutex(0)

    /// Opens (creating and migrating as needed) the catalogue in `directory`.
    public convenience init(directory: URL) throws {
        try self.init(cache: CacheDirectory.prepareProxyCache(path: directory.path))
    }

    /// Opens (creating and migrating as needed) the catalogue of `cache`.
    init(cache: CacheDirectory) throws {
        database = try CatalogueDatabase.open(Self.fileName, in: cache, migrator: Self.migrator)
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "proxies") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("sourcePath", .text).notNull().indexed()
                table.column("sourceFingerprint", .text).notNull()
                table.column("sourceSizeBytes", .integer).notNull()
                table.column("sourceModificationTime", .double).notNull()
                table.column("sourceEdgeHash", .text).notNull()
                table.column("quality", .text).notNull()
                table.column("scalePercent", .integer)
                table.column("proxyPath", .text).notNull()
                table.column("width", .integer).notNull()
                table.column("height", .integer).notNull()
                table.column("videoBitRate", .integer).notNull()
                table.column("audioBitRate", .integer)
                table.column("durationSeconds", .double).notNull()
                table.column("frameRate", .double)
                table.column("hasAudio", .boolean).notNull()
                table.column("videoEncoder", .text)
                table.column("proxySizeBytes", .integer).notNull()
                table.column("status", .text).notNull()
                table.column("progressPercent", .double).notNull()
                table.column("error", .text)
                table.column("createdAt", .datetime).notNull()
                table.column("lastAccessedAt", .datetime).notNull()
                table.column("jobId", .text)
                table.uniqueKey(["sourceFingerprint", "quality"])
            }
        }
        migrator.registerMigration("v2-processes") { db in
            // The `ProcessLease` of the process whose job the record belongs to.
            try db.alter(table: "proxies") { table in table.add(column: "ownerId", .text) }
            // Who used which proxy when: `clear` spares proxies another live process handed out recently.
            try db.create(table: "proxyUses") { table in
                table.column("sourceFingerprint", .text).notNull()
                table.column("quality", .text).notNull()
                table.column("processId", .text).notNull()
                table.column("usedAt", .datetime).notNull()
                table.primaryKey(["sourceFingerprint", "quality", "processId"])
            }
        }
        migrator.registerMigration("v3-picture-processing") { db in
            // What was done to the pictures (colour management, deinterlacing). Proxies made before say false, which
            // is what was done to them.
            try db.alter(table: "proxies") { table in
                table.add(column: "toneMapped", .boolean).notNull().defaults(to: false)
                table.add(column: "deinterlaced", .boolean).notNull().defaults(to: false)
                table.add(column: "pictureVersion", .integer)
            }
        }
        migrator.registerMigration("v4-segments") { db in
            // A proxy is made in segments (`SegmentPlan`): how many, how many are done, and the time they cover.
            try db.alter(table: "proxies") { table in
                table.add(column: "segmentCount", .integer).notNull().defaults(to: 0)
                table.add(column: "segmentsCompleted", .integer).notNull().defaults(to: 0)
                table.add(column: "coverage", .text).notNull().defaults(to: "[]")
            }
            // The finished segments of proxies in the making, by slot and settings (`ProxySegmentRecord`).
            try db.create(table: ProxySegmentRecord.databaseTableName) { table in
                table.column("sourceFingerprint", .text).notNull()
                table.column("quality", .text).notNull()
                table.column("settingsKey", .text).notNull()
                table.column("part", .text).notNull()
                table.column("segmentIndex", .integer).notNull()
                table.column("startSlot", .integer).notNull()
                table.column("endSlot", .integer)
                table.column("fileName", .text).notNull()
                table.column("sizeBytes", .integer).notNull()
                table.column("checksum", .text).notNull()
                table.column("facts", .text).notNull()
                table.column("jobId", .text)
                table.column("createdAt", .datetime).notNull()
                table.primaryKey(["sourceFingerprint", "quality", "settingsKey", "part", "segmentIndex"])
            }
        }
        migrator.registerMigration("v5-segment-frames") { db in
            // A segment's frame count and the proxy's rate, read on every lookup of the time it covers (they were in
            // `facts` only). Rows of earlier versions say 0: they were made with another segment length, so another
            // settings key, and are deleted, never joined, when their proxy is made again.
            try db.alter(table: ProxySegmentRecord.databaseTableName) { table in
                table.add(column: "frameCount", .integer).notNull().defaults(to: 0)
                table.add(column: "frameRate", .double).notNull().defaults(to: 0)
            }
        }
        return migrator
    }

    // MARK: - Segments

    /// The finished segments of a slot made with `settingsKey`, in order (video by index, then the audio).
    public func segments(of slot: ProxySlot, settingsKey: String) throws -> [ProxySegmentRecord] {
        try database.read { db in
            try ProxySegmentRecord.filter(
                Column("sourceFingerprint") == slot.fingerprintKey && Column("quality") == slot.quality
                    && Column("settingsKey") == settingsKey
            ).order(Column("part").desc, Column("segmentIndex")).fetchAll(db)
        }
    }

    /// The slots that have part rows (proxies in the making, or kept for resumption).
    func slotsWithSegments() throws -> [ProxySlot] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT DISTINCT sourceFingerprint, quality FROM proxySegments").compactMap { row in
                ProxyQuality(rawValue: row["quality"]).map { ProxySlot(fingerprintKey: row["sourceFingerprint"], quality: $0) }
            }
        }
    }

    /// Every finished segment of a slot, whatever its settings.
    func allSegments(of slot: ProxySlot) throws -> [ProxySegmentRecord] {
        try database.read { db in
            try ProxySegmentRecord.filter(Column("sourceFingerprint") == slot.fingerprintKey && Column("quality") == slot.quality)
                .fetchAll(db)
        }
    }

    /// Records a finished segment (replacing a row of the same identity).
    func insert(_ segment: ProxySegmentRecord) throws {
        try write { db in try segment.insert(db, onConflict: .replace) }
    }

    /// Forgets segments.
    func delete(_ segments: [ProxySegmentRecord]) throws {
        guard !segments.isEmpty else { return }
        try write { db in
            for segment in segments { try segment.delete(db) }
        }
    }

    /// Forgets every segment of a slot.
    func deleteSegments(of slot: ProxySlot) throws {
        try write { db in
            _ = try ProxySegmentRecord.filter(Column("sourceFingerprint") == slot.fingerprintKey && Column("quality") == slot.quality)
                .deleteAll(db)
        }
    }

    /// Records a job's segment progress on its record (while it still names the job): what other processes show.
    func updateSegments(id: Int64, jobId: String, completed: Int, count: Int, coverage: [[Double]], percent: Double) throws {
        let json = String(decoding: try JSONEncoder().encode(coverage), as: UTF8.self)
        try write { db in
            try db.execute(
                sql: """
                    UPDATE proxies SET segmentsCompleted = ?, segmentCount = ?, coverage = ?, progressPercent = ?
                    WHERE id = ? AND jobId = ?
                    """, arguments: [completed, count, json, percent, id, jobId])
        }
    }

    /// A value that changes whenever the catalogue may have changed: a write of this process, or a commit of another
    /// process (SQLite's `data_version`). Reads no table: what remembers an answer of the catalogue checks it instead of
    /// asking again. Blocks (one pragma).
    public func version() throws -> CatalogueVersion {
        let local = localWrites.withLock { $0 }
        let external = try database.read { db in try Int.fetchOne(db, sql: "PRAGMA data_version") ?? 0 }
        return CatalogueVersion(localWrites: local, externalCommits: external)
    }

    /// Every write goes through here, counted once it has returned.
    private func write<T>(_ updates: (Database) throws -> T) throws -> T {
        defer { localWrites.withLock { $0 += 1 } }
        return try database.write(updates)
    }

    /// The record of a slot (content fingerprint and quality).
    public func record(_ slot: ProxySlot) throws -> ProxyRecord? {
        try database.read { db in
            try ProxyRecord.filter(Column("sourceFingerprint") == slot.fingerprintKey && Column("quality") == slot.quality).fetchOne(db)
        }
    }

    /// The record with this id.
    public func record(id: Int64) throws -> ProxyRecord? {
        try database.read { db in try ProxyRecord.fetchOne(db, key: id) }
    }

    /// The record a job produced (or is producing).
    public func record(jobId: String) throws -> ProxyRecord? {
        try database.read { db in try ProxyRecord.filter(Column("jobId") == jobId).fetchOne(db) }
    }

    /// The most recently created record that was made from `sourcePath` at `quality`, whatever its content.
    public func latestRecord(sourcePath: String, quality: ProxyQuality) throws -> ProxyRecord? {
        try database.read { db in
            try ProxyRecord.filter(Column("sourcePath") == sourcePath && Column("quality") == quality)
                .order(Column("createdAt").desc).fetchOne(db)
        }
    }

    /// Every record.
    public func allRecords() throws -> [ProxyRecord] {
        try database.read { db in try ProxyRecord.order(Column("id")).fetchAll(db) }
    }

    /// Completed records, least recently used first.
    public func completedByLeastRecentUse() throws -> [ProxyRecord] {
        try database.read { db in
            try ProxyRecord.filter(Column("status") == ProxyStatus.completed.rawValue)
                .order(Column("lastAccessedAt").asc, Column("id").asc).fetchAll(db)
        }
    }

    /// Inserts `record`, replacing any record for the same fingerprint and quality. Returns it with its id.
    @discardableResult
    public func replace(_ record: ProxyRecord) throws -> ProxyRecord {
        try write { db in
            try ProxyRecord.filter(Column("sourceFingerprint") == record.sourceFingerprint && Column("quality") == record.quality)
                .deleteAll(db)
            var inserted = record
            inserted.id = nil
            try inserted.insert(db)
            return inserted
        }
    }

    /// Saves changes to an existing record.
    public func update(_ record: ProxyRecord) throws {
        try write { db in try record.update(db) }
    }

    /// Saves changes to a record only while it still belongs to job `jobId` (another process may have taken the
    /// slot over since). Returns whether it was saved.
    @discardableResult
    public func update(_ record: ProxyRecord, ifJobId jobId: String) throws -> Bool {
        try write { db in
            guard let id = record.id, let current = try ProxyRecord.fetchOne(db, key: id), current.jobId == jobId else { return false }
            try record.update(db)
            return true
        }
    }

    /// Records a running job's progress, for other processes to show.
    public func updateProgress(id: Int64, jobId: String, percent: Double) throws {
        try write { db in
            try db.execute(sql: "UPDATE proxies SET progressPercent = ? WHERE id = ? AND jobId = ?", arguments: [percent, id, jobId])
        }
    }

    /// Notes that `processId` handed out the slot's proxy at `date`.
    func recordUse(of slot: ProxySlot, by processId: String, at date: Date = Date()) throws {
        try write { db in
            try db.execute(
                sql: """
                    INSERT INTO proxyUses (sourceFingerprint, quality, processId, usedAt) VALUES (?, ?, ?, ?)
                    ON CONFLICT(sourceFingerprint, quality, processId) DO UPDATE SET usedAt = excluded.usedAt
                    """, arguments: [slot.fingerprintKey, slot.quality, processId, date])
        }
    }

    /// The processes other than `processId` that used the slot's proxy since `date`.
    func users(of slot: ProxySlot, since date: Date, excluding processId: String) throws -> [String] {
        try database.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT processId FROM proxyUses WHERE sourceFingerprint = ? AND quality = ? AND usedAt >= ? AND processId != ?
                    """, arguments: [slot.fingerprintKey, slot.quality, date, processId])
        }
    }

    /// Forgets uses older than `date`.
    func forgetUses(before date: Date) throws {
        try write { db in try db.execute(sql: "DELETE FROM proxyUses WHERE usedAt < ?", arguments: [date]) }
    }

    /// Marks a record used now (for least-recently-used eviction) and records the path it was reached by.
    public func touch(id: Int64, sourcePath: String, at date: Date = Date()) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE proxies SET lastAccessedAt = ?, sourcePath = ? WHERE id = ?",
                arguments: [date, sourcePath, id])
        }
    }

    /// Records the path a source is now found at (it was moved), without counting as a use.
    /// Records what a proxy made before picture processing is worth for its source (`ProxyStore.isCurrent`).
    func recordPictureVersion(id: Int64, _ version: Int) throws {
        try write { db in
            try db.execute(sql: "UPDATE proxies SET pictureVersion = ? WHERE id = ?", arguments: [version, id])
        }
    }

    public func updateSourcePath(id: Int64, to sourcePath: String) throws {
        try write { db in
            try db.execute(sql: "UPDATE proxies SET sourcePath = ? WHERE id = ?", arguments: [sourcePath, id])
        }
    }

    /// Deletes records by id.
    public func delete(ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        try write { db in _ = try ProxyRecord.deleteAll(db, keys: ids) }
    }
}

/// The catalogue's state as `ProxyCatalog.version()` reads it: equal values mean nothing was written in between.
public struct CatalogueVersion: Sendable, Equatable {
    var localWrites: Int
    var externalCommits: Int
}
