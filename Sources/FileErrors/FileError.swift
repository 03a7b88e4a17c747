import Foundation

/// What can go wrong with a file below the media layer: a source file being fingerprinted, a cache file being written
/// whole (`DurableFile`), a lock file (`WorkLock`). The media services name these with `MediaError`'s cases of the
/// same names (same path, same sentence; `MediaError.init(_: FileError)`), so a client sees the same error whichever
/// layer met it. A module of its own, below both `Media` and `MediaCache`, so the identity-and-lock layer does not link libav.
public enum FileError: Error, Sendable, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    /// The path exists but is a directory, socket, device…
    case notARegularFile(path: String)
    case permissionDenied(path: String)
    /// ENOSPC, EDQUOT or EFBIG.
    case diskFull(path: String)
    case ioFailure(path: String, reason: String)

    /// The sentences are `MediaError`'s for the same cases, word for word (they are what a client reads).
    public var description: String {
        switch self {
        case .fileNotFound(let path): return "The file \(path) does not exist."
        case .notARegularFile(let path): return "The path \(path) is not a regular file (for example a directory)."
        case .permissionDenied(let path): return "Permission to read or write \(path) was denied."
        case .diskFull(let path): return "The disk is full while writing \(path)."
        case .ioFailure(let path, let reason): return "Input/output failed on \(path): \(reason)."
        }
    }

    /// The file the error is about.
    public var path: String {
        switch self {
        case .fileNotFound(let path), .notARegularFile(let path), .permissionDenied(let path), .diskFull(let path),
            .ioFailure(let path, _):
            return path
        }
    }

    /// The error for the current `errno` after a call on `path` failed: `.diskFull` for ENOSPC/EDQUOT/EFBIG,
    /// `.permissionDenied` for EACCES/EPERM/EROFS, `.fileNotFound` for ENOENT/ENOTDIR (a missing directory),
    /// `.ioFailure` (with the system's reason) otherwise.
    public static func current(path: String) -> FileError {
        of(errno: errno, path: path)
    }

    /// The error for `code` (an `errno` value), as `current` maps it.
    public static func of(errno code: Int32, path: String) -> FileError {
        if code == ENOSPC || code == EDQUOT || code == EFBIG { return .diskFull(path: path) }
        if code == EACCES || code == EPERM || code == EROFS { return .permissionDenied(path: path) }
        if code == ENOENT || code == ENOTDIR { return .fileNotFound(path: path) }
        return .ioFailure(path: path, reason: String(cString: strerror(code)))
    }
}
