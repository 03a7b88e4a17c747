import Foundation
import GRDB
import TestSupport
import Testing

@testable import MediaCache

/// `WorkLock`, `ProcessLease` and `CatalogueDatabase`: what lets several processes share one cache. Other
/// processes are played by util-linux's `flock(1)`, which takes the same kind of lock as the product.
@Suite(.timeLimit(.minutes(10)))
struct CrossProcessTests {
    static func cache(_ name: String) throws -> CacheDirectory {
        try CacheDirectory.prepare(path: TestFiles.scratch(name).path)
    }

    /// Runs `flock --no-fork -x FILE sleep 60` (another process holding the lock; no child that inherits it) and waits until it holds it.
    static func holdInAnotherProcess(_ file: URL) throws -> Process {
        let process = try Spawn.start { () throws -> Process in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
            process.arguments = ["--exclusive", "--no-fork", file.path, "sleep", "60"]
            process.standardInput = FileHandle.nullDevice
            try process.run()
            return process
        }
        let deadline = TestDeadline.date(after: 10)
        while Date() < deadline {
            // Held by the other process once a non-blocking attempt of ours fails.
            let fd = open(file.path, O_RDWR | O_CLOEXEC)
            if fd >= 0 {
                defer { close(fd) }
                if flock(fd, LOCK_EX | LOCK_NB) != 0 { return process }
                flock(fd, LOCK_UN)
            }
            usleep(10_000)
        }
        process.terminate()
        throw HoldFailed()
    }

    struct HoldFailed: Error {}

    static func killAndWait(_ process: Process) {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    @Test func aLockIsExclusiveUntilReleasedAndLeavesNoFile() throws {
        let cache = try Self.cache("lock")
        let first = try #require(try WorkLock.tryAcquire("proxy-a", in: cache))
        #expect(try WorkLock.tryAcquire("proxy-a", in: cache) == nil, "a second claim in the same process waits too")
        #expect(try WorkLock.isHeld("proxy-a", in: cache))
        #expect(try WorkLock.tryAcquire("proxy-b", in: cache) != nil, "another piece of work is another lock")
        first.release()
        #expect(!first.isHeld)
        #expect(try !WorkLock.isHeld("proxy-a", in: cache))
        let again = try #require(try WorkLock.tryAcquire("proxy-a", in: cache))
        again.release()
        again.release()  // twice is harmless
        #expect(cache.fileNames(inArea: CacheDirectory.locksArea).isEmpty, "released locks delete their files")
    }

    @Test func aLockHeldByAnotherProcessIsFreedWhenThatProcessIsKilled() throws {
        let cache = try Self.cache("lock-kill")
        let file = cache.areaURL(CacheDirectory.locksArea).appendingPathComponent("proxy-x.lock")
        let holder = try Self.holdInAnotherProcess(file)
        #expect(try WorkLock.tryAcquire("proxy-x", in: cache) == nil)
        #expect(try WorkLock.isHeld("proxy-x", in: cache))
        Self.killAndWait(holder)
        let lock = try #require(try WorkLock.tryAcquire("proxy-x", in: cache), "the kernel released the dead holder's lock")
        lock.release()
    }

    @Test func aWaitingClaimGetsTheLockWhenTheHolderReleasesIt() async throws {
        let cache = try Self.cache("lock-wait")
        let holder = try #require(try WorkLock.tryAcquire("proxy-w", in: cache))
        async let acquired = OffPool.run { () throws -> Bool in
            let lock = try WorkLock.acquireWaiting("proxy-w", in: cache)
            defer { lock.release() }
            return lock.isHeld
        }
        try await Task.sleep(for: .milliseconds(100))
        holder.release()
        #expect(try await acquired)
    }

    @Test func leasesTellLiveProcessesFromGoneOnes() throws {
        let cache = try Self.cache("lease")
        let lease = try ProcessLease.take(in: cache)
        let other = try ProcessLease.take(in: cache)
        #expect(lease.id != other.id && lease.id.hasPrefix("p-"))
        #expect(try ProcessLease.isAlive(lease.id, in: cache))
        other.release()
        #expect(try !ProcessLease.isAlive(other.id, in: cache))
        #expect(try !ProcessLease.isAlive("p-never-seen", in: cache))
        #expect(try !ProcessLease.isAlive("../escape", in: cache), "an id that is not a plain name is nobody")

        // A lease of a process that was killed: alive while it runs, gone (and its file swept) after.
        let file = cache.areaURL(CacheDirectory.processesArea).appendingPathComponent("p-killed.lock")
        let holder = try Self.holdInAnotherProcess(file)
        #expect(try ProcessLease.isAlive("p-killed", in: cache))
        Self.killAndWait(holder)
        ProcessLease.sweep(in: cache)
        #expect(!FileManager.default.fileExists(atPath: file.path))
        #expect(cache.fileNames(inArea: CacheDirectory.processesArea) == [lease.id + ".lock"])
        lease.release()
    }

    /// Writes per connection in the concurrent-write test.
    static let catalogueWrites = 300

    @Test func twoConnectionsWriteTheSameCatalogueConcurrentlyWithoutLockErrors() async throws {
        let cache = try Self.cache("catalogue")
        @Sendable func migrator() -> DatabaseMigrator {
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.create(table: "items") { table in
                    table.autoIncrementedPrimaryKey("id")
                    table.column("writer", .integer).notNull()
                }
            }
            return migrator
        }
        // Opened concurrently: migrating is serialised by the open lock. Every call below blocks (SQLite, the open
        // lock), so each runs on a thread of its own, never on the concurrency pool, as the product runs it.
        async let a = OffPool.run { try CatalogueDatabase.open("test.sqlite", in: cache, migrator: migrator()) }
        async let b = OffPool.run { try CatalogueDatabase.open("test.sqlite", in: cache, migrator: migrator()) }
        let (first, second) = try await (a, b)
        #expect(try await first.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, database) in [first, second].enumerated() {
                group.addTask {
                    try await OffPool.run {
                        for _ in 0..<Self.catalogueWrites {
                            try database.write { db in
                                try db.execute(sql: "INSERT INTO items (writer) VALUES (?)", arguments: [index])
                            }
                            _ = try database.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM items") }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await first.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM items") } == 2 * Self.catalogueWrites)
    }
}

/// `BusyWait`: the catalogue's busy handler retries every millisecond until its deadline, counted from the first
/// try of each busy episode. Times are handed in, so nothing here depends on the machine's speed.
struct BusyWaitTests {
    @Test func retriesUntilTheDeadlineOfEachEpisode() {
        let wait = BusyWait(timeout: 2)
        let start = ContinuousClock.now
        #expect(wait.shouldRetry(tries: 0, now: start))
        #expect(wait.shouldRetry(tries: 500, now: start + .milliseconds(1_999)))
        #expect(!wait.shouldRetry(tries: 501, now: start + .seconds(2)), "past the deadline: SQLITE_BUSY")
        #expect(wait.shouldRetry(tries: 0, now: start + .seconds(5)), "a new episode has a deadline of its own")
        #expect(!wait.shouldRetry(tries: 1, now: start + .seconds(7)))
    }
}
