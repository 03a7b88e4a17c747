import Foundation

/// A process's sign of life in a cache directory: `<cache>/processes/<id>.lock`, held with `flock(2)` for as
/// long as the process (or the service that took the lease) uses the cache.
///
/// Records a process writes into the cache's catalogue carry its lease id. Another process can then tell work
/// that is merely waiting (a job queued by a live process) from work that was abandoned (its process is gone,
/// `kill -9` included, because the kernel drops the lock with the process): only the latter is cleaned up.
public final class ProcessLease: Sendable {
    /// Identifies the holder in records ("p-" and 16 hex digits, unique per lease).
    public let id: String
    private let lock: WorkLock

    private init(id: String, lock: WorkLock) {
        self.id = id
        self.lock = lock
    }

    /// Takes a new lease in `directory`.
    public static func take(in directory: CacheDirectory) throws -> ProcessLease {
        while true {
            let id = "p-" + String(format: "%016llx", UInt64.random(in: 0...UInt64.max))
            if let lock = try WorkLock.acquire(id, in: directory, area: CacheDirectory.processesArea, blocking: false) {
                return ProcessLease(id: id, lock: lock)
            }
        }
    }

    /// Whether the holder of lease `id` is still running. A lease nobody holds (its process is gone) is deleted
    /// on the way.
    public static func isAlive(_ id: String, in directory: CacheDirectory) throws -> Bool {
        guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return false }
        guard let lock = try WorkLock.acquire(id, in: directory, area: CacheDirectory.processesArea, blocking: false) else {
            return true
        }
        lock.release()
        return false
    }

    /// Deletes the lease files of processes that are gone.
    public static func sweep(in directory: CacheDirectory) {
        for name in directory.fileNames(inArea: CacheDirectory.processesArea) where name.hasSuffix(".lock") {
            _ = try? isAlive(String(name.dropLast(5)), in: directory)
        }
    }

    /// Ends the lease (its file is deleted). Safe to call more than once.
    public func release() {
        lock.release()
    }
}
