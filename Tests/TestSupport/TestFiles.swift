import Foundation

/// Scratch directories and file-time helpers shared by the test targets.
public enum TestFiles {
    /// The per-process root of every scratch directory.
    public static let root: URL = {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("aura-tests-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// A fresh empty directory.
    public static func scratch(_ name: String) -> URL {
        let url = root.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Sets a file's access and modification times to exactly `seconds` + `nanoseconds` since 1970.
    public static func setModificationTime(_ url: URL, seconds: Int, nanoseconds: Int) {
        var times = [timespec(tv_sec: seconds, tv_nsec: nanoseconds), timespec(tv_sec: seconds, tv_nsec: nanoseconds)]
        let rc = utimensat(AT_FDCWD, url.path, &times, 0)
        precondition(rc == 0, "utimensat failed on \(url.path)")
    }

    public static func modificationTime(_ url: URL) -> timespec {
        var info = stat()
        precondition(stat(url.path, &info) == 0)
        return info.st_mtim
    }

    /// A file's size, or nil when it does not exist.
    public static func size(_ url: URL) -> Int64? {
        var info = stat()
        return stat(url.path, &info) == 0 ? Int64(info.st_size) : nil
    }
}
