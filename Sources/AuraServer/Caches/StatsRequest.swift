import JSONRPC

/// `stats` → the guide's cache statistics, with the waveform and frame caches.
struct StatsRequest: RequestType, ParamsIgnored {
    typealias Response = StatsResult
    static let method = "stats"
}

struct StatsResult: Encodable, Sendable {
    struct QualityTotals: Encodable, Sendable {
        var count: Int
        var sizeBytes: Int64
    }
    var totalProxies: Int
    var totalCacheSizeBytes: Int64
    var totalSourceSizeBytes: Int64
    var compressionRatio: Double
    var spaceSavedPercent: Double
    var cacheLimitBytes: Int64
    var queuedJobs: Int
    var runningJobs: Int
    var byQuality: [String: QualityTotals]
    var segmentsSizeBytes: Int64
    var cacheDirectory: String
    /// The waveform cache (omitted when its directory is unusable).
    var waveformCache: WaveformCacheStats?
    /// The frame cache: pictures in memory, counters, warm decoders, and the files delivered.
    var frameCache: FrameCacheStatsPayload

    struct WaveformCacheStats: Encodable, Sendable {
        var cacheDirectory: String
        var files: Int
        var sizeBytes: Int64
    }
}
