import Foundation

/// Checks on a source path made before libav sees it, so that "missing", "a directory", "unreadable"
/// and "empty" become precise errors instead of libav's generic "No such file or directory"/"Invalid data".
enum SourceFile {
    /// Validates `path` and returns its size in bytes.
    static func validate(_ path: String) throws(MediaError) -> Int64 {
        var info = stat()
        if stat(path, &info) != 0 {
            switch errno {
            case EACCES: throw MediaError.permissionDenied(path: path)
            case ENOENT, ENOTDIR: throw MediaError.fileNotFound(path: path)
            default: throw MediaError.ioFailure(path: path, reason: String(cString: strerror(errno)))
            }
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw MediaError.notARegularFile(path: path) }
        // stat succeeds on files we cannot read; open tells the truth (and root reads everything).
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            if errno == EACCES || errno == EPERM { throw MediaError.permissionDenied(path: path) }
            throw MediaError.ioFailure(path: path, reason: String(cString: strerror(errno)))
        }
        close(fd)
        guard info.st_size > 0 else { throw MediaError.emptyFile(path: path) }
        return Int64(info.st_size)
    }

    /// Reads up to `count` bytes at `offset`; fewer at end of file. Used for cheap container sanity checks.
    static func readBytes(_ path: String, offset: Int64, count: Int) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        return n > 0 ? Array(buffer[0..<n]) : []
    }
}
