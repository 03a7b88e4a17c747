import Foundation

/// A file's size and the FNV-1a hash of all its bytes: what tells a cached file that was cut short or changed from the
/// one recorded (not a defence against tampering: nothing here is adversarial).
public enum FileChecksum {
    /// The size and hash of the file at `url`, or nil when it cannot be read. Reads it all, 1 MiB at a time. Blocking.
    public static func of(_ url: URL) -> (sizeBytes: Int64, checksum: String)? {
        let fd = open(url.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var hash = FNV1a64()
        var size: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { break }
            hash.add(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            size += Int64(count)
        }
        return (size, String(format: "%016llx", hash.value))
    }
}
