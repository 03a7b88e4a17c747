import JSONRPC
import Proxies

/// The handlers of the methods over every cache: `stats` and `clearCache`.
extension AuraMediaServer {
    func registerCacheMethods(in table: inout MethodTable) {
        table.register(StatsRequest.self) { [self] _, _ in
            let stats = try await proxyService().stats()
            var waveformCache: StatsResult.WaveformCacheStats?
            if let waveforms = try? await waveformService(), let usage = try? await waveforms.usage() {
                waveformCache = .init(cacheDirectory: waveforms.directory.url.path, files: usage.files, sizeBytes: usage.bytes)
            }
            return StatsResult(
                totalProxies: stats.totalProxies, totalCacheSizeBytes: stats.totalCacheSizeBytes,
                totalSourceSizeBytes: stats.totalSourceSizeBytes,
                compressionRatio: (stats.compressionRatio * 10_000).rounded() / 10_000,
                spaceSavedPercent: (stats.spaceSavedPercent * 100).rounded() / 100,
                cacheLimitBytes: stats.cacheLimitBytes, queuedJobs: stats.queuedJobs, runningJobs: stats.runningJobs,
                byQuality: Dictionary(
                    uniqueKeysWithValues: stats.byQuality.map {
                        ($0.key.rawValue, StatsResult.QualityTotals(count: $0.value.count, sizeBytes: $0.value.sizeBytes))
                    }),
                segmentsSizeBytes: stats.segmentsSizeBytes, cacheDirectory: currentSettings.cacheDirectory, waveformCache: waveformCache,
                frameCache: await frameCacheStats())
        }

        table.register(ClearCacheRequest.self) { [self] params, _ in
            if let sourcePath = params.sourcePath { try requireSourcePath(sourcePath) }
            var total = ClearResult()
            let scope = params.scope ?? .proxies
            if scope == .proxies || scope == .all {
                total = try await proxyService().clear(sourcePath: params.sourcePath)
            }
            if scope == .waveforms || scope == .all {
                let cleared = try await waveformService().clear(sourcePath: params.sourcePath)
                total.deletedFiles += cleared.files
                total.freedBytes += cleared.bytes
                total.keptInUse += cleared.kept
            }
            var clearedFrames = 0
            if scope == .frames || scope == .all {
                // Memory, delivered files, warm decoders and preloading: the next request is cold. Pictures of
                // other sources go too (the cache is small and quickly refilled); `sourcePath` narrows the other scopes.
                let cleared = await frames.clear()
                clearedFrames = cleared.entries
                total.freedBytes += Int64(cleared.bytes)
                total.deletedFiles += cleared.files
            }
            return ClearCacheResult(
                deletedFiles: total.deletedFiles, freedBytes: total.freedBytes, keptInUse: total.keptInUse,
                clearedFrames: clearedFrames)
        }
    }
}
