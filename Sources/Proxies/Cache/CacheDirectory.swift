import Foundation

/// A cache directory the server owns: created with mode 0700, and refused when it is a symlink or belongs
/// to another user (another user could otherwise plant or read proxies through it).
public struct CacheDirectory: Sendable, Equatable {
    /// The directory, standardised.
    public let url: URL

    /// Why a directory was refused.
    public struct Rejected: Error, Sendable, CustomStringConvertible {
        /// Machine-readable causes, as `protocol/spec.md` §10.1 names them.
        public enum Cause: String, Sendable {
            case symlink, notADirectory, otherOwner, notWritable, notCreatable
        }
        public let path: String
        public let cause: Cause
        public let reason: String
        public var description: String { "The cache directory \(path) cannot be used: \(reason)." }
    }

    /// Finished proxies and in-progress (`.partial.mp4`) outputs.
    public var proxiesURL: URL { url.appendingPathComponent("proxies") }

    /// Creates the directory (and its parents) when missing, then checks it: a real directory, not a
    /// symlink, owned by this user, mode tightened to 0700.
    public static func prepare(path: String) throws -> CacheDirectory {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var info = stat()
        if lstat(url.path, &info) != 0 {
            guard errno == ENOENT else { throw Rejected(path: url.path, cause: .notCreatable, reason: String(cString: strerror(errno))) }
            do {
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            } catch {
                throw Rejected(path: url.path, cause: .notCreatable, reason: "its parent cannot be created (\(error.localizedDescription))")
            }
            if mkdir(url.path, 0o700) != 0 && errno != EEXIST {
                throw Rejected(path: url.path, cause: .notCreatable, reason: "it cannot be created (\(String(cString: strerror(errno))))")
            }
            guard lstat(url.path, &info) == 0 else { throw Rejected(path: url.path, cause: .notCreatable, reason: String(cString: strerror(errno))) }
        }
        if (info.st_mode & S_IFMT) == S_IFLNK {
            throw Rejected(path: url.path, cause: .symlink, reason: "it is a symbolic link (refused so the cache cannot be redirected)")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw Rejected(path: url.path, cause: .notADirectory, reason: "it exists and is not a directory")
        }
        guard info.st_uid == geteuid() else {
            throw Rejected(path: url.path, cause: .otherOwner, reason: "it belongs to user id \(info.st_uid), not to this user (\(geteuid()))")
        }
        if info.st_mode & 0o777 != 0o700 && chmod(url.path, 0o700) != 0 {
            throw Rejected(path: url.path, cause: .notWritable, reason: "its permissions cannot be set to 0700 (\(String(cString: strerror(errno))))")
        }
        guard access(url.path, W_OK | X_OK) == 0 else {
            throw Rejected(path: url.path, cause: .notWritable, reason: "it is not writable")
        }
        let directory = CacheDirectory(url: url)
        var proxiesInfo = stat()
        if lstat(directory.proxiesURL.path, &proxiesInfo) == 0 {
            guard (proxiesInfo.st_mode & S_IFMT) == S_IFDIR else {
                throw Rejected(path: directory.proxiesURL.path, cause: .notADirectory, reason: "it is not a real directory")
            }
        } else if mkdir(directory.proxiesURL.path, 0o700) != 0 {
            throw Rejected(path: directory.proxiesURL.path, cause: .notCreatable, reason: String(cString: strerror(errno)))
        }
        return directory
    }

    /// The final file of a proxy: named from the source fingerprint and the quality, never from the source's name.
    func proxyURL(fingerprintKey: String, quality: String) -> URL {
        proxiesURL.appendingPathComponent("\(fingerprintKey)-\(quality).mp4")
    }

    /// Where a job writes before the atomic rename. The `.partial` marker lets startup sweep leftovers.
    func partialURL(fingerprintKey: String, quality: String, jobID: String) -> URL {
        proxiesURL.appendingPathComponent("\(fingerprintKey)-\(quality).\(jobID).partial.mp4")
    }

    static func isPartialFile(_ name: String) -> Bool { name.hasSuffix(".partial.mp4") }
    static func isProxyFile(_ name: String) -> Bool { name.hasSuffix(".mp4") && !isPartialFile(name) }

    /// The names of the files in `proxies/`.
    func proxyFileNames() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: proxiesURL.path)) ?? []
    }
}

/// Size of a file in bytes, or nil when it does not exist.
func fileSize(_ url: URL) -> Int64? {
    var info = stat()
    return stat(url.path, &info) == 0 ? Int64(info.st_size) : nil
}
