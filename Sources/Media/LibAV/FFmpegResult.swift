import CFFmpeg

#if canImport(Glibc)
import Glibc
#endif

/// Helpers that turn libav return codes into `MediaError`s.
enum FFmpegResult {
    /// The human-readable text of an FFmpeg error code.
    static func message(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        return buffer.withUnsafeMutableBufferPointer { buf in
            String(cString: aura_error_string(code, buf.baseAddress, buf.count))
        }
    }

    static let eof = aura_averror_eof()
    static let eagain = aura_averror_eagain()
    static let invalidData = aura_averror_invaliddata()

    /// Whether `code` is AVERROR(errno) for one of `errnos`.
    static func isErrno(_ code: Int32, _ errnos: Int32...) -> Bool {
        errnos.contains { aura_averror($0) == code }
    }

    /// Throws a generic `.ffmpeg` error when `code` is negative; returns it otherwise.
    @discardableResult
    static func check(_ code: Int32, _ operation: String) throws(MediaError) -> Int32 {
        if code < 0 { throw MediaError.ffmpeg(operation: operation, code: code, message: message(code)) }
        return code
    }

    /// Maps an error from reading `path` (open, read_frame, seek, decode) to the most specific case.
    ///
    /// AVERROR(EPERM) is -1, which libav also returns as a plain "failed" (a seek whose search gave up, a
    /// demuxer's header check): it is never taken for "permission denied". Files are opened by `SourceFile`
    /// first, which reports a real EPERM from the system.
    static func readError(_ code: Int32, path: String, operation: String) -> MediaError {
        if isErrno(code, ENOENT) { return .fileNotFound(path: path) }
        if isErrno(code, EACCES) { return .permissionDenied(path: path) }
        if isErrno(code, EISDIR) { return .notARegularFile(path: path) }
        if isErrno(code, EIO) { return .ioFailure(path: path, reason: message(code)) }
        if code == invalidData { return .corrupt(path: path, reason: "\(operation): \(message(code))") }
        return .ffmpeg(operation: operation, code: code, message: message(code))
    }

    /// Maps an error from writing `path` (avio, muxer) to the most specific case (-1 as for `readError`).
    static func writeError(_ code: Int32, path: String, operation: String) -> MediaError {
        if isErrno(code, ENOSPC, EDQUOT, EFBIG) { return .diskFull(path: path) }
        if isErrno(code, EACCES, EROFS) { return .permissionDenied(path: path) }
        if isErrno(code, ENOENT) { return .fileNotFound(path: path) }
        if isErrno(code, EIO) { return .ioFailure(path: path, reason: message(code)) }
        return .ffmpeg(operation: operation, code: code, message: message(code))
    }
}
