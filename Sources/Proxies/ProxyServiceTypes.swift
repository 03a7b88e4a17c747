import Foundation
import Media

/// Tunables of the proxy service that may change while it runs.
public struct ProxyServiceConfiguration: Sendable, Equatable {
    /// Completed proxies beyond this many bytes are evicted, least recently used first, down to 90 %.
    public var cacheLimitBytes: Int64
    /// How many jobs run at once.
    public var maxConcurrentJobs: Int
    /// Whether to try hardware H.264 encoders.
    public var hardwareAcceleration: HardwareAcceleration

    public init(cacheLimitBytes: Int64 = 10 << 30, maxConcurrentJobs: Int = 1, hardwareAcceleration: HardwareAcceleration = .off) {
        self.cacheLimitBytes = cacheLimitBytes
        self.maxConcurrentJobs = maxConcurrentJobs
        self.hardwareAcceleration = hardwareAcceleration
    }
}

/// The answer to a generation request: the job that will make (or made) the proxy.
public struct ProxyTicket: Sendable, Equatable {
    public var jobId: String
    public var status: ProxyStatus
    public var sourcePath: String
    public var quality: ProxyQuality
    public var progressPercent: Double
    /// True when the request joined a job that was already queued or running.
    public var joined: Bool
    /// The finished proxy, when `status == .completed`.
    public var record: ProxyRecord?
    /// How many parts (segments, the audio) of an earlier, unfinished attempt at this proxy are kept and reused.
    public var resumedSegments: Int = 0
}

/// What the catalogue knows about a source at one quality.
public enum ProxyLookup: Sendable, Equatable {
    /// Nothing: never requested (or cleared).
    case none
    /// A queued or running job, of this process or of another one sharing the cache (its record carries live
    /// progress).
    case active(ProxyRecord, ProxyJobSnapshot)
    /// A record for the source's current content: completed, failed or cancelled.
    case record(ProxyRecord)
    /// A record made from this path when it held other content: the source changed since.
    case stale(ProxyRecord)

    /// The record with the status a client should see.
    public var visibleRecord: ProxyRecord? {
        switch self {
        case .none: return nil
        case .active(let record, _), .record(let record): return record
        case .stale(var record):
            record.status = .stale
            return record
        }
    }
}

/// Totals over completed proxies, matching the files on disk.
public struct ProxyCacheStats: Sendable, Equatable {
    public struct QualityTotals: Sendable, Equatable {
        public var count: Int
        public var sizeBytes: Int64
    }
    public var totalProxies: Int
    public var totalCacheSizeBytes: Int64
    public var totalSourceSizeBytes: Int64
    public var cacheLimitBytes: Int64
    public var queuedJobs: Int
    public var runningJobs: Int
    public var byQuality: [ProxyQuality: QualityTotals]
    /// The bytes of proxies not yet joined: the parts of proxies in the making and those kept for resuming (their
    /// segments folders). The cache limit counts them with the completed proxies.
    public var segmentsSizeBytes: Int64 = 0

    /// totalCacheSizeBytes / totalSourceSizeBytes; 0 without sources.
    public var compressionRatio: Double {
        totalSourceSizeBytes > 0 ? Double(totalCacheSizeBytes) / Double(totalSourceSizeBytes) : 0
    }
    /// (1 − compressionRatio) × 100; 0 without sources.
    public var spaceSavedPercent: Double {
        totalSourceSizeBytes > 0 ? (1 - compressionRatio) * 100 : 0
    }
}

/// What `clear` removed, and what it left because another process uses it.
public struct ClearResult: Sendable, Equatable {
    public var deletedFiles: Int
    public var freedBytes: Int64
    /// Proxies left in place: another process is generating them, or handed them out in the last minute.
    public var keptInUse: Int
    public init(deletedFiles: Int = 0, freedBytes: Int64 = 0, keptInUse: Int = 0) {
        self.deletedFiles = deletedFiles
        self.freedBytes = freedBytes
        self.keptInUse = keptInUse
    }
}

/// Errors of the proxy service that are not about media.
public enum ProxyServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    case jobNotFound(String)
    /// No job (active or recorded) for a source at a quality.
    case noJobForSlot(sourcePath: String, quality: ProxyQuality)
    /// The job was cancelled because a request with other sizing took its slot.
    case replaced(jobId: String, by: String)
    /// No proxy is made: the source's video is no larger than the quality's box (`ProxyService.notNeededReason`), and
    /// the request did not say `force`. Not a failure: the protocol answers it as a result.
    case notNeeded(reason: String)

    public var description: String {
        switch self {
        case .jobNotFound(let id): return "No proxy job \(id) is known."
        case .noJobForSlot(let path, let quality): return "No \(quality) proxy job is known for \(path)."
        case .replaced(let id, let newId): return "Proxy job \(id) was replaced by job \(newId), which makes the slot's proxy with other sizing."
        case .notNeeded(let reason): return "No proxy is needed: \(reason)."
        }
    }
}
