import FileErrors
import Foundation
import Locking

/// An exclusive claim, across processes, on one piece of work in a cache: making one proxy, one waveform,
/// migrating the catalogue. Two editor windows (two servers), or a server and the CLI, share a cache directory;
/// whoever holds a piece's lock is the only one that writes its files.
///
/// It is `flock(2)` on `<cache>/locks/<name>.lock`. The kernel releases the lock when its holder dies, `kill -9`
/// included, so a lock that can be taken means that nobody is doing the work: files it left are orphans. Locks
/// taken through different open files conflict even inside one process, so a second claim on the same piece in
/// the same process waits too.
///
/// The lock file is deleted on release, while still locked. Taking a lock therefore checks, once it holds the
/// lock, that the file it locked is still the one at the path (not a file another holder deleted in between) and
/// starts over if not; without that check two claimants could each hold a lock on a different file.
public final class WorkLock: Sendable {
    /// The piece of work, as named when the lock was taken.
    public let name: String
    private let path: String
    /// The locked descriptor; nil once released.
    private let descriptor: Mutex<Int32?>

    private init(name: String, path: String, descriptor: Int32) {
        self.name = name
        self.path = path
        self.descriptor = Mutex(descriptor)
    }

    deinit {
        release()
    }

    /// Takes the lock when nobody holds it; nil when someone does (another process, or another claim here).
    /// Never blocks.
    public static func tryAcquire(_ name: String, in directory: CacheDirectory) throws -> WorkLock? {
        try acquire(name, in: directory, area: CacheDirectory.locksArea, blocking: false)
    }

    /// Takes the lock, waiting (blocking the calling thread, which must not be one of the concurrency pool's)
    /// for the holder to release it.
    public static func acquireWaiting(_ name: String, in directory: CacheDirectory) throws -> WorkLock {
        guard let lock = try acquire(name, in: directory, area: CacheDirectory.locksArea, blocking: true) else {
            preconditionFailure("a blocking flock returned without the lock")
        }
        return lock
    }

    /// Whether someone holds the lock now (a snapshot: it may be taken or released right after).
    public static func isHeld(_ name: String, in directory: CacheDirectory) throws -> Bool {
        guard let lock = try tryAcquire(name, in: directory) else { return true }
        lock.release()
        return false
    }

    /// Releases the lock (deleting its file first). Safe to call more than once.
    public func release() {
        descriptor.withLock { descriptor in
            guard let fd = descriptor else { return }
            unlink(path)
            close(fd)
            descriptor = nil
        }
    }

    /// Whether this object still holds the lock.
    public var isHeld: Bool { descriptor.withLock { $0 != nil } }

    static func acquire(_ name: String, in directory: CacheDirectory, area: String, blocking: Bool) throws -> WorkLock? {
        precondition(
            !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
                && name.first != ".", "a lock name is one plain file-name component")
        let path = directory.areaURL(area).appendingPathComponent(name + ".lock").path
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else {
                throw FileError.ioFailure(path: path, reason: "cannot open the lock file: \(String(cString: strerror(errno)))")
            }
            var rc: Int32
            repeat { rc = flock(fd, blocking ? LOCK_EX : LOCK_EX | LOCK_NB) } while rc != 0 && errno == EINTR
            if rc != 0 {
                let error = errno
                close(fd)
                if error == EWOULDBLOCK { return nil }
                throw FileError.ioFailure(path: path, reason: "cannot lock: \(String(cString: strerror(error)))")
            }
            // Locked: make sure it is the file at the path, not one its previous holder deleted meanwhile.
            var held = stat(), current = stat()
            if fstat(fd, &held) == 0, stat(path, &current) == 0, held.st_dev == current.st_dev, held.st_ino == current.st_ino {
                return WorkLock(name: name, path: path, descriptor: fd)
            }
            close(fd)
        }
    }
}
