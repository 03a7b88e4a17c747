import Foundation
import Media

/// Writing a file so that it appears whole or not at all: the bytes go to a partial file beside the final name,
/// are fsynced, and the partial file is renamed into place (the partial file is removed on any failure).
public enum DurableFile {
    /// Writes `bytes` to `partial`, fsyncs it, renames it to `final`. Failures are `MediaError`s naming the file:
    /// `.diskFull` for ENOSPC/EDQUOT/EFBIG, `.permissionDenied`, `.fileNotFound` (a missing directory),
    /// `.ioFailure` otherwise.
    public static func write(_ bytes: [UInt8], to final: URL, via partial: URL, mode: mode_t = 0o600) throws(MediaError) {
        let fd = open(partial.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw error(path: partial.path) }
        var finished = false
        defer {
            close(fd)
            if !finished { unlink(partial.path) }
        }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { raw in Glibc.write(fd, raw.baseAddress! + written, raw.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                throw error(path: final.path)
            }
            written += count
        }
        guard fsync(fd) == 0 else { throw error(path: final.path) }
        guard rename(partial.path, final.path) == 0 else { throw error(path: final.path) }
        finished = true
    }

    /// The `MediaError` for the current `errno`.
    public static func error(path: String) -> MediaError {
        let code = errno
        if code == ENOSPC || code == EDQUOT || code == EFBIG { return .diskFull(path: path) }
        if code == EACCES || code == EPERM || code == EROFS { return .permissionDenied(path: path) }
        if code == ENOENT || code == ENOTDIR { return .fileNotFound(path: path) }
        return .ioFailure(path: path, reason: String(cString: strerror(code)))
    }
}
