import FileErrors
import Foundation
import Jobs
import Logging
import Media
import MediaCache

/// Where file delivery writes pictures: `<cache>/frames/<process lease>/<key>.<ext>`. One folder per process, so
/// no process deletes a file another handed out; the folders of processes that are gone are removed when a
/// store opens. A file stays until its cache entry is evicted, the cache is cleared, or the process ends.
///
/// Blocking (file system): called from `BlockingQueue` threads.
public final class FrameFileStore: Sendable {
    static let area = "frames"

    /// The `frames/` area, one folder per process lease.
    private let area: CacheArea
    public var directory: CacheDirectory { area.directory }
    private var lease: ProcessLease { area.lease }
    /// This process's folder.
    let folder: URL
    private let logger: Logger

    /// Opens (creating it 0700, with the other caches' refusal rules) the frame cache directory.
    public init(directoryPath: String, logger: Logger) throws {
        area = try CacheArea(cachePath: directoryPath, name: Self.area)
        folder = area.url.appendingPathComponent(area.lease.id, isDirectory: true)
        self.logger = logger
        try FileManager.default.createDirectory(
            at: folder, withIntermediateDirectories: false,
            attributes: [.posixPermissions: 0o700])
        for name in area.sweepFoldersOfGoneProcesses() {
            logger.info("removed the frame files of a process that is gone: \(name)")
        }
    }

    /// Writes a picture (whole or not at all) and returns its file.
    func write(_ bytes: [UInt8], key: FrameKey) throws(MediaError) -> URL {
        let file = folder.appendingPathComponent(key.fileName)
        // A name of its own: two requests may deliver the same picture at once.
        let partial = folder.appendingPathComponent(".\(key.fileName).\(UInt32.random(in: 0...UInt32.max)).partial")
        try MediaError.mapping { () throws(FileError) in try DurableFile.write(bytes, to: file, via: partial, mode: 0o600) }
        return file
    }

    /// Deletes files (evicted entries); files outside this process's folder are left alone, and the deletion goes
    /// through the cache's directories without following a symlink (`CacheDirectory.removeFile`).
    func remove(_ files: [URL]) {
        for file in files where file.deletingLastPathComponent().standardizedFileURL.path == folder.standardizedFileURL.path {
            area.removeFile(named: file.lastPathComponent, folder: lease.id)
        }
    }

    /// Bytes and files in this process's folder (partial files, named with a leading dot, not counted).
    public func usage() -> (files: Int, bytes: Int64) {
        area.usage(folder: lease.id) { !$0.hasPrefix(".") }
    }

    /// Removes this process's folder and ends its lease, on a `BlockingQueue` thread (file system).
    public func shutdown() async {
        _ = try? await BlockingQueue.run { [self] in
            area.removeFolder(named: lease.id)
            area.release()
        }
    }
}
