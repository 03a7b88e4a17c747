import FileErrors
import Foundation

/// Writing a file so that it appears whole or not at all: the bytes go to a partial file beside the final name,
/// are fsynced, and the partial file is renamed into place (the partial file is removed on any failure).
public enum DurableFile {
    /// Writes `bytes` to `partial`, fsyncs it, renames it to `final`. Failures are `FileError`s naming the
    /// file: `.diskFull` for ENOSPC/EDQUOT/EFBIG, `.permissionDenied`, `.fileNotFound` (a missing directory),
    /// `.ioFailure` otherwise.
    public static func write(_ bytes: [UInt8], to final: URL, via partial: URL, mode: mode_t = 0o600) throws(FileError) {
        try write(to: final, via: partial, mode: mode) { (file: inout Writer) throws(FileError) in try file.write(bytes) }
    }

    /// The same, for content too large to hold twice: `produce` writes it piece by piece (buffered), so memory
    /// stays at the buffer's size whatever the file's.
    public static func write(
        to final: URL, via partial: URL, mode: mode_t = 0o600,
        _ produce: (inout Writer) throws(FileError) -> Void
    ) throws(FileError) {
        let fd = open(partial.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw error(path: partial.path) }
        var finished = false
        defer {
            close(fd)
            if !finished { unlink(partial.path) }
        }
        var writer = Writer(fd: fd, path: final.path)
        try produce(&writer)
        try writer.flush()
        guard fsync(fd) == 0 else { throw error(path: final.path) }
        guard rename(partial.path, final.path) == 0 else { throw error(path: final.path) }
        finished = true
    }

    /// Moves a finished partial file that someone else wrote (libav's muxer) into place: fsyncs it, renames it to
    /// `final`, fsyncs the folder so the new name survives a crash. Failures are `FileError`s, mapped as for
    /// `write` (ENOSPC/EDQUOT/EFBIG are `.diskFull`, EACCES `.permissionDenied`); the partial file is left to the
    /// caller, which deletes it on failure through its area. A symlink in the partial file's place is refused.
    public static func install(_ partial: URL, as final: URL) throws(FileError) {
        let fd = open(partial.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw error(path: partial.path) }
        let synced = fsync(fd) == 0
        let syncError = errno
        close(fd)
        guard synced else { throw FileError.of(errno: syncError, path: final.path) }
        guard rename(partial.path, final.path) == 0 else { throw error(path: final.path) }
        let folder = open(final.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else { return }  // The file is in place; only the folder's sync could not be asked for.
        defer { close(folder) }
        if fsync(folder) != 0 && errno != EINVAL { throw error(path: final.path) }
    }

    /// Where `produce` writes: small pieces gather in a 1 MiB buffer; larger ones go straight to the file.
    public struct Writer {
        private let fd: Int32
        private let path: String
        private var buffer: [UInt8] = []
        private static let capacity = 1 << 20

        init(fd: Int32, path: String) {
            self.fd = fd
            self.path = path
            buffer.reserveCapacity(Self.capacity)
        }

        /// Writes the values' bytes as they are in memory.
        public mutating func write<T: BitwiseCopyable>(_ values: [T]) throws(FileError) {
            guard values.withUnsafeBytes({ append($0) }) else { throw DurableFile.error(path: path) }
        }

        public mutating func write(_ bytes: UnsafeRawBufferPointer) throws(FileError) {
            guard append(bytes) else { throw DurableFile.error(path: path) }
        }

        mutating func flush() throws(FileError) {
            guard flushBuffer() else { throw DurableFile.error(path: path) }
        }

        /// False when a write failed (`errno` says why).
        private mutating func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
            if buffer.count + bytes.count > Self.capacity, !flushBuffer() { return false }
            if bytes.count >= Self.capacity { return Self.writeAll(fd, bytes) }
            buffer.append(contentsOf: bytes)
            return true
        }

        private mutating func flushBuffer() -> Bool {
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer.withUnsafeBytes { Self.writeAll(fd, $0) }
        }

        private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
            var written = 0
            while written < bytes.count {
                let count = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                written += count
            }
            return true
        }
    }

    /// The `FileError` for the current `errno`.
    public static func error(path: String) -> FileError {
        FileError.current(path: path)
    }
}
