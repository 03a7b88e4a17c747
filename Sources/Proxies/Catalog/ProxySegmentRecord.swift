import Foundation
import GRDB

/// A finished segment of a proxy in the making: one row per part (`video` segments by index, the `audio`) of one
/// slot made with one set of encoder settings.
///
/// Identity: slot, `settingsKey` (`ProxySegmentSettings.key`: this version's picture processing, the size, the bit
/// rates, the GOP and the encoder), part and index. Segments of other settings are never joined into this proxy.
/// A row exists only for a file that was written completely, fsynced and renamed into place; `sizeBytes` and
/// `checksum` tell a damaged file (truncated, or bytes changed) from it.
public struct ProxySegmentRecord: Sendable, Equatable, Codable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "proxySegments"

    public enum Part: String, Sendable, Codable {
        case video, audio
    }

    public var sourceFingerprint: String
    public var quality: ProxyQuality
    public var settingsKey: String
    public var part: Part
    public var segmentIndex: Int
    public var startSlot: Int64
    /// Nil for the last video segment (to the end) and for the audio.
    public var endSlot: Int64?
    /// The file's name in the slot's segments folder.
    public var fileName: String
    public var sizeBytes: Int64
    public var checksum: String
    /// The frames a video segment holds (0 for the audio) and the proxy's frame rate: what the time it covers is
    /// read from, on every lookup (kept out of `facts` so that reading it decodes no JSON).
    public var frameCount: Int64
    public var frameRate: Double
    /// What the part's encode reported (`SegmentFacts`), as JSON.
    public var facts: String
    public var jobId: String?
    public var createdAt: Date

    /// The seconds of the proxy's timeline a video segment covers; nil for the audio (and an empty segment).
    public var timeSpan: Range<Double>? {
        guard part == .video, frameRate > 0, frameCount > 0 else { return nil }
        return Double(startSlot) / frameRate..<Double(startSlot + frameCount) / frameRate
    }

    /// The slot the segment belongs to.
    var slot: ProxySlot { ProxySlot(fingerprintKey: sourceFingerprint, quality: quality) }
}
