import Foundation
import JSONRPC
import Proxies
import Telemetry

/// `getMetricsSummary` and `telemetry/report`, what the services feed the telemetry, and the warnings sent when a
/// target starts being missed (`window/logMessage`, one per episode, with the guide's advice).
extension AuraMediaServer {
    func registerTelemetryMethods(in table: inout MethodTable) {
        table.register(GetMetricsSummaryRequest.self) { [self] _, _ in
            await metricsSummary()
        }
        table.register(TelemetryReportNotification.self) { [self] params in
            telemetry.record(
                ClientReport(
                    playbackFps: params.playbackFps, scrubLatencyMs: params.scrubLatencyMs,
                    droppedFrames: params.droppedFrames, cacheHit: params.cacheHit))
            // Judged at once, in the order reports arrive (on the queue and cache sizes read last), so the end of an
            // episode between two bursts of reports is never missed however busy the machine; the sizes are read
            // again in the background when they are over a second old, for the next judgement.
            let last = lastGauges.withLock { $0 }
            warnAboutNewEpisodes(in: telemetry.summary(gauges: last?.1 ?? TelemetryGauges()))
            if last.map({ Date().timeIntervalSince($0.0) >= 1 }) ?? true {
                Task { _ = await gauges(maxAge: 1) }
            }
        }
    }

    /// The summary with the advice for every target missed.
    func metricsSummary() async -> MetricsSummary {
        var summary = telemetry.summary(gauges: await gauges(maxAge: 0))
        summary.suggestions = TelemetryTarget.allCases.filter { summary.status[$0.rawValue] == .warning }
            .map { advice(for: $0, in: summary) }
        return summary
    }

    /// Judges the targets now and warns about each one that starts being missed (client reports and finished
    /// proxy jobs call it each time; `requestFrame` only when `targetCheckDue()`). Queue and cache sizes read for a
    /// check are reused for a second (reading them touches the catalogue).
    func checkTargets() async {
        warnAboutNewEpisodes(in: telemetry.summary(gauges: await gauges(maxAge: 1)))
    }

    /// Sends the warning of each target that starts being missed in `summary`.
    private func warnAboutNewEpisodes(in summary: MetricsSummary) {
        for target in telemetry.newEpisodes(in: summary) {
            let message = advice(for: target, in: summary)
            logger.warning("\(message)")
            client.logMessage(.warning, message)
        }
    }

    /// Whether a second has passed since the last throttled check (then it counts as done now).
    func targetCheckDue() -> Bool {
        let now = Date()
        return targetChecks.withLock { last in
            guard now.timeIntervalSince(last) >= 1 else { return false }
            last = now
            return true
        }
    }

    /// A picture served: its latency and cache hit, and why the source was read in proxy mode.
    func recordFrame(started: ContinuousClock.Instant, hit: Bool, sourcePath: String, withoutProxy: String?) {
        telemetry.recordFrame(seconds: Self.seconds(since: started), hit: hit, path: sourcePath, withoutProxy: withoutProxy)
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Queue depths and cache sizes, read from the services (or the last reading, when younger than `maxAge` s).
    private func gauges(maxAge: Double) async -> TelemetryGauges {
        let now = Date()
        if maxAge > 0, let (at, last) = lastGauges.withLock({ $0 }), now.timeIntervalSince(at) < maxAge { return last }
        var gauges = TelemetryGauges()
        defer { lastGauges.withLock { [gauges] in $0 = (now, gauges) } }
        if let service = try? await proxyService(), let stats = try? await service.stats() {
            gauges.proxyQueued = stats.queuedJobs
            gauges.proxyRunning = stats.runningJobs
            // What the limit counts: completed proxies and the parts of unfinished ones.
            gauges.proxyCacheBytes = stats.totalCacheSizeBytes + stats.segmentsSizeBytes
            gauges.proxyCacheLimitBytes = stats.cacheLimitBytes
        }
        let frameStats = frames.stats()
        gauges.frameEntries = frameStats.entries
        gauges.frameBytes = Int64(frameStats.sizeBytes)
        gauges.frameLimitBytes = Int64(frameStats.limitBytes)
        if let waveforms = await waveforms.openService {
            gauges.waveformCacheBytes = try? await waveforms.usage().bytes
            gauges.waveformAnalyses = await waveforms.activeJobCount
        }
        return gauges
    }

    /// What the guide's troubleshooting says for a missed target, made concrete with what the server knows.
    func advice(for target: TelemetryTarget, in summary: MetricsSummary) -> String {
        let window = "over the last \(Int(summary.windowSeconds)) s"
        let preview = previewState.withLock { $0 }
        switch target {
        case .scrubLatencyMs:
            let p95 = summary.scrubLatencyMs.p95.map { String(format: "%.0f", $0) } ?? "?"
            var text = "Scrub latency is high: p95 \(p95) ms \(window) (target under \(Int(summary.targets.scrubLatencyMs)) ms). "
            if preview.mode != .proxy {
                text += "Proxy mode is off: switch the Quality Toggle to Fast (setQuality {mode: \"proxy\"}) to scrub from proxies."
            } else {
                let missing = telemetry.sourcesScrubbedWithoutProxy()
                if missing.isEmpty {
                    text +=
                        "Scrubbed clips use proxies already: raise the frame cache (frameCacheBytes), keep the cache on an SSD, or switch to Draft proxies."
                } else {
                    let names = missing.prefix(5).map { "\(URL(fileURLWithPath: $0.path).lastPathComponent) (\($0.reason))" }
                    text +=
                        "Clips scrubbed without a fresh \(preview.quality) proxy: \(names.joined(separator: ", "))"
                        + (missing.count > 5 ? " and \(missing.count - 5) more" : "") + ". Generate their proxies (importMedia or generate)."
                }
            }
            return text
        case .playbackFps:
            let fps = summary.playbackFps.p50.map { String(format: "%.1f", $0) } ?? "?"
            var text = "Playback is below \(Int(summary.targets.playbackFps)) FPS: median \(fps) FPS \(window). "
            if preview.mode != .proxy {
                text += "Switch the Quality Toggle to Fast (proxy) mode"
            } else if preview.quality != .draft {
                text += "Lower the proxy quality to Draft (setQuality {quality: \"Draft\"})"
            } else {
                text += "Reduce timeline complexity and close other applications"
            }
            return text + "; check the hardware acceleration setting."
        case .cacheHitRate:
            let rate = summary.cacheHitRate.map { String(format: "%.0f %%", $0 * 100) } ?? "?"
            return "The frame cache hit rate is \(rate) \(window) (target \(Int(summary.targets.cacheHitRate * 100)) %): "
                + "raise the frame cache limit (frameCacheBytes, now \(summary.frameCache.limitBytes >> 20) MiB) and send setPlayhead so "
                + "pictures ahead of the playhead are preloaded."
        case .proxyRealtimeFactor:
            let factor = summary.proxyGeneration.realtimeFactor.map { String(format: "%.2f×", $0) } ?? "?"
            let hardware = currentSettings.hardwareAcceleration == .auto ? "" : "enable hardware acceleration (hardwareAcceleration: \"auto\") or "
            return "Proxy generation is slower than realtime: \(factor) \(window). To speed it up, \(hardware)use Draft quality "
                + "(defaultQuality: \"Draft\"), generate one proxy at a time (maxConcurrentJobs: 1) and close other applications."
        case .proxyCacheUsage:
            let used = Int((summary.proxyGeneration.cacheUsage * 100).rounded())
            return "The proxy cache is \(used) % full (\(summary.proxyGeneration.cacheSizeBytes >> 20) MiB of "
                + "\(summary.proxyGeneration.cacheLimitBytes >> 20) MiB): the least recently used proxies will be evicted. "
                + "Raise the limit (cacheLimitBytes) or clear unused proxies (clearCache)."
        }
    }
}
