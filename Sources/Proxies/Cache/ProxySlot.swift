import Foundation
import MediaCache

/// One source content at one quality: the unit the catalogue keeps one record for, a job makes, and the
/// cross-process `WorkLock` protects. A second request for the same slot joins its job instead of starting
/// another; another process's request for it waits for the holder of its lock and reuses the result.
public struct ProxySlot: Hashable, Sendable {
    /// `SourceFingerprint.key` of the source content.
    public var fingerprintKey: String
    public var quality: ProxyQuality

    public init(fingerprintKey: String, quality: ProxyQuality) {
        self.fingerprintKey = fingerprintKey
        self.quality = quality
    }

    /// The `WorkLock` held by whoever writes this slot's files or changes its record's ownership.
    var lockName: String { "proxy-\(fingerprintKey)-\(quality)" }

    /// The finished proxy's file name: named from the content, never from the source's name.
    var fileName: String { "\(fingerprintKey)-\(quality).mp4" }

    /// The folder (in `proxies/`) of the slot's segments while its proxy is made (`ProxySegmentBuild`); deleted
    /// with the slot's record, or once the proxy is joined.
    var segmentsFolder: String { "\(fingerprintKey)-\(quality).segments" }

    /// The `WorkLock` held by whoever makes the part whose file in the segments folder is `partFile` (a video segment
    /// or the audio, `ProxySegmentBuild.fileName(of:)`): the owner of the slot's lock and the helpers of other
    /// processes each take a part's lock before making it, so no part is made twice.
    func partLockName(partFile: String) -> String { "\(lockName).\(partFile)" }

    /// The lock of the part a file in the segments folder belongs to: its finished file (`<key>-00003.m4s`,
    /// `<key>-audio.m4a`) or a partial one (`<key>-00003.m4s.<job>.partial`). Nil for other files (HLS copies and
    /// playlists, which only the slot's owner writes).
    func partLockName(ofFileInSegments name: String) -> String? {
        let pieces = name.split(separator: ".", omittingEmptySubsequences: false)
        guard pieces.count >= 2, pieces[1] == "m4s" || pieces[1] == "m4a", !pieces[0].contains("-hls-") else { return nil }
        return partLockName(partFile: pieces[0] + "." + pieces[1])
    }

    /// The slot whose segments folder `name` is; nil for other names.
    static func parse(segmentsFolder name: String) -> ProxySlot? {
        guard name.hasSuffix(".segments") else { return nil }
        return parse(fileName: String(name.dropLast(".segments".count)) + ".mp4").flatMap { $0.partialOfJob == nil ? $0.slot : nil }
    }

    /// Where job `jobId` writes before the atomic rename. The `.partial` marker lets cleanup find leftovers.
    func partialFileName(jobId: String) -> String { "\(fingerprintKey)-\(quality).\(jobId).partial.mp4" }

    /// The slot a file in `proxies/` belongs to, and the job for a partial file; nil for other names.
    static func parse(fileName name: String) -> (slot: ProxySlot, partialOfJob: String?)? {
        guard name.hasSuffix(".mp4"), let dash = name.firstIndex(of: "-") else { return nil }
        let fingerprint = String(name[..<dash])
        guard fingerprint.count == 16, fingerprint.allSatisfy(\.isHexDigit) else { return nil }
        let rest = name[name.index(after: dash)...].dropLast(4)  // "<quality>" or "<quality>.<job>.partial"
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard let quality = ProxyQuality(rawValue: String(parts[0])) else { return nil }
        let slot = ProxySlot(fingerprintKey: fingerprint, quality: quality)
        switch parts.count {
        case 1: return (slot, nil)
        case 3 where parts[2] == "partial" && !parts[1].isEmpty: return (slot, String(parts[1]))
        default: return nil
        }
    }
}

extension CacheDirectory {
    /// The area of finished proxies and in-progress (`.partial.mp4`) outputs.
    static let proxiesArea = "proxies"

    var proxiesURL: URL { areaURL(Self.proxiesArea) }

    func proxyURL(_ slot: ProxySlot) -> URL { proxiesURL.appendingPathComponent(slot.fileName) }

    func partialURL(_ slot: ProxySlot, jobId: String) -> URL {
        proxiesURL.appendingPathComponent(slot.partialFileName(jobId: jobId))
    }

    /// Opens a proxy cache: the directory checked (created when missing) with its `proxies/` area.
    public static func prepareProxyCache(path: String) throws -> CacheDirectory {
        try prepare(path: path, areas: [proxiesArea])
    }
}

/// Size of a file in bytes, or nil when it does not exist.
func fileSize(_ url: URL) -> Int64? {
    var info = stat()
    return stat(url.path, &info) == 0 ? Int64(info.st_size) : nil
}
