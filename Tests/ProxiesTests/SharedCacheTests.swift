import Foundation
import Media
import MediaCache
import TestSupport
import Testing

@testable import Proxies

/// Two `ProxyService`s on one cache directory, as two editor windows (or a server and the CLI) have them. Each
/// service takes its own `ProcessLease`, and their slot locks conflict exactly as two processes' do, so these
/// tests run the cross-process rules in one process; the end-to-end tests repeat the main ones with real
/// processes.
@Suite(.timeLimit(.minutes(10)))
struct SharedCacheTests {
    @Test func openingTheCacheAgainLeavesARunningJobAlone() async throws {
        let (first, observer, cache) = try makeService()
        let blocker = try await ProxyFixtures.blocker()
        observer.hold(sourcePath: blocker.path, percent: 0...99)
        defer { observer.release() }
        let ticket = try await first.generate(ProxyRequest(sourcePath: blocker.path, quality: .high, force: true))
        try await observer.waitUntilHeld()
        let partials = ProxyFixtures.partialFiles(cache)
        try #require(partials.count == 1)

        // A second window opens the cache (start-up cleanup), reads stats, clears, looks the slot up.
        let (second, _, _) = try makeService(cache: cache)
        #expect(ProxyFixtures.partialFiles(cache) == partials, "start-up cleanup must not touch a live job's partial file")
        #expect(try first.catalogRecord(jobId: ticket.jobId)?.status == .generating)
        #expect(try await second.stats().totalProxies == 0)
        #expect(try await second.clear(sourcePath: nil) == ClearResult(keptInUse: 1))
        #expect(try await second.clear(sourcePath: blocker.path) == ClearResult(keptInUse: 1))
        let seen = try await second.lookup(sourcePath: blocker.path, quality: .high)
        #expect(seen.kind == "active", "another process's running job is reported as active: \(seen)")
        #expect(seen.visibleRecord?.status == .generating && seen.visibleRecord?.jobId == ticket.jobId)
        #expect(ProxyFixtures.partialFiles(cache) == partials)

        observer.release()
        let record = try #require(try await observer.waitForOutcome(of: ticket.jobId).completedRecord)
        #expect(ProxyFixtures.size(record.proxyPath) == record.proxySizeBytes)
        // Each sees the other's completed work.
        let found = try await second.lookup(sourcePath: blocker.path, quality: .high)
        #expect(found.kind == "record" && found.visibleRecord?.proxyPath == record.proxyPath)
        #expect(try await second.stats().totalProxies == 1)
        await second.shutdown()
        await first.shutdown()
    }

    @Test func twoServicesAskedForTheSameProxyMakeItOnce() async throws {
        let (first, firstObserver, cache) = try makeService()
        let (second, secondObserver, _) = try makeService(cache: cache)
        let source = try await ProxyFixtures.copy(ProxyFixtures.blocker(), into: ProxyFixtures.scratch("shared-once"))
        firstObserver.hold(sourcePath: source.path, percent: 0...99)
        defer { firstObserver.release() }
        let made = try await first.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        try await firstObserver.waitUntilHeld()
        let waiting = try await second.generate(ProxyRequest(sourcePath: source.path, quality: .draft, background: false, force: true))
        #expect(!waiting.joined && waiting.jobId != made.jobId)
        // The proxy is one part, which the first is making: the waiting job shows the first's progress and, with
        // nothing to help with, takes no worker: other work goes ahead.
        try await secondObserver.waitUntil("the waiting job reports the other process") { events in
            events.contains {
                if case .progressed(let job) = $0 {
                    return job.id == waiting.jobId && job.progress.message?.contains("another aura-media process") == true
                } else {
                    return false
                }
            }
        }
        let other = try await second.generate(ProxyRequest(sourcePath: ProxyFixtures.tiny().path, quality: .draft, force: true))
        #expect(try await secondObserver.waitForOutcome(of: other.jobId).name == "completed")

        firstObserver.release()
        let original = try #require(try await firstObserver.waitForOutcome(of: made.jobId).completedRecord)
        let reused = try #require(try await secondObserver.waitForOutcome(of: waiting.jobId).completedRecord)
        #expect(reused.jobId == made.jobId && reused.proxyPath == original.proxyPath, "the second reuses the first's proxy")
        #expect(
            !secondObserver.progress(of: waiting.jobId).contains { $0.progress.message?.contains("ncoding") == true },
            "the second never encoded it")
        #expect(ProxyFixtures.partialFiles(cache).isEmpty)
        await first.shutdown()
        await second.shutdown()
    }

    /// The parts a job's progress says it encoded ("segment 2", "audio"), each once, in order.
    static func encodedParts(_ observer: RecordingObserver, job: String) -> [String] {
        var parts: [String] = []
        for snapshot in observer.progress(of: job) {
            guard let message = snapshot.progress.message?.lowercased() else { continue }
            var part: String? = nil
            if message.contains("encoding the audio") {
                part = "audio"
            } else if let range = message.range(of: "encoding segment ") {
                part = "segment " + message[range.upperBound...].prefix { $0.isNumber }
            }
            if let part, !parts.contains(part) { parts.append(part) }
        }
        return parts
    }

    @Test func twoServicesShareTheSegmentsOfOneProxy() async throws {
        let (first, firstObserver, cache) = try makeService()
        let (second, secondObserver, _) = try makeService(cache: cache)
        let source = try await ProxyFixtures.copy(ProxyFixtures.threeSegments(), into: ProxyFixtures.scratch("shared-segments"))
        firstObserver.hold(sourcePath: source.path, percent: 0...99)
        defer { firstObserver.release() }
        let made = try await first.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        // The first is held inside its first part, the segment at 0 s.
        try await firstObserver.waitUntilHeld()
        let helping = try await second.generate(ProxyRequest(sourcePath: source.path, quality: .draft, background: false, force: true))

        // The second makes the parts the first has not taken (the audio, segments 2 and 3), then waits for the first.
        let folder = cache.appendingPathComponent("proxies").appendingPathComponent(
            ProxyFixtures.proxyFiles(cache).first { $0.hasSuffix(".segments") } ?? "?")
        func finishedParts() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
                .filter { $0.hasSuffix(".m4a") || ($0.hasSuffix(".m4s") && !$0.contains("-hls-")) }.sorted()
        }
        let deadline = TestDeadline.after(.seconds(120))
        while finishedParts().count < 3 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(finishedParts().count == 3, "\(finishedParts())")
        try await secondObserver.waitUntil("the helper goes back to waiting") { _ in
            secondObserver.progress(of: helping.jobId).last?.progress.message?.contains("another aura-media process is generating") == true
        }
        #expect(try first.catalogRecord(jobId: made.jobId)?.status == .generating)

        firstObserver.release()
        let original = try #require(try await firstObserver.waitForOutcome(of: made.jobId).completedRecord)
        let reused = try #require(try await secondObserver.waitForOutcome(of: helping.jobId).completedRecord)
        #expect(reused.jobId == made.jobId && reused.proxyPath == original.proxyPath, "the first joined, the second reuses it")
        // Every part made once: the first made the segment it held, the second everything else.
        #expect(Self.encodedParts(firstObserver, job: made.jobId) == ["segment 1"])
        #expect(Set(Self.encodedParts(secondObserver, job: helping.jobId)) == ["audio", "segment 2", "segment 3"])
        #expect(
            secondObserver.progress(of: helping.jobId).contains { $0.progress.message?.hasPrefix("Helping another aura-media process") == true })
        #expect(abs(original.durationSeconds - 32) < 0.05 && original.hasAudio, "\(original)")
        #expect(ProxyFixtures.size(original.proxyPath) == original.proxySizeBytes)
        #expect(ProxyFixtures.proxyFiles(cache) == [URL(fileURLWithPath: original.proxyPath).lastPathComponent], "the segments went")
        await first.shutdown()
        await second.shutdown()
    }

    @Test func aJobWhoseProcessDiedIsTakenOverAndItsLeftoversRemoved() async throws {
        let (service, observer, cache) = try makeService()
        let source = try await ProxyFixtures.copy(ProxyFixtures.tiny(), into: ProxyFixtures.scratch("takeover"))
        let fingerprint = try SourceFingerprint.of(path: source.path)
        // What a killed process leaves: a generating record owned by a lease nobody holds, and a partial file.
        let slot = ProxySlot(fingerprintKey: fingerprint.key, quality: .draft)
        let directory = try CacheDirectory.prepareProxyCache(path: cache.path)
        let dead = try ProcessLease.take(in: directory)
        dead.release()
        try service.catalog.replace(
            makeRecord(
                fingerprint: fingerprint.key, quality: .draft, sourcePath: source.path,
                status: .generating, proxyPath: directory.proxyURL(slot).path,
                proxySizeBytes: 0, jobId: "job-dead"))
        var record = try #require(try service.catalog.record(jobId: "job-dead"))
        record.ownerId = dead.id
        try service.catalog.update(record)
        try Data(count: 4096).write(to: directory.partialURL(slot, jobId: "job-dead"))

        // Looking it up settles it: the dead job failed, its partial file is gone.
        let looked = try await service.lookup(sourcePath: source.path, quality: .draft)
        #expect(looked.kind == "record" && looked.visibleRecord?.status == .failed)
        #expect(looked.visibleRecord?.error?.contains("interrupted") == true)
        #expect(ProxyFixtures.proxyFiles(cache).isEmpty)

        // The same leftovers found by a new job starting: it takes the slot over.
        try service.catalog.replace(record)
        try Data(count: 4096).write(to: directory.partialURL(slot, jobId: "job-dead"))
        let ticket = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        let made = try #require(try await observer.waitForOutcome(of: ticket.jobId).completedRecord)
        #expect(ProxyFixtures.proxyFiles(cache) == [URL(fileURLWithPath: made.proxyPath).lastPathComponent])
        #expect(made.ownerId == service.lease.id)
        await service.shutdown()
    }

    @Test func aQueuedRecordOfALiveProcessIsLeftAloneAndOneOfAGoneProcessFails() async throws {
        let cache = ProxyFixtures.scratch("queued-owner")
        let directory = try CacheDirectory.prepareProxyCache(path: cache.path)
        let live = try ProcessLease.take(in: directory)
        let gone = try ProcessLease.take(in: directory)
        gone.release()
        do {
            let catalog = try ProxyCatalog(directory: cache)
            for (fingerprint, owner, job) in [("00000000000000a1", live.id, "job-live"), ("00000000000000a2", gone.id, "job-gone")] {
                var record = makeRecord(fingerprint: fingerprint, quality: .draft, status: .queued, proxySizeBytes: 0, jobId: job)
                record.ownerId = owner
                try catalog.replace(record)
            }
        }
        let (service, _, _) = try makeService(cache: cache)
        #expect(try service.catalogRecord(jobId: "job-live")?.status == .queued, "a live process's queued job waits its turn")
        #expect(try service.catalogRecord(jobId: "job-gone")?.status == .failed)
        #expect(try await service.clear(sourcePath: nil).keptInUse == 1)
        #expect(try service.catalogRecord(jobId: "job-live") != nil)
        live.release()
        await service.shutdown()
    }

    @Test func clearSparesAProxyAnotherProcessJustHandedOut() async throws {
        let (first, observer, cache) = try makeService()
        let (second, _, _) = try makeService(cache: cache)
        let source = try await ProxyFixtures.copy(ProxyFixtures.tiny(), into: ProxyFixtures.scratch("handed-out"))
        let ticket = try await first.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        let record = try #require(try await observer.waitForOutcome(of: ticket.jobId).completedRecord)

        // The second process resolves it: the first's clear keeps it.
        guard case .record(let seen) = try await second.lookup(sourcePath: source.path, quality: .draft) else {
            Issue.record("the second process does not see the proxy")
            return
        }
        await second.markUsed(seen, at: source.path)
        #expect(try await first.clear(sourcePath: nil) == ClearResult(keptInUse: 1))
        #expect(FileManager.default.fileExists(atPath: record.proxyPath))
        // A use older than a minute no longer protects it.
        try first.catalog.recordUse(of: record.slot, by: second.lease.id, at: Date().addingTimeInterval(-120))
        let cleared = try await first.clear(sourcePath: nil)
        #expect(cleared == ClearResult(deletedFiles: 1, freedBytes: record.proxySizeBytes))
        #expect(!FileManager.default.fileExists(atPath: record.proxyPath))
        await first.shutdown()
        await second.shutdown()
    }

    /// The preview path remembers its lookups, but never past a change of the catalogue: a proxy another process
    /// finishes, clears, or whose file is deleted behind its back is seen by the next lookup.
    @Test func rememberedPreviewLookupsFollowAnotherProcesssWork() async throws {
        let (first, _, cache) = try makeService()
        let (second, _, _) = try makeService(cache: cache)
        let tiny = try await ProxyFixtures.tiny()
        #expect(try await first.previewLookup(sourcePath: tiny.path, quality: .draft) == .none)
        #expect(try await first.previewLookup(sourcePath: tiny.path, quality: .draft) == .none, "remembered")

        let ticket = try await second.generate(ProxyRequest(sourcePath: tiny.path, quality: .draft, background: false, force: true))
        let record = try await second.waitForCompletion(jobId: ticket.jobId)
        let seen = try await first.previewLookup(sourcePath: tiny.path, quality: .draft)
        #expect(
            seen.kind == "record" && seen.visibleRecord?.jobId == record.jobId && seen.visibleRecord?.status == .completed,
            "another process's proxy is seen at once: \(seen)")

        _ = try await second.clear(sourcePath: tiny.path)
        #expect(try await first.previewLookup(sourcePath: tiny.path, quality: .draft) == .none, "and its clearing too")

        let again = try await second.waitForCompletion(
            jobId: second.generate(ProxyRequest(sourcePath: tiny.path, quality: .draft, background: false, force: true)).jobId)
        #expect(try await first.previewLookup(sourcePath: tiny.path, quality: .draft).visibleRecord?.jobId == again.jobId)
        try FileManager.default.removeItem(atPath: again.proxyPath)
        #expect(
            try await first.previewLookup(sourcePath: tiny.path, quality: .draft) == .none,
            "a proxy file deleted by hand is not handed out")
        await first.shutdown()
        await second.shutdown()
    }
}
