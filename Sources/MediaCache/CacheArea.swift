import Foundation

/// One kind of cached thing in a `CacheDirectory` — `proxies/`, `waveforms/`, `frames/` — with what every store of
/// one needs, so each store holds only its own rules:
///
/// - **prepare**: the cache directory checked (created 0700; a symlink or another user's directory refused) and the
///   area made as a real directory inside it;
/// - **the process lease**: taken when the area opens (records and per-process folders carry its id), ended by
///   `release`;
/// - **the start-up sweep**: partial files whose writer is gone (nobody holds their `WorkLock`), and per-process
///   folders whose process is gone (its lease is free), are deleted — never a live process's files;
/// - **usage**: the regular files counted and their bytes;
/// - **deletion** through `openat`/`unlinkat`, following no symlink (`CacheDirectory.removeFile`), so nothing
///   outside the cache is ever reached.
///
/// Files appear whole through `DurableFile` (`write` for bytes, `install` for a partial file written by someone
/// else, such as libav).
///
/// Blocking (file system): used from job threads and `BlockingQueue`, never on the concurrency pool.
public final class CacheArea: Sendable {
    /// The cache directory the area is in.
    public let directory: CacheDirectory
    /// The area's folder name inside the cache.
    public let name: String
    /// This process's sign of life in the cache.
    public let lease: ProcessLease

    /// Opens the area `name` of the cache at `cachePath`: prepares the cache directory and the area, then takes
    /// a lease. Throws `CacheDirectory.Rejected` for an unusable directory.
    public init(cachePath: String, name: String) throws {
        directory = try CacheDirectory.prepare(path: cachePath, areas: [name])
        lease = try ProcessLease.take(in: directory)
        self.name = name
    }

    /// The area's folder.
    public var url: URL { directory.areaURL(name) }

    /// The path of `fileName` in the area (or in its `folder`).
    public func fileURL(_ fileName: String, folder: String? = nil) -> URL {
        guard let folder else { return url.appendingPathComponent(fileName) }
        return url.appendingPathComponent(folder, isDirectory: true).appendingPathComponent(fileName)
    }

    /// The names in the area (empty when it cannot be listed).
    public func fileNames() -> [String] {
        directory.fileNames(inArea: name)
    }

    /// Deletes a file of the area (or of its `folder`) without following a symlink; its size when one was deleted.
    @discardableResult
    public func removeFile(named fileName: String, folder: String? = nil) -> Int64? {
        directory.removeFile(named: fileName, inArea: name, folder: folder)
    }

    /// Deletes a folder of the area with everything in it, following no symlink. Returns whether it is gone.
    @discardableResult
    public func removeFolder(named folder: String) -> Bool {
        directory.removeFolder(named: folder, inArea: name)
    }

    /// The regular files of the area (or of its `folder`) whose names `counts` accepts, and their bytes. A symlink
    /// is neither followed nor counted.
    public func usage(folder: String? = nil, counting counts: (String) -> Bool = { _ in true }) -> (files: Int, bytes: Int64) {
        directory.regularFiles(inArea: name, folder: folder).reduce(into: (files: 0, bytes: Int64(0))) { usage, file in
            guard counts(file.name) else { return }
            usage.files += 1
            usage.bytes += file.bytes
        }
    }

    /// At start: deletes the lease files of processes that are gone, then every file of the area for which
    /// `lockName` names the `WorkLock` of the work that writes it (nil: not a partial file, left alone) when that
    /// lock is free, that is when its writer is gone. A file whose work is locked (by this or another process) is
    /// left. Returns the names deleted.
    @discardableResult
    public func sweepPartialFiles(lockName: (String) -> String?) -> [String] {
        ProcessLease.sweep(in: directory)
        var removed: [String] = []
        for fileName in fileNames() {
            guard let lock = lockName(fileName).flatMap({ try? WorkLock.tryAcquire($0, in: directory) }) else { continue }
            defer { lock.release() }
            if removeFile(named: fileName) != nil { removed.append(fileName) }
        }
        return removed
    }

    /// At start, for an area of per-process folders (named by lease id): deletes the folders of processes that are
    /// gone (their lease is free), never this process's or a live one's. Returns the names deleted.
    @discardableResult
    public func sweepFoldersOfGoneProcesses() -> [String] {
        var removed: [String] = []
        for folder in fileNames() where folder != lease.id {
            guard (try? ProcessLease.isAlive(folder, in: directory)) == false else { continue }
            if removeFolder(named: folder) { removed.append(folder) }
        }
        return removed
    }

    /// Ends the lease. Safe to call more than once.
    public func release() {
        lease.release()
    }
}
