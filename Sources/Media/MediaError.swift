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
