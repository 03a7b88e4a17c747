import FileErrors
import Foundation
import Locking

/// Remembers fingerprints by what `stat` says about a file, so `resolve` and `status` on a timeline's clips
/// do not re-read 2 MiB of each clip on every call.
///
/// The key includes the inode change time (ctime), which every write updates and no user call can set back:
/// a file rewritten in place is hashed again even if its size and mtime were restored.
public final class FingerprintCache: Sendable {
    private struct FileIdentity: Hashable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var changed: Int64
    }
    private let entries = Mutex<[String: (FileIdentity, SourceFingerprint)]>([:])
    private let capacity: Int

    public init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The fingerprint of `path`, from the cache when the file is unchanged since it was hashed.
    public func fingerprint(path: String) throws(FileError) -> SourceFingerprint {
        var info = stat()
        guard stat(path, &info) == 0 else { return try SourceFingerprint.of(path: path) }
        let identity = FileIdentity(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
            changed: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec))
        if let (known, fingerprint) = entries.withLock({ $0[path] }), known == identity {
            return fingerprint
        }
        let fingerprint = try SourceFingerprint.of(path: path)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[path] = (identity, fingerprint)
        }
        return fingerprint
    }
}
