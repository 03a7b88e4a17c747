import FileErrors
import Foundation
import Locking
import Logging
import Media
import MediaCache

/// The waveform cache: pyramid files on disk (`waveforms/<fingerprint>.wave`, written whole under the source's
/// `WorkLock` and renamed into place) and the most recently used pyramids in memory.
///
/// Synchronous and blocking (file system): called from job threads and `BlockingQueue`. Cross-process rules as for
/// proxies: a source's file is written or deleted only under its lock; leftovers are removed only when their lock
/// is free (their writer is gone).
final class WaveformStore: Sendable {
    static let area = "waveforms"

    /// The `waveforms/` area: prepare, lease, start-up sweep, usage and deletion.
    let area: CacheArea
    var directory: CacheDirectory { area.directory }
    var lease: ProcessLease { area.lease }
    let logger: Logger
    private let memory: Mutex<MemoryCache>
    let memoryLimitBytes: Int

    private struct MemoryCache {
        var entries: [String: (pyramid: WaveformPyramid, lastUse: UInt64)] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    init(directoryPath: String, memoryLimitBytes: Int = 256 << 20, logger: Logger) throws {
        area = try CacheArea(cachePath: directoryPath, name: Self.area)
        self.logger = logger
        self.memoryLimitBytes = memoryLimitBytes
        memory = Mutex(MemoryCache())
    }

    /// The key of one audio stream's pyramid: the source content's fingerprint key, and for streams after the
    /// primary `-a<n>` (the primary keeps the bare key, so caches made before several streams were served still hold).
    static func key(_ fingerprintKey: String, audioStream: Int) -> String {
        audioStream == 0 ? fingerprintKey : "\(fingerprintKey)-a\(audioStream)"
    }

    /// A pyramid key's fingerprint key and audio stream.
    static func parts(of key: String) -> (fingerprint: String, audioStream: Int) {
        guard let fingerprint = fingerprintKey(of: Substring(key)) else { return (key, 0) }
        return (String(fingerprint), Int(key.dropFirst(18)) ?? 0)
    }

    /// The fingerprint key a pyramid key belongs to (nil for names that are not pyramid keys).
    static func fingerprintKey(of key: Substring) -> Substring? {
        let fingerprint = key.prefix(16)
        guard fingerprint.count == 16 else { return nil }
        let rest = key.dropFirst(16)
        guard rest.isEmpty || (rest.hasPrefix("-a") && rest.dropFirst(2).allSatisfy(\.isNumber) && rest.count > 2) else { return nil }
        return fingerprint
    }

    static func lockName(_ key: String) -> String { "wave-\(key)" }
    func fileURL(_ key: String) -> URL { area.fileURL("\(key).wave") }
    func partialURL(_ key: String, jobId: String) -> URL { area.fileURL("\(key).\(jobId).partial") }

    // MARK: - Memory

    /// The pyramid of `key` if it is in memory.
    /// Whether a pyramid file exists for `key` (not checked: `load` verifies it when it is read).
    func isPersisted(_ key: String) -> Bool {
        FileManager.default.fileExists(atPath: fileURL(key).path)
    }

    func cached(_ key: String) -> WaveformPyramid? {
        memory.withLock { cache in
            guard let entry = cache.entries[key] else { return nil }
            cache.clock += 1
            cache.entries[key] = (entry.pyramid, cache.clock)
            return entry.pyramid
        }
    }

    /// Keeps a pyramid in memory, dropping the least recently used ones beyond the limit.
    func remember(_ pyramid: WaveformPyramid, key: String) {
        memory.withLock { cache in
            cache.clock += 1
            if let old = cache.entries.updateValue((pyramid, cache.clock), forKey: key) { cache.bytes -= old.pyramid.byteCount }
            cache.bytes += pyramid.byteCount
            while cache.bytes > memoryLimitBytes, cache.entries.count > 1,
                let oldest = cache.entries.min(by: { $0.value.lastUse < $1.value.lastUse })
            {
                cache.entries.removeValue(forKey: oldest.key)
                cache.bytes -= oldest.value.pyramid.byteCount
            }
        }
    }

    private func forgetAll() {
        memory.withLock { $0 = MemoryCache() }
    }

    /// Forgets every audio stream's pyramid of one source content.
    private func forget(source fingerprintKey: String) {
        memory.withLock { cache in
            for key in cache.entries.keys where Self.fingerprintKey(of: Substring(key)).map(String.init) == fingerprintKey {
                if let old = cache.entries.removeValue(forKey: key) { cache.bytes -= old.pyramid.byteCount }
            }
        }
    }

    private func forget(_ key: String) {
        memory.withLock { cache in
            if let old = cache.entries.removeValue(forKey: key) { cache.bytes -= old.pyramid.byteCount }
        }
    }

    // MARK: - Disk

    /// The pyramid stored for `key`, loaded and checked (length, header, checksum); nil when there is none. A
    /// damaged file is deleted (when nobody is writing it) so it is rebuilt, never served.
    func load(_ key: String) -> WaveformPyramid? {
        let url = fileURL(key)
        guard let bytes = Self.contents(of: url.path) else { return nil }
        do {
            let pyramid = try WaveformFile.decode(bytes, key: key)
            remember(pyramid, key: key)
            return pyramid
        } catch {
            logger.warning("discarding the waveform cache file of \(key): \(error)")
            if let lock = try? WorkLock.tryAcquire(Self.lockName(key), in: directory) {
                defer { lock.release() }
                area.removeFile(named: url.lastPathComponent)
            }
            return nil
        }
    }

    /// A whole file in one array, read straight into it (a pyramid file is tens of MB: no `Data` copy in
    /// between), or nil when it cannot be opened. A file cut short while read comes back short, and `decode`
    /// refuses its length.
    private static func contents(of path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        let size = Int(info.st_size)
        guard size > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var done = 0
            while done < size {
                let count = read(fd, buffer.baseAddress! + done, size - done)
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                done += count
            }
            initialized = done
        }
    }

    /// Writes a pyramid: to a partial file, fsynced, renamed into place. The caller holds the source's lock.
    func save(_ pyramid: WaveformPyramid, key: String, jobId: String) throws {
        // Streamed: a 3-hour pyramid is tens of MB, which are not copied again to be written.
        try MediaError.mapping { () throws(FileError) in
            try DurableFile.write(to: fileURL(key), via: partialURL(key, jobId: jobId)) { (file: inout DurableFile.Writer) throws(FileError) in
                try WaveformFile.encode(pyramid, key: key, to: &file)
            }
        }
        remember(pyramid, key: key)
    }

    // MARK: - Housekeeping

    /// Files and bytes on disk (complete pyramids only).
    func usage() -> (files: Int, bytes: Int64) {
        area.usage { $0.hasSuffix(".wave") }
    }

    /// Deletes the pyramids (all, or every audio stream's of the source content `only`, a fingerprint key) and
    /// leftover files nobody is writing; returns files and bytes freed and how many were left because an analysis
    /// (here or in another process) is writing them.
    func clear(only: String? = nil, sparing active: Set<String>) -> (files: Int, bytes: Int64, kept: Int) {
        if let only { forget(source: only) } else { forgetAll() }
        var result: (files: Int, bytes: Int64, kept: Int) = (0, 0, 0)
        for name in area.fileNames() {
            guard let part = name.split(separator: ".").first, let fingerprint = Self.fingerprintKey(of: part) else { continue }
            let key = String(part)
            if let only, fingerprint != only { continue }
            guard !active.contains(key), let lock = try? WorkLock.tryAcquire(Self.lockName(key), in: directory) else {
                result.kept += name.hasSuffix(".wave") ? 1 : 0
                continue
            }
            defer { lock.release() }
            if let size = area.removeFile(named: name) {
                result.files += 1
                result.bytes += size
            }
        }
        return result
    }

    /// At start: partial files of analyses whose process is gone (their source's lock is free) are deleted.
    func cleanUpAtStart() {
        let removed = area.sweepPartialFiles { name in
            guard name.hasSuffix(".partial"), let key = name.split(separator: ".").first else { return nil }
            return Self.lockName(String(key))
        }
        for name in removed { logger.info("removed leftover waveform partial file \(name)") }
    }
}
