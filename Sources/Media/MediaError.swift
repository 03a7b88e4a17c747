import CFFmpeg

/// Everything that can go wrong in the media layer, as a Swift error.
///
/// Invariant: every failure of a libav call surfaces as one of these cases — never a crash — and the
/// file-related cases carry the path so a caller can show a sentence without extra context.
/// The cases are ordered roughly from "the file is not there" to "libav said no".
public enum MediaError: Error, Sendable, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    /// The path exists but is a directory, socket, device…
    case notARegularFile(path: String)
    case permissionDenied(path: String)
    case emptyFile(path: String)
    /// No demuxer recognises the bytes, or the container holds no usable stream.
    case notMedia(path: String, reason: String)
    /// Data the container promises is missing (e.g. an mp4 whose sample index points past EOF).
    case truncated(path: String, reason: String)
    case corrupt(path: String, reason: String)
    /// A valid file that this operation cannot handle (e.g. no video stream for a proxy).
    case unsupported(path: String, reason: String)
    case diskFull(path: String)
    case ioFailure(path: String, reason: String)
    case cancelled
    /// A libav call failed in a way not attributable to one of the cases above.
    case ffmpeg(operation: String, code: Int32, message: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "The file \(path) does not exist."
        case .notARegularFile(let path): return "The path \(path) is not a regular file (for example a directory)."
        case .permissionDenied(let path): return "Permission to read or write \(path) was denied."
        case .emptyFile(let path): return "The file \(path) is empty."
        case .notMedia(let path, let reason): return "The file \(path) is not a media file: \(reason)."
        case .truncated(let path, let reason): return "The file \(path) is truncated: \(reason)."
        case .corrupt(let path, let reason): return "The file \(path) is corrupt: \(reason)."
        case .unsupported(let path, let reason): return "The file \(path) is not supported: \(reason)."
        case .diskFull(let path): return "The disk is full while writing \(path)."
        case .ioFailure(let path, let reason): return "Input/output failed on \(path): \(reason)."
        case .cancelled: return "The operation was cancelled."
        case .ffmpeg(let operation, let code, let message):
            return "FFmpeg failed in \(operation) with error \(code): \(message)."
        }
    }
}

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

    /// Maps an error from reading `path` (open, read_frame) to the most specific case.
    static func readError(_ code: Int32, path: String, operation: String) -> MediaError {
        if isErrno(code, ENOENT) { return .fileNotFound(path: path) }
        if isErrno(code, EACCES, EPERM) { return .permissionDenied(path: path) }
        if isErrno(code, EISDIR) { return .notARegularFile(path: path) }
        if isErrno(code, EIO) { return .ioFailure(path: path, reason: message(code)) }
        if code == invalidData { return .corrupt(path: path, reason: "\(operation): \(message(code))") }
        return .ffmpeg(operation: operation, code: code, message: message(code))
    }

    /// Maps an error from writing `path` (avio, muxer) to the most specific case.
    static func writeError(_ code: Int32, path: String, operation: String) -> MediaError {
        if isErrno(code, ENOSPC, EDQUOT, EFBIG) { return .diskFull(path: path) }
        if isErrno(code, EACCES, EPERM, EROFS) { return .permissionDenied(path: path) }
        if isErrno(code, ENOENT) { return .fileNotFound(path: path) }
        if isErrno(code, EIO) { return .ioFailure(path: path, reason: message(code)) }
        return .ffmpeg(operation: operation, code: code, message: message(code))
    }
}
