import Foundation

/// A cache directory the server owns: created with mode 0700, and refused when it is a symlink or belongs
/// to another user (another user could otherwise plant or read cached files through it).
///
/// It holds named **areas**, one folder per kind of cached thing (`proxies/`, later `waveforms/`), plus the
/// areas of the cache's own cross-process bookkeeping: `locks/` (`WorkLock`) and `processes/` (`ProcessLease`).
/// Every area is a real directory inside the cache (a symlink in its place is refused), so deleting inside an
/// area can never reach outside the cache.
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

        public init(path: String, cause: Cause, reason: String) {
            self.path = path
            self.cause = cause
            self.reason = reason
        }
    }

    /// Where `WorkLock` files live.
    public static let locksArea = "locks"
    /// Where `ProcessLease` files live.
    public static let processesArea = "processes"

    /// Creates the directory (and its parents) when missing, then checks it: a real directory, not a symlink,
    /// owned by this user, mode tightened to 0700. Then makes sure every area in `areas` (and the bookkeeping
    /// areas) exists as a real directory inside it.
    public static func prepare(path: String, areas: [String] = []) throws -> CacheDirectory {
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
        for area in [locksArea, processesArea] + areas {
            try directory.prepareArea(area)
        }
        return directory
    }

    /// The folder of an area (which `prepare` created).
    public func areaURL(_ area: String) -> URL {
        url.appendingPathComponent(area)
    }

    /// The names of the files in an area (empty when it cannot be listed, or is no longer a real directory).
    public func fileNames(inArea area: String) -> [String] {
        guard let areaDescriptor = openArea(area) else { return [] }
        return Self.names(in: areaDescriptor) ?? []  // Closes `areaDescriptor`.
    }

    /// Deletes `name` from an area; returns its size when a file was deleted. Never reaches outside the cache: the
    /// name is one path component, the area is opened without following a symlink (one put in its place after
    /// `prepare` is refused), and a symlink inside it is deleted itself, never its target.
    /// With `folder`, the file is in that folder of the area (opened the same way: a symlink is refused).
    @discardableResult
    public func removeFile(named name: String, inArea area: String, folder: String? = nil) -> Int64? {
        guard Self.isPlainName(name), let areaDescriptor = openArea(area) else { return nil }
        defer { close(areaDescriptor) }
        var parent = areaDescriptor
        if let folder {
            guard Self.isPlainName(folder) else { return nil }
            parent = openat(areaDescriptor, folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard parent >= 0 else { return nil }
        }
        defer { if parent != areaDescriptor { close(parent) } }
        var info = stat()
        guard fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0,
            (info.st_mode & S_IFMT) == S_IFREG || (info.st_mode & S_IFMT) == S_IFLNK
        else { return nil }
        return unlinkat(parent, name, 0) == 0 ? Int64(info.st_size) : nil
    }

    /// Deletes the folder `name` of an area with everything in it, following no symlink: a symlink met on the way
    /// (the folder itself, or anything inside) is deleted itself. Returns whether the folder is gone.
    @discardableResult
    public func removeFolder(named name: String, inArea area: String) -> Bool {
        guard Self.isPlainName(name), let areaDescriptor = openArea(area) else { return false }
        defer { close(areaDescriptor) }
        return Self.removeTree(name, in: areaDescriptor, depth: 0)
    }

    /// The regular files of an area (or of its `folder`) and their sizes, looked at without following a symlink: a
    /// symlink (or anything else that is not a regular file) is not listed. Empty when the area or folder cannot be
    /// opened as a real directory.
    public func regularFiles(inArea area: String, folder: String? = nil) -> [(name: String, bytes: Int64)] {
        guard let areaDescriptor = openArea(area) else { return [] }
        defer { close(areaDescriptor) }
        var parent = areaDescriptor
        if let folder {
            guard Self.isPlainName(folder) else { return [] }
            parent = openat(areaDescriptor, folder, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard parent >= 0 else { return [] }
        }
        defer { if parent != areaDescriptor { close(parent) } }
        let listing = dup(parent)  // `names` closes it; sizes are looked up through `parent`.
        guard listing >= 0, let names = Self.names(in: listing) else { return [] }
        return names.compactMap { name in
            var info = stat()
            guard fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
            return (name, Int64(info.st_size))
        }
    }

    private static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && name != "." && name != ".."
    }

    /// Opens an area for deleting in it: the cache and the area must still be real directories (not symlinks), and
    /// the cache this user's. Nil otherwise.
    private func openArea(_ area: String) -> Int32? {
        let root = open(url.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard root >= 0 else { return nil }
        defer { close(root) }
        var info = stat()
        guard fstat(root, &info) == 0, info.st_uid == geteuid(), Self.isPlainName(area) else { return nil }
        let descriptor = openat(root, area, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        return descriptor >= 0 ? descriptor : nil
    }

    private static func removeTree(_ name: String, in parent: Int32, depth: Int) -> Bool {
        var info = stat()
        guard fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return errno == ENOENT }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return unlinkat(parent, name, 0) == 0 }
        guard depth < 8 else { return false }  // Nothing the server makes is this deep.
        let descriptor = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        let folder = dup(descriptor)  // `names` closes `descriptor`; the children are deleted through this one.
        defer { if folder >= 0 { close(folder) } }
        guard folder >= 0, let children = names(in: descriptor) else {
            if folder < 0 { close(descriptor) }
            return false
        }
        let childrenGone = children.reduce(true) { gone, child in removeTree(child, in: folder, depth: depth + 1) && gone }
        return childrenGone && unlinkat(parent, name, AT_REMOVEDIR) == 0
    }

    /// The entries of an open directory, without `.` and `..`; nil when it cannot be read. Takes `descriptor`
    /// (closes it).
    private static func names(in descriptor: Int32) -> [String]? {
        guard let listing = fdopendir(descriptor) else {
            close(descriptor)
            return nil
        }
        defer { closedir(listing) }
        var names: [String] = []
        while let entry = readdir(listing) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    private func prepareArea(_ area: String) throws {
        let areaURL = areaURL(area)
        var info = stat()
        if lstat(areaURL.path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw Rejected(path: areaURL.path, cause: .notADirectory, reason: "it is not a real directory")
            }
        } else if mkdir(areaURL.path, 0o700) != 0 && errno != EEXIST {
            throw Rejected(path: areaURL.path, cause: .notCreatable, reason: String(cString: strerror(errno)))
        }
    }
}
