import Foundation
import Frames
import Jobs
import JSONRPC
import Media
import Proxies

/// `generate`, `status`, `cancelGeneration`, `stats`, `clearCache`: proxy generation and the cache.
struct GenerateParams: Decodable, Sendable {
    var sourcePath: String
    var quality: QualityParam?
    var backgroundGeneration: Bool?
    var priority: Int?
    var overwrite: Bool?
    var scalePercent: Int?
}

struct GenerateResult: Encodable, Sendable {
    var jobId: String
    var status: String
    var sourcePath: String
    var quality: String
    var progressPercent: Double
    var joined: Bool
    var proxy: ProxyRecordPayload?
}

struct SlotParams: Decodable, Sendable {
    var sourcePath: String
    var quality: QualityParam?
}

struct NoProxyResult: Encodable, Sendable {
    var status = "none"
    var sourcePath: String
    var quality: String
}

struct CancelGenerationParams: Decodable, Sendable {
    var jobId: String?
    var sourcePath: String?
    var quality: QualityParam?
}

struct CancelGenerationResult: Encodable, Sendable {
    var jobId: String
    var cancelled: Bool
    var status: String
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

struct ClearCacheParams: Decodable, Sendable {
    enum Scope: String, EnumParam, Sendable { case proxies, waveforms, frames, all }
    var scope: Scope?
    var sourcePath: String?
}

struct ClearCacheResult: Encodable, Sendable {
    var deletedFiles: Int
    var freedBytes: Int64
    var keptInUse: Int
    /// Pictures dropped from the frame cache (scopes `frames` and `all`); their bytes are in `freedBytes`.
    var clearedFrames: Int
}

/// Either a record or "nothing known", encoded as one or the other.
enum StatusResult: Encodable, Sendable {
    case record(ProxyRecordPayload)
    case none(NoProxyResult)

    func encode(to encoder: Encoder) throws {
        switch self {
        case .record(let record): try record.encode(to: encoder)
        case .none(let none): try none.encode(to: encoder)
        }
    }
}

extension AuraMediaServer {
    func registerProxyMethods(in table: inout MethodTable) {
        table.register(GenerateRequest.self) { [self] params, context in
            try requireSourcePath(params.sourcePath)
            if let percent = params.scalePercent, !(25...75).contains(percent) {
                throw ResponseError.invalidParams("parameter 'scalePercent' must be between 25 and 75")
            }
            let service = try await proxyService()
            let preset = params.quality?.preset ?? defaultPreset
            let request = ProxyRequest(sourcePath: params.sourcePath, preset: preset,
                                       scalePercent: params.scalePercent ?? currentSettings.scalePercent,
                                       priority: params.priority ?? 0, overwrite: params.overwrite ?? false,
                                       background: params.backgroundGeneration ?? true)
            let ticket = try await service.generate(request, listener: progressReporter.listener(for: context.workDoneToken))
            if ticket.status == .completed, let record = ticket.record {
                return GenerateResult(ticket, proxy: record)
            }
            if request.background {
                return GenerateResult(ticket, proxy: nil)
            }
            do {
                let record = try await service.waitForCompletion(jobId: ticket.jobId)
                var result = GenerateResult(ticket, proxy: record)
                result.status = ProxyStatus.completed.rawValue
                result.progressPercent = 100
                return result
            } catch MediaError.cancelled {
                throw ResponseError.cancelled
            } catch let error as MediaError {
                throw error.generationError(jobId: ticket.jobId)
            }
        }

        table.register(StatusRequest.self) { [self] params, _ in
            try requireSourcePath(params.sourcePath)
            let preset = params.quality?.preset ?? defaultPreset
            let service = try await proxyService()
            let lookup = try await service.lookup(sourcePath: params.sourcePath, preset: preset)
            guard var record = lookup.visibleRecord else {
                return .none(NoProxyResult(sourcePath: params.sourcePath, quality: preset.rawValue))
            }
            if case .record(let current) = lookup, current.status == .completed {
                // Asking about a proxy is a use of it: it keeps it from eviction like `resolve` does.
                await service.markUsed(current, at: params.sourcePath)
                record.lastAccessedAt = Date()
            }
            return .record(ProxyRecordPayload(record))
        }

        table.register(CancelGenerationRequest.self) { [self] params, _ in
            let service = try await proxyService()
            switch (params.jobId, params.sourcePath) {
            case (let jobID?, nil):
                if let snapshot = await service.cancel(jobId: jobID) {
                    return CancelGenerationResult(jobId: snapshot.id, cancelled: snapshot.status == .cancelled, status: snapshot.status.rawValue)
                }
                guard let status = try await service.endedJobStatus(jobId: jobID) else { throw ProxyServiceError.jobNotFound(jobID) }
                return CancelGenerationResult(jobId: jobID, cancelled: false, status: status.rawValue)
            case (nil, let sourcePath?):
                try requireSourcePath(sourcePath)
                let preset = params.quality?.preset ?? defaultPreset
                if let snapshot = try await service.cancel(sourcePath: sourcePath, preset: preset) {
                    return CancelGenerationResult(jobId: snapshot.id, cancelled: snapshot.status == .cancelled, status: snapshot.status.rawValue)
                }
                let lookup = try await service.lookup(sourcePath: sourcePath, preset: preset)
                guard let record = lookup.visibleRecord, let jobID = record.jobId else {
                    throw ProxyServiceError.noJobForSlot(sourcePath: sourcePath, quality: preset.rawValue)
                }
                let status = try await service.endedJobStatus(jobId: jobID) ?? record.status
                return CancelGenerationResult(jobId: jobID, cancelled: false, status: status.rawValue)
            default:
                throw ResponseError.invalidParams("exactly one of 'jobId' and 'sourcePath' is required")
            }
        }

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
                byQuality: Dictionary(uniqueKeysWithValues: stats.byQuality.map {
                    ($0.key.rawValue, StatsResult.QualityTotals(count: $0.value.count, sizeBytes: $0.value.sizeBytes))
                }),
                cacheDirectory: currentSettings.cacheDirectory, waveformCache: waveformCache,
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
            return ClearCacheResult(deletedFiles: total.deletedFiles, freedBytes: total.freedBytes, keptInUse: total.keptInUse,
                                    clearedFrames: clearedFrames)
        }
    }

    /// -32602 for an empty or relative source path (relative paths would depend on the server's working directory).
    func requireSourcePath(_ path: String) throws {
        guard path.hasPrefix("/") else {
            throw ResponseError.invalidParams("parameter 'sourcePath' must be an absolute path, not \(path.debugDescription)")
        }
    }
}

extension GenerateResult {
    init(_ ticket: ProxyTicket, proxy: ProxyRecord?) {
        self.init(jobId: ticket.jobId, status: ticket.status.rawValue, sourcePath: ticket.sourcePath,
                  quality: ticket.quality.rawValue, progressPercent: ticket.progressPercent, joined: ticket.joined,
                  proxy: proxy.map(ProxyRecordPayload.init))
    }
}

extension MediaError {
    /// A failed generation as the client sees it: media causes keep their codes; libav failures are -32022
    /// with `data: {cause: "generationFailed", jobId}`.
    func generationError(jobId: String) -> ResponseError {
        if case .ffmpeg(let operation, _, let message) = self {
            return ResponseError(code: ServerErrorCode.generationFailed,
                                 message: "Proxy generation failed in \(operation): \(message)",
                                 data: .object(["cause": .string("generationFailed"), "jobId": .string(jobId)]))
        }
        return responseError
    }
}

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
        var payload = FrameCacheStatsPayload(entries: stats.entries, sizeBytes: stats.sizeBytes, limitBytes: stats.limitBytes,
                                             hits: stats.hits, misses: stats.misses,
                                             hitRate: lookups == 0 ? 0 : (Double(stats.hits) / Double(lookups) * 10_000).rounded() / 10_000,
                                             evictions: stats.evictions, preloaded: stats.preloaded, warmDecoders: stats.warmDecoders)
        let settings = currentSettings
        if let store = try? await frameFiles.service(for: settings.frameCacheDirectory, settings: settings),
           let usage = try? await BlockingQueue.run({ store.usage() }) {
            payload.cacheDirectory = store.directory.url.path
            payload.files = usage.files
            payload.fileBytes = usage.bytes
        }
        return payload
    }
}
