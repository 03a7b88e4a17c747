import Foundation
import GRDB
import Jobs
import MediaCache

/// Where a proxy is in its life. `stale` is never stored: it is how a record looks from a source path whose
/// current content no longer matches the record's fingerprint.
public enum ProxyStatus: String, Sendable, Codable, CaseIterable {
    case queued, generating, completed, failed, cancelled, stale

    /// A job's status in the catalogue's words: the one place a running job becomes `generating`.
    public init(_ status: JobStatus) {
        switch status {
        case .queued: self = .queued
        case .running: self = .generating
        case .completed: self = .completed
        case .failed: self = .failed
        case .cancelled: self = .cancelled
        }
    }
}

/// One row of the catalogue: a proxy (or an attempt at one) for one source content and one quality.
///
/// Invariant: `status == .completed` only after the proxy file was fully written and renamed into place, so
/// a completed record always names a complete file (startup reconciliation drops records whose file vanished).
public struct ProxyRecord: Sendable, Equatable, Codable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "proxies"

    public var id: Int64?
    /// The path the source was last seen at.
    public var sourcePath: String
    /// `SourceFingerprint.key` of the source content.
    public var sourceFingerprint: String
    public var sourceSizeBytes: Int64
    public var sourceModificationTime: Double
    public var sourceEdgeHash: String
    public var quality: ProxyQuality
    /// When set, the proxy was scaled by this percentage instead of fitted to the quality's box.
    public var scalePercent: Int?
    /// The final proxy file (inside the cache directory); exists only when completed.
    public var proxyPath: String
    public var width: Int
    public var height: Int
    public var videoBitRate: Int
    public var audioBitRate: Int?
    public var durationSeconds: Double
    public var frameRate: Double?
    public var hasAudio: Bool
    public var videoEncoder: String?
    /// Whether the source was HDR (PQ, HLG) and the proxy's pictures were tone-mapped to SDR BT.709.
    public var toneMapped: Bool = false
    /// Whether the source was interlaced and the proxy's pictures were deinterlaced (one per source frame).
    public var deinterlaced: Bool = false
    /// Which picture processing made the proxy (`Transcoder.pictureVersion`); nil for proxies made before colour
    /// management and deinterlacing until `ProxyStore.isCurrent` has checked them against their source once (then
    /// the current version, or 0 when the source needs processing they lack).
    public var pictureVersion: Int? = nil
    public var proxySizeBytes: Int64
    /// How many segments the proxy is made of (`SegmentPlan`; 0 before it is planned), and how many are done.
    public var segmentCount: Int = 0
    public var segmentsCompleted: Int = 0
    /// The time ranges (seconds of the proxy's timeline, `[start, end]`, merged, in order) its finished segments
    /// cover: the whole file once completed.
    public var coverage: [[Double]] = []
    public var status: ProxyStatus
    public var progressPercent: Double
    public var error: String?
    public var createdAt: Date
    public var lastAccessedAt: Date
    /// The job that produced (or is producing) the proxy.
    public var jobId: String?
    /// The `ProcessLease` id of the process whose job made (or is making) the proxy.
    public var ownerId: String? = nil

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    /// The record of a slot before its proxy exists: the planned facts, sizes 0.
    static func planned(
        _ slot: ProxySlot, sourcePath: String, fingerprint: SourceFingerprint, proxyPath: String,
        scalePercent: Int?, durationSeconds: Double, status: ProxyStatus, jobId: String, ownerId: String,
        at date: Date
    ) -> ProxyRecord {
        ProxyRecord(
            id: nil, sourcePath: sourcePath, sourceFingerprint: slot.fingerprintKey, sourceSizeBytes: fingerprint.sizeBytes,
            sourceModificationTime: fingerprint.modificationTime, sourceEdgeHash: fingerprint.edgeHash, quality: slot.quality,
            scalePercent: scalePercent, proxyPath: proxyPath, width: 0, height: 0, videoBitRate: slot.quality.videoBitRate,
            audioBitRate: nil, durationSeconds: durationSeconds, frameRate: nil, hasAudio: false, videoEncoder: nil,
            proxySizeBytes: 0, status: status, progressPercent: 0, error: nil, createdAt: date, lastAccessedAt: date,
            jobId: jobId, ownerId: ownerId)
    }

    /// The (content, quality) slot the record fills.
    var slot: ProxySlot {
        ProxySlot(fingerprintKey: sourceFingerprint, quality: quality)
    }

    /// The source's fingerprint as recorded.
    public var fingerprint: SourceFingerprint {
        SourceFingerprint(sizeBytes: sourceSizeBytes, modificationTime: sourceModificationTime, edgeHash: sourceEdgeHash)
    }
}
