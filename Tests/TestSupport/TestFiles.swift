import Foundation

/// Scratch directories and file-time helpers shared by the test targets.
public enum TestFiles {
    /// How much slower than the developers' machines a test run may be: 3 (CI and newcomers' machines differ by 2× or
    /// more, and several suites share the cores), 10 under a sanitizer (`scripts/sanitize.sh` sets `AURA_SANITIZER`).
    /// Waits (`TestDeadline`) and the few bounds that check promptness widen by it.
    public static let slowdown: Int = ProcessInfo.processInfo.environment["AURA_SANITIZER"] == nil ? 3 : 10
    /// How much more memory this build's processes take, else 1; tests that bound a server's RSS widen the bound by
    /// it. ThreadSanitizer's shadow memory: 3. AddressSanitizer: 8 — besides redzones around every allocation, its
    /// allocator keeps freed memory (a 256 MB quarantine, size classes never given back), so 10,000 queued
    /// requests that take the server up 100–300 MB take it up 1.2–1.7 GB.
    public static let memoryOverhead: Int =
        switch ProcessInfo.processInfo.environment["AURA_SANITIZER"] {
        case nil: 1
        case "address": 8
        default: 3
        }

    /// The per-process root of every scratch directory and fixture: `$TMPDIR/aura-tests-<pid>`, removed when the
    /// test process exits. Roots that processes which are gone left behind (a crashed or killed run) are removed
    /// when the next run creates its own.
    public static let root: URL = {
        let base = FileManager.default.temporaryDirectory
        removeLeftovers(in: base)
        let url = base.appendingPathComponent(prefix + "\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: TestFiles.root) }
        return url
    }()

    private static let prefix = "aura-tests-"

    private static func removeLeftovers(in base: URL) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: base.path)) ?? []
        for name in names where name.hasPrefix(prefix) {
            guard let pid = pid_t(name.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(at: base.appendingPathComponent(name))
        }
    }

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
