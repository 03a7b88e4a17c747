import JSONRPC

/// The proxy methods: each name tied to its params and result (protocol/spec.md §8).

/// `generate` → a job ticket, or the finished proxy when it waited.
enum GenerateRequest: RequestType {
    typealias Params = GenerateParams
    typealias Result = GenerateResult
    static let method = "generate"
}

/// `status` → the catalogue record of a source's proxy at a quality, or `{status: "none"}`.
enum StatusRequest: RequestType {
    typealias Params = SlotParams
    typealias Result = StatusResult
    static let method = "status"
}

/// `cancelGeneration` → what became of the job.
enum CancelGenerationRequest: RequestType {
    typealias Params = CancelGenerationParams
    typealias Result = CancelGenerationResult
    static let method = "cancelGeneration"
}

/// `stats` → the guide's cache statistics.
enum StatsRequest: RequestType {
    typealias Params = NoParams
    typealias Result = StatsResult
    static let method = "stats"
}

/// `clearCache` → files deleted, bytes freed, files kept because they are in use.
enum ClearCacheRequest: RequestType {
    typealias Params = ClearCacheParams
    typealias Result = ClearCacheResult
    static let method = "clearCache"
}
