import Frames

/// `stats.frameCache`.
struct FrameCacheStatsPayload: Encodable, Sendable {
    var entries: Int
    var sizeBytes: Int
    var limitBytes: Int
    var hits: Int
    var misses: Int
    /// hits / (hits + misses), 0 before any request.
    var hitRate: Double
    var evictions: Int
    var preloaded: Int
    var warmDecoders: Int
    /// Where delivered files go, with this process's files in it (omitted when the directory is unusable).
    var cacheDirectory: String?
    var files: Int?
    var fileBytes: Int64?
}

extension AuraMediaServer {
    func frameCacheStats() async -> FrameCacheStatsPayload {
        let stats = frames.stats()
        let lookups = stats.hits + stats.misses
        var payload = FrameCacheStatsPayload(
            entries: stats.entries, sizeBytes: stats.sizeBytes, limitBytes: stats.limitBytes,
            hits: stats.hits, misses: stats.misses,
            hitRate: lookups == 0 ? 0 : (Double(stats.hits) / Double(lookups) * 10_000).rounded() / 10_000,
            evictions: stats.evictions, preloaded: stats.preloaded, warmDecoders: stats.warmDecoders)
        if let usage = await frames.fileUsage() {
            payload.cacheDirectory = usage.directory
            payload.files = usage.files
            payload.fileBytes = usage.bytes
        }
        return payload
    }
}
