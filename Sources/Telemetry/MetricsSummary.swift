/// The numbers `getMetricsSummary` reports, over the telemetry window (`Telemetry.windowSeconds`). Optional members
/// are absent when nothing was measured in the window.
public struct MetricsSummary: Encodable, Sendable, Equatable {
    public var windowSeconds: Double
    public var playbackFps: PlaybackFps
    public var scrubLatencyMs: Latency
    /// Where scrub latency and the cache hit rate come from: the client's reports when it sends them, otherwise
    /// the server's own `requestFrame` measurements ("server"), or "none".
    public var scrubLatencySource: String
    public var cacheHitRate: Double?
    public var cacheHitRateSource: String
    public var droppedFrames: Int
    public var frameCache: FrameCache
    public var waveformCache: WaveformCache
    public var proxyGeneration: ProxyGeneration
    public var methods: [String: MethodLatency]
    public var targets: Targets
    public var status: [String: TargetStatus]
    public var suggestions: [String]

    public struct PlaybackFps: Encodable, Sendable, Equatable {
        /// The latest report's value.
        public var current: Double?
        /// The 5th percentile over the window (the slow moments).
        public var p5: Double?
        /// The median over the window (what the status is judged on).
        public var p50: Double?
        public var reports: Int
    }

    public struct Latency: Encodable, Sendable, Equatable {
        public var p50: Double?
        public var p95: Double?
        public var p99: Double?
        public var samples: Int
    }

    public struct MethodLatency: Encodable, Sendable, Equatable {
        public var count: Int
        public var errors: Int
        public var p50: Double
        public var p95: Double
        public var p99: Double
    }

    public struct FrameCache: Encodable, Sendable, Equatable {
        public var requests: Int
        public var hits: Int
        public var hitRate: Double?
        public var latencyMs: Latency
        public var entries: Int
        public var sizeBytes: Int64
        public var limitBytes: Int64
        public var preloading: Int
    }

    public struct WaveformCache: Encodable, Sendable, Equatable {
        public var windows: Int
        public var hits: Int
        public var hitRate: Double?
        public var latencyMs: Latency
        public var sizeBytes: Int64?
        public var analysesRunning: Int
    }

    public struct ProxyGeneration: Encodable, Sendable, Equatable {
        public var completed: Int
        public var failed: Int
        public var cancelled: Int
        /// Mean encoding speed of the proxies finished in the window.
        public var framesPerSecond: Double?
        /// Mean of media seconds per wall second of the proxies finished in the window (1 = realtime).
        public var realtimeFactor: Double?
        public var queued: Int
        public var running: Int
        public var cacheSizeBytes: Int64
        public var cacheLimitBytes: Int64
        public var cacheUsage: Double
    }

    public struct Targets: Encodable, Sendable, Equatable {
        public var playbackFps: Double = 24
        public var scrubLatencyMs: Double = 50
        public var cacheHitRate: Double = 0.5
        public var proxyRealtimeFactor: Double = 1
        /// Not in the guide's list: a proxy cache this full starts evicting proxies that will be wanted again.
        public var proxyCacheUsage: Double = 0.9
        public init() {}
    }
}

/// How a target fares over the window.
public enum TargetStatus: String, Encodable, Sendable {
    case ok
    case warning
    case noData = "no data"
}

/// The targets judged, by the name used in `targets` and `status`.
public enum TelemetryTarget: String, CaseIterable, Sendable {
    case playbackFps, scrubLatencyMs, cacheHitRate, proxyRealtimeFactor, proxyCacheUsage
}

/// What the server knows right now that the telemetry does not record: queue depths and cache sizes.
public struct TelemetryGauges: Sendable {
    public var proxyQueued = 0
    public var proxyRunning = 0
    public var proxyCacheBytes: Int64 = 0
    public var proxyCacheLimitBytes: Int64 = 0
    public var frameEntries = 0
    public var frameBytes: Int64 = 0
    public var frameLimitBytes: Int64 = 0
    public var framePreloading = 0
    public var waveformCacheBytes: Int64?
    public var waveformAnalyses = 0
    public init() {}
}

/// One `telemetry/report` from the client; every member optional.
public struct ClientReport: Sendable {
    public var playbackFps: Double?
    public var scrubLatencyMs: Double?
    public var droppedFrames: Int?
    public var cacheHit: Bool?
    public init(playbackFps: Double? = nil, scrubLatencyMs: Double? = nil, droppedFrames: Int? = nil, cacheHit: Bool? = nil) {
        self.playbackFps = playbackFps
        self.scrubLatencyMs = scrubLatencyMs
        self.droppedFrames = droppedFrames
        self.cacheHit = cacheHit
    }
}
