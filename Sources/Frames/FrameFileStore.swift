import Foundation
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

    public let directory: CacheDirectory
    private let lease: ProcessLease
    /// This process's folder.
    let folder: URL
    private let logger: Logger

    /// Opens (creating it 0700, with the other caches' refusal rules) the frame cache directory.
    public init(directoryPath: String, logger: Logger) throws {
        directory = try CacheDirectory.prepare(path: directoryPath, areas: [Self.area])
        lease = try ProcessLease.take(in: directory)
        folder = directory.areaURL(Self.area).appendingPathComponent(lease.id, isDirectory: true)
        self.logger = logger
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        removeFoldersOfGoneProcesses()
    }

    /// Writes a picture (whole or not at all) and returns its file.
    func write(_ bytes: [UInt8], key: FrameKey) throws(MediaError) -> URL {
        let file = folder.appendingPathComponent(key.fileName)
        // A name of its own: two requests may deliver the same picture at once.
        let partial = folder.appendingPathComponent(".\(key.fileName).\(UInt32.random(in: 0...UInt32.max)).partial")
        try DurableFile.write(bytes, to: file, via: partial, mode: 0o600)
        return file
    }

    /// Deletes files (evicted entries); files outside this process's folder are left alone, and the deletion goes
    /// through the cache's directories without following a symlink (`CacheDirectory.removeFile`).
    func remove(_ files: [URL]) {
        for file in files where file.deletingLastPathComponent().standardizedFileURL.path == folder.standardizedFileURL.path {
            directory.removeFile(named: file.lastPathComponent, inArea: Self.area, folder: lease.id)
        }
    }

    /// Bytes and files in this process's folder.
    public func usage() -> (files: Int, bytes: Int64) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var bytes: Int64 = 0
        var files = 0
        for name in names where !name.hasPrefix(".") {
            var info = stat()
            if stat(folder.appendingPathComponent(name).path, &info) == 0 {
                files += 1
                bytes += Int64(info.st_size)
            }
        }
        return (files, bytes)
    }

    /// Removes this process's folder and ends its lease.
    public func shutdown() async {
        directory.removeFolder(named: lease.id, inArea: Self.area)
        lease.release()
    }

    private func removeFoldersOfGoneProcesses() {
        for name in directory.fileNames(inArea: Self.area) where name != lease.id {
            guard (try? ProcessLease.isAlive(name, in: directory)) == false else { continue }
            logger.info("removing the frame files of a process that is gone: \(name)")
            directory.removeFolder(named: name, inArea: Self.area)
        }
    }
}
