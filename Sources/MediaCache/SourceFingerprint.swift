import FileErrors
import Foundation

/// The identity of a source file's content: size, modification time, and a hash of its first and last MiB.
///
/// Proxies are named from `key`, so two `clip.mp4` files in different folders never collide, a file moved to
/// another path (same bytes, same mtime) finds its proxy again, and a file changed in place (new size, mtime
/// or edge bytes) no longer matches: its old proxy is reported `stale` and never used for it.
public struct SourceFingerprint: Sendable, Hashable, Codable {
    /// File size in bytes.
    public let sizeBytes: Int64
    /// Modification time, seconds since 1970 (nanosecond precision where the file system has it).
    public let modificationTime: Double
    /// 64-bit FNV-1a of the first MiB and the last MiB (the whole file when smaller), hex.
    public let edgeHash: String

    /// A file-name-safe identifier derived from all three members (16 hex digits).
    public var key: String {
        var hash = FNV1a64()
        hash.add(UInt64(bitPattern: sizeBytes))
        hash.add(modificationTime.bitPattern)
        hash.add(Array(edgeHash.utf8))
        return String(format: "%016llx", hash.value)
    }

    /// How many bytes at each end are hashed.
    public static let edgeBytes = 1 << 20

    public init(sizeBytes: Int64, modificationTime: Double, edgeHash: String) {
        self.sizeBytes = sizeBytes
        self.modificationTime = modificationTime
        self.edgeHash = edgeHash
    }

    /// Reads the fingerprint of the regular file at `path`; throws `FileError` for a missing, non-regular or
    /// unreadable file.
    public static func of(path: String) throws(FileError) -> SourceFingerprint {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw errno == ENOENT || errno == ENOTDIR
                ? FileError.fileNotFound(path: path)
                : errno == EACCES
                    ? FileError.permissionDenied(path: path)
                    : FileError.ioFailure(path: path, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FileError.notARegularFile(path: path) }
        let size = Int64(info.st_size)
        let mtime = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw errno == EACCES
                ? FileError.permissionDenied(path: path)
                : FileError.ioFailure(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        var hash = FNV1a64()
        let ranges: [(offset: Int64, length: Int)] =
            size <= Int64(2 * edgeBytes)
            ? [(Int64(0), Int(size))]
            : [(Int64(0), edgeBytes), (size - Int64(edgeBytes), edgeBytes)]
        // Sized for the longest range: a file of up to 2 MiB is hashed whole in one read.
        var buffer = [UInt8](repeating: 0, count: ranges.map(\.length).max() ?? 0)
        for range in ranges {
            let count = buffer.withUnsafeMutableBytes { raw -> Int in
                var done = 0
                while done < range.length {
                    let got = pread(descriptor, raw.baseAddress! + done, range.length - done, off_t(range.offset) + off_t(done))
                    if got < 0 && errno == EINTR { continue }
                    if got <= 0 { break }
                    done += got
                }
                return done
            }
            guard count == range.length else {
                throw FileError.ioFailure(path: path, reason: "could not read \(range.length) bytes at offset \(range.offset)")
            }
            hash.add(buffer[0..<count])
        }
        return SourceFingerprint(sizeBytes: size, modificationTime: mtime, edgeHash: String(format: "%016llx", hash.value))
    }
}

/// 64-bit FNV-1a: small, dependency-free, and plenty to tell file contents apart when size and mtime are
/// part of the identity too. Not a cryptographic hash (nothing here is adversarial).
public struct FNV1a64: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    public mutating func add<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        var hash = value
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        value = hash
    }

    public mutating func add(_ word: UInt64) {
        withUnsafeBytes(of: word.littleEndian) { add($0) }
    }
}
