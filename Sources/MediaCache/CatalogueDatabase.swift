import Foundation
import GRDB

/// Opens a cache's SQLite database for use by several processes at once (two editor windows, a server and
/// the CLI): WAL journal, so readers never block the writer; a busy timeout, so a writer waits for another
/// process's short transaction instead of failing with "database is locked"; write transactions that take the
/// write lock up front (GRDB's default `IMMEDIATE`), so a transaction never fails half-way to upgrade.
public enum CatalogueDatabase {
    /// How long a statement waits for another process's transaction before failing.
    public static let busyTimeout: TimeInterval = 30

    /// Opens (creating and migrating as needed) `fileName` in `directory`. Blocks the calling thread while
    /// another process opens or migrates the same database: switching the journal mode and migrating happen
    /// under the `WorkLock` named after the file, one process at a time.
    public static func open(_ fileName: String, in directory: CacheDirectory, migrator: DatabaseMigrator) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(busyTimeout)
        let lock = try WorkLock.acquireWaiting("open-" + fileName, in: directory)
        defer { lock.release() }
        let database = try DatabaseQueue(path: directory.url.appendingPathComponent(fileName).path, configuration: configuration)
        try migrator.migrate(database)
        return database
    }
}
