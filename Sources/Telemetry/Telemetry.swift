import Foundation
import Histogram
import Locking

/// Performance metrics kept in the process over a sliding window (setting `telemetryWindowSeconds`): request
/// latencies per method, frames and waveform windows served (latency, cache hits), proxy jobs (speed, failures),
/// and what the client reports (`telemetry/report`: playback FPS, scrub latency, dropped frames, cache hits).
/// Percentiles come from HdrHistograms (1 % precision), one per step of the window, merged when read.
///
/// It judges the guide's targets (`summary`) and tells when a target starts being missed (`newEpisodes`): one
/// episode per miss, a new one only after the target was met again.
///
/// Lock: `state` guards everything; recording is a few additions, cheap enough for every request.
public final class Telemetry: Sendable {
    public typealias Clock = @Sendable () -> Double

    private struct Stats {
        var latency: SlidingHistogram
        var counts: SlidingSums  // [requests, hits or errors]
        init(window: Double, highest: UInt64 = 600_000_000) {
            latency = SlidingHistogram(windowSeconds: window, highest: highest)
            counts = SlidingSums(windowSeconds: window, width: 2)
        }
        mutating func reset(_ window: Double) {
            latency.reset(windowSeconds: window)
            counts.reset(windowSeconds: window)
        }
    }

    private struct State {
        var window: Double
        var methods: [String: Stats] = [:]
        var frames: Stats
        var waveforms: Stats
        var clientScrub: Stats
        var clientFps: SlidingHistogram
        var lastFps: Double?
        var clientCache: SlidingSums  // [lookups, hits]
        var dropped: SlidingSums
        var proxies: SlidingSums  // [completed, failed, cancelled, speed samples, fps sum, realtime sum]
        var withoutProxy: [String: (reason: String, at: Double)] = [:]
        var episodes: Set<TelemetryTarget> = []

        init(window: Double) {
            self.window = window
            frames = Stats(window: window)
            waveforms = Stats(window: window)
            clientScrub = Stats(window: window)
            clientFps = SlidingHistogram(windowSeconds: window, highest: 100_000)
            clientCache = SlidingSums(windowSeconds: window, width: 2)
            dropped = SlidingSums(windowSeconds: window, width: 1)
            proxies = SlidingSums(windowSeconds: window, width: 6)
        }

        mutating func reset(_ window: Double) {
            self = State(window: window)
        }
    }

    /// Lookups needed in the window before a cache hit rate is judged (the first scrubs of a session all miss).
    public static let minimumLookups = 10
    public static let defaultWindowSeconds = 60.0

    private let state: Mutex<State>
    private let now: Clock

    /// - Parameter clock: monotonic seconds (tests pass their own).
    public init(windowSeconds: Double = Telemetry.defaultWindowSeconds, clock: @escaping Clock = Telemetry.monotonic) {
        state = Mutex(State(window: windowSeconds))
        now = clock
    }

    public static let monotonic: Clock = {
        Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }

    public var windowSeconds: Double { state.withLock { $0.window } }

    /// A new window length: what was recorded is dropped (it was cut into steps of the old length).
    public func setWindow(seconds: Double) {
        state.withLock { if $0.window != seconds { $0.reset(seconds) } }
    }

    // MARK: - Recording

    /// A request answered (or failed) after `seconds`.
    public func recordRequest(method: String, seconds: Double, failed: Bool) {
        let t = now()
        state.withLock { state in
            if state.methods[method] == nil {
                guard state.methods.count < 256 else { return }  // the protocol has far fewer methods
                state.methods[method] = Stats(window: state.window)
            }
            state.methods[method]!.latency.record(Self.micros(seconds), at: t)
            state.methods[method]!.counts.add([1, failed ? 1 : 0], at: t)
        }
    }

    /// A picture served by `requestFrame`; `withoutProxy` says why the source was read when proxy mode is on
    /// (nil when a proxy was read, or proxy mode is off).
    public func recordFrame(seconds: Double, hit: Bool, path: String, withoutProxy: String?) {
        let t = now()
        state.withLock { state in
            state.frames.latency.record(Self.micros(seconds), at: t)
            state.frames.counts.add([1, hit ? 1 : 0], at: t)
            if let withoutProxy {
                if state.withoutProxy.count >= 64, state.withoutProxy[path] == nil,
                    let oldest = state.withoutProxy.min(by: { $0.value.at < $1.value.at })
                {
                    state.withoutProxy.removeValue(forKey: oldest.key)
                }
                state.withoutProxy[path] = (withoutProxy, t)
            } else {
                state.withoutProxy.removeValue(forKey: path)
            }
        }
    }

    /// A waveform window served (from the persisted analysis or the cache: `hit`; decoded for it: not).
    public func recordWaveformWindow(seconds: Double, hit: Bool) {
        let t = now()
        state.withLock { state in
            state.waveforms.latency.record(Self.micros(seconds), at: t)
            state.waveforms.counts.add([1, hit ? 1 : 0], at: t)
        }
    }

    public enum ProxyOutcome: Sendable { case completed, failed, cancelled }

    /// A proxy job that ended; speeds are given for proxies that were encoded (not for reused ones).
    public func recordProxyJob(_ outcome: ProxyOutcome, framesPerSecond: Double?, realtimeFactor: Double?) {
        let t = now()
        state.withLock { state in
            var values = [outcome == .completed ? 1.0 : 0, outcome == .failed ? 1 : 0, outcome == .cancelled ? 1 : 0, 0, 0, 0]
            if outcome == .completed, let framesPerSecond, let realtimeFactor, framesPerSecond > 0, realtimeFactor > 0 {
                values[3] = 1
                values[4] = framesPerSecond
                values[5] = realtimeFactor
            }
            state.proxies.add(values, at: t)
        }
    }

    /// One `telemetry/report`; values out of range (negative, not finite) are ignored.
    public func record(_ report: ClientReport) {
        let t = now()
        state.withLock { state in
            if let fps = report.playbackFps, fps.isFinite, fps >= 0 {
                state.clientFps.record(UInt64((fps * 100).rounded()), at: t)
                state.lastFps = fps
            }
            if let latency = report.scrubLatencyMs, latency.isFinite, latency >= 0 {
                state.clientScrub.latency.record(Self.micros(latency / 1000), at: t)
                state.clientScrub.counts.add([1, 0], at: t)
            }
            if let dropped = report.droppedFrames, dropped > 0 { state.dropped.add([Double(dropped)], at: t) }
            if let hit = report.cacheHit { state.clientCache.add([1, hit ? 1 : 0], at: t) }
        }
    }

    // MARK: - Reading

    /// Sources scrubbed lately from the source although proxy mode was on, with the reason, most recent first.
    public func sourcesScrubbedWithoutProxy() -> [(path: String, reason: String)] {
        let t = now()
        return state.withLock { state in
            state.withoutProxy.filter { t - $0.value.at <= state.window }
                .sorted { $0.value.at > $1.value.at }
                .map { ($0.key, $0.value.reason) }
        }
    }

    /// The numbers over the window, judged against the targets (`suggestions` is left empty: the server words them).
    public func summary(gauges: TelemetryGauges) -> MetricsSummary {
        let t = now()
        return state.withLock { state in Self.summary(state, gauges: gauges, at: t) }
    }

    /// The targets that start being missed in `summary` (each is reported once until it is met again).
    public func newEpisodes(in summary: MetricsSummary) -> [TelemetryTarget] {
        state.withLock { state in
            var started: [TelemetryTarget] = []
            for target in TelemetryTarget.allCases {
                switch summary.status[target.rawValue] ?? .noData {
                case .warning:
                    if state.episodes.insert(target).inserted { started.append(target) }
                case .ok:
                    state.episodes.remove(target)
                case .noData:
                    break  // not recovered: nothing was measured
                }
            }
            return started
        }
    }

    private static func summary(_ state: State, gauges: TelemetryGauges, at t: Double) -> MetricsSummary {
        let targets = MetricsSummary.Targets()
        // Playback.
        let fps = state.clientFps.merged(at: t)
        let playback = MetricsSummary.PlaybackFps(
            current: fps == nil ? nil : state.lastFps,
            p5: fps.map { Double($0.valueAtPercentile(5)) / 100 },
            p50: fps.map { Double($0.valueAtPercentile(50)) / 100 },
            reports: Int(fps?.totalCount ?? 0))
        // Scrubbing: the client's view when it reports one, else the server's.
        let frameLatency = latency(state.frames.latency.merged(at: t))
        let clientLatency = latency(state.clientScrub.latency.merged(at: t))
        let scrub = clientLatency.samples > 0 ? clientLatency : frameLatency
        let scrubSource = clientLatency.samples > 0 ? "client" : frameLatency.samples > 0 ? "server" : "none"
        let frameCounts = state.frames.counts.sums(at: t)
        let clientCache = state.clientCache.sums(at: t)
        let lookups = clientCache[0] > 0 ? clientCache : frameCounts
        let hitSource = clientCache[0] > 0 ? "client" : frameCounts[0] > 0 ? "server" : "none"
        let hitRate = lookups[0] > 0 ? lookups[1] / lookups[0] : nil
        let waveformCounts = state.waveforms.counts.sums(at: t)
        let proxies = state.proxies.sums(at: t)
        let speedSamples = proxies[3]
        let usage = gauges.proxyCacheLimitBytes > 0 ? Double(gauges.proxyCacheBytes) / Double(gauges.proxyCacheLimitBytes) : 0

        var methods: [String: MetricsSummary.MethodLatency] = [:]
        for (name, stats) in state.methods {
            guard let histogram = stats.latency.merged(at: t) else { continue }
            let counts = stats.counts.sums(at: t)
            methods[name] = .init(
                count: Int(counts[0]), errors: Int(counts[1]), p50: ms(histogram, 50), p95: ms(histogram, 95),
                p99: ms(histogram, 99))
        }

        var status: [String: TargetStatus] = [:]
        status[TelemetryTarget.playbackFps.rawValue] = playback.p50.map { $0 >= targets.playbackFps ? .ok : .warning } ?? .noData
        status[TelemetryTarget.scrubLatencyMs.rawValue] = scrub.p95.map { $0 < targets.scrubLatencyMs ? .ok : .warning } ?? .noData
        status[TelemetryTarget.cacheHitRate.rawValue] =
            lookups[0] >= Double(minimumLookups)
            ? (hitRate! >= targets.cacheHitRate ? .ok : .warning) : .noData
        status[TelemetryTarget.proxyRealtimeFactor.rawValue] =
            speedSamples > 0
            ? (proxies[5] / speedSamples >= targets.proxyRealtimeFactor ? .ok : .warning) : .noData
        status[TelemetryTarget.proxyCacheUsage.rawValue] =
            gauges.proxyCacheLimitBytes > 0
            ? (usage < targets.proxyCacheUsage ? .ok : .warning) : .noData

        return MetricsSummary(
            windowSeconds: state.window,
            playbackFps: playback,
            scrubLatencyMs: scrub,
            scrubLatencySource: scrubSource,
            cacheHitRate: hitRate.map { rounded($0, 4) },
            cacheHitRateSource: hitSource,
            droppedFrames: Int(state.dropped.sums(at: t)[0]),
            frameCache: .init(
                requests: Int(frameCounts[0]), hits: Int(frameCounts[1]),
                hitRate: frameCounts[0] > 0 ? rounded(frameCounts[1] / frameCounts[0], 4) : nil,
                latencyMs: frameLatency, entries: gauges.frameEntries, sizeBytes: gauges.frameBytes,
                limitBytes: gauges.frameLimitBytes, preloading: gauges.framePreloading),
            waveformCache: .init(
                windows: Int(waveformCounts[0]), hits: Int(waveformCounts[1]),
                hitRate: waveformCounts[0] > 0 ? rounded(waveformCounts[1] / waveformCounts[0], 4) : nil,
                latencyMs: latency(state.waveforms.latency.merged(at: t)),
                sizeBytes: gauges.waveformCacheBytes, analysesRunning: gauges.waveformAnalyses),
            proxyGeneration: .init(
                completed: Int(proxies[0]), failed: Int(proxies[1]), cancelled: Int(proxies[2]),
                framesPerSecond: speedSamples > 0 ? rounded(proxies[4] / speedSamples, 1) : nil,
                realtimeFactor: speedSamples > 0 ? rounded(proxies[5] / speedSamples, 2) : nil,
                queued: gauges.proxyQueued, running: gauges.proxyRunning,
                cacheSizeBytes: gauges.proxyCacheBytes, cacheLimitBytes: gauges.proxyCacheLimitBytes,
                cacheUsage: rounded(usage, 4)),
            methods: methods,
            targets: targets,
            status: status,
            suggestions: [])
    }

    private static func latency(_ histogram: Histogram<UInt32>?) -> MetricsSummary.Latency {
        guard let histogram else { return .init(p50: nil, p95: nil, p99: nil, samples: 0) }
        return .init(p50: ms(histogram, 50), p95: ms(histogram, 95), p99: ms(histogram, 99), samples: Int(histogram.totalCount))
    }

    /// A percentile of microseconds, in milliseconds (2 decimals).
    private static func ms(_ histogram: Histogram<UInt32>, _ percentile: Double) -> Double {
        rounded(Double(histogram.valueAtPercentile(percentile)) / 1000, 2)
    }

    private static func micros(_ seconds: Double) -> UInt64 {
        guard seconds.isFinite, seconds > 0 else { return 1 }
        return UInt64(min(seconds * 1e6, 1e12).rounded())
    }

    private static func rounded(_ value: Double, _ decimals: Int) -> Double {
        let scale = pow(10, Double(decimals))
        return (value * scale).rounded() / scale
    }
}
