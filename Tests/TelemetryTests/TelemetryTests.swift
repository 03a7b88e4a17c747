import Locking
import Telemetry
import Testing

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let seconds = Mutex(1000.0)
    var now: Double { seconds.withLock { $0 } }
    func advance(_ delta: Double) { seconds.withLock { $0 += delta } }
    var read: Telemetry.Clock { { [self] in now } }
}

/// Within the histograms' 1 % precision.
func close(_ value: Double?, _ expected: Double, file: String = #fileID, line: Int = #line) -> Bool {
    guard let value else { return false }
    return abs(value - expected) <= expected * 0.01 + 0.01
}

@Suite struct TelemetryTests {
    @Test func reportedLatenciesComeOutAsPercentiles() {
        let clock = ManualClock()
        let telemetry = Telemetry(windowSeconds: 60, clock: clock.read)
        for ms in (1...100).shuffled() {
            telemetry.record(ClientReport(scrubLatencyMs: Double(ms)))
        }
        let summary = telemetry.summary(gauges: TelemetryGauges())
        #expect(summary.scrubLatencySource == "client")
        #expect(summary.scrubLatencyMs.samples == 100)
        #expect(close(summary.scrubLatencyMs.p50, 50), "\(summary.scrubLatencyMs)")
        #expect(close(summary.scrubLatencyMs.p95, 95), "\(summary.scrubLatencyMs)")
        #expect(close(summary.scrubLatencyMs.p99, 99), "\(summary.scrubLatencyMs)")
        #expect(summary.status["scrubLatencyMs"] == .warning, "p95 95 ms is over the 50 ms target")
    }

    @Test func playbackFpsCurrentFifthPercentileAndMedian() {
        let clock = ManualClock()
        let telemetry = Telemetry(windowSeconds: 60, clock: clock.read)
        // 90 reports at 30 FPS and 10 stutters at 12 FPS, then the latest at 29.
        for index in 0..<100 { telemetry.record(ClientReport(playbackFps: index % 10 == 0 ? 12 : 30)) }
        telemetry.record(ClientReport(playbackFps: 29))
        let fps = telemetry.summary(gauges: TelemetryGauges()).playbackFps
        #expect(fps.current == 29)
        #expect(fps.reports == 101)
        #expect(close(fps.p5, 12), "\(fps)")
        #expect(close(fps.p50, 30), "\(fps)")
        #expect(telemetry.summary(gauges: TelemetryGauges()).status["playbackFps"] == .ok)
    }

    @Test func valuesLeaveTheWindow() {
        let clock = ManualClock()
        let telemetry = Telemetry(windowSeconds: 60, clock: clock.read)
        telemetry.record(ClientReport(playbackFps: 10, scrubLatencyMs: 200, droppedFrames: 4, cacheHit: false))
        telemetry.recordRequest(method: "ping", seconds: 0.002, failed: false)
        clock.advance(30)
        var summary = telemetry.summary(gauges: TelemetryGauges())
        #expect(summary.playbackFps.reports == 1 && summary.droppedFrames == 4 && summary.methods["ping"]?.count == 1)
        clock.advance(31)  // 61 s later: every step of the window is newer than the values
        summary = telemetry.summary(gauges: TelemetryGauges())
        #expect(summary.playbackFps.reports == 0 && summary.playbackFps.current == nil)
        #expect(summary.scrubLatencyMs.samples == 0 && summary.scrubLatencySource == "none")
        #expect(summary.droppedFrames == 0 && summary.cacheHitRate == nil && summary.methods.isEmpty)
        for target in ["playbackFps", "scrubLatencyMs", "cacheHitRate", "proxyRealtimeFactor", "proxyCacheUsage"] {
            #expect(summary.status[target] == .noData, "\(target)")
        }
    }

    @Test func aShorterWindowStartsEmpty() {
        let clock = ManualClock()
        let telemetry = Telemetry(windowSeconds: 60, clock: clock.read)
        telemetry.record(ClientReport(playbackFps: 30))
        telemetry.setWindow(seconds: 10)
        #expect(telemetry.summary(gauges: TelemetryGauges()).playbackFps.reports == 0)
        telemetry.record(ClientReport(playbackFps: 30))
        clock.advance(9)
        #expect(telemetry.summary(gauges: TelemetryGauges()).playbackFps.reports == 1)
        clock.advance(2)
        #expect(telemetry.summary(gauges: TelemetryGauges()).playbackFps.reports == 0)
    }

    @Test func oneEpisodePerMissUntilTheTargetIsMetAgain() {
        let clock = ManualClock()
        let telemetry = Telemetry(windowSeconds: 10, clock: clock.read)
        func episodes() -> [TelemetryTarget] { telemetry.newEpisodes(in: telemetry.summary(gauges: TelemetryGauges())) }
        #expect(episodes() == [], "no data is no episode")
        telemetry.record(ClientReport(playbackFps: 15))
        #expect(episodes() == [.playbackFps])
        for _ in 0..<20 {
            telemetry.record(ClientReport(playbackFps: 14))
            #expect(episodes() == [], "still the same episode")
        }
        clock.advance(11)
        #expect(episodes() == [], "no data does not end the episode")
        telemetry.record(ClientReport(playbackFps: 14))
        #expect(episodes() == [], "the episode goes on after a gap")
        for _ in 0..<3 { telemetry.record(ClientReport(playbackFps: 30)) }
        #expect(episodes() == [], "recovered (median 30)")
        for _ in 0..<5 { telemetry.record(ClientReport(playbackFps: 10)) }
        #expect(episodes() == [.playbackFps], "a new episode after the recovery")
    }

    @Test func cacheHitRateNeedsTenLookupsAndPrefersTheClient() {
        let clock = ManualClock()
        let telemetry = Telemetry(windowSeconds: 60, clock: clock.read)
        for index in 0..<9 { telemetry.recordFrame(seconds: 0.01, hit: index < 2, path: "/a.mp4", withoutProxy: nil) }
        var summary = telemetry.summary(gauges: TelemetryGauges())
        #expect(summary.cacheHitRateSource == "server" && close(summary.cacheHitRate, 2.0 / 9))
        #expect(summary.status["cacheHitRate"] == .noData, "9 lookups are too few to judge")
        telemetry.recordFrame(seconds: 0.01, hit: false, path: "/a.mp4", withoutProxy: nil)
        summary = telemetry.summary(gauges: TelemetryGauges())
        #expect(summary.status["cacheHitRate"] == .warning)
        #expect(summary.frameCache.requests == 10 && summary.frameCache.hits == 2)
        #expect(summary.scrubLatencySource == "server" && close(summary.scrubLatencyMs.p50, 10))
        for index in 0..<12 { telemetry.record(ClientReport(cacheHit: index < 9)) }
        summary = telemetry.summary(gauges: TelemetryGauges())
        #expect(summary.cacheHitRateSource == "client" && summary.cacheHitRate == 0.75)
        #expect(summary.status["cacheHitRate"] == .ok)
    }

    @Test func proxyJobsAndCacheUsage() {
        let clock = ManualClock()
        let telemetry = Telemetry(windowSeconds: 60, clock: clock.read)
        telemetry.recordProxyJob(.completed, framesPerSecond: 50, realtimeFactor: 2)
        telemetry.recordProxyJob(.completed, framesPerSecond: 10, realtimeFactor: 0.4)
        telemetry.recordProxyJob(.completed, framesPerSecond: nil, realtimeFactor: nil)  // reused: no speed
        telemetry.recordProxyJob(.failed, framesPerSecond: nil, realtimeFactor: nil)
        telemetry.recordProxyJob(.cancelled, framesPerSecond: nil, realtimeFactor: nil)
        var gauges = TelemetryGauges()
        gauges.proxyCacheBytes = 95
        gauges.proxyCacheLimitBytes = 100
        gauges.proxyQueued = 3
        let summary = telemetry.summary(gauges: gauges)
        let proxies = summary.proxyGeneration
        #expect(proxies.completed == 3 && proxies.failed == 1 && proxies.cancelled == 1 && proxies.queued == 3)
        #expect(proxies.framesPerSecond == 30 && proxies.realtimeFactor == 1.2)
        #expect(summary.status["proxyRealtimeFactor"] == .ok)
        #expect(proxies.cacheUsage == 0.95 && summary.status["proxyCacheUsage"] == .warning)
    }

    @Test func methodLatenciesAndErrors() {
        let clock = ManualClock()
        let telemetry = Telemetry(windowSeconds: 60, clock: clock.read)
        for ms in 1...10 { telemetry.recordRequest(method: "probe", seconds: Double(ms) / 1000, failed: ms > 8) }
        let probe = telemetry.summary(gauges: TelemetryGauges()).methods["probe"]
        #expect(probe?.count == 10 && probe?.errors == 2)
        #expect(close(probe?.p50, 5) && close(probe?.p99, 10), "\(String(describing: probe))")
    }

    @Test func sourcesScrubbedWithoutProxyAreRemembered() {
        let clock = ManualClock()
        let telemetry = Telemetry(windowSeconds: 60, clock: clock.read)
        telemetry.recordFrame(seconds: 0.1, hit: false, path: "/a.mp4", withoutProxy: "it has no Preview proxy")
        clock.advance(1)
        telemetry.recordFrame(seconds: 0.1, hit: false, path: "/b.mp4", withoutProxy: "its Preview proxy is still being generated")
        telemetry.recordFrame(seconds: 0.1, hit: false, path: "/c.mp4", withoutProxy: nil)
        #expect(telemetry.sourcesScrubbedWithoutProxy().map(\.path) == ["/b.mp4", "/a.mp4"])
        telemetry.recordFrame(seconds: 0.01, hit: false, path: "/a.mp4", withoutProxy: nil)  // its proxy is used now
        #expect(telemetry.sourcesScrubbedWithoutProxy().map(\.path) == ["/b.mp4"])
        clock.advance(61)
        #expect(telemetry.sourcesScrubbedWithoutProxy().isEmpty)
    }
}
