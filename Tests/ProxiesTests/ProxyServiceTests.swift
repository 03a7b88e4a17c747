import Foundation
import Media
import MediaCache
import TestSupport
import Testing

@testable import Proxies

/// `ProxyService` with real (tiny) transcodes: generation, joining, the priority queue, cancellation,
/// startup reconciliation, eviction, staleness, moved sources, clearing and stats.
@Suite(.timeLimit(.minutes(10)))
struct ProxyServiceTests {
    static func tinyAlt() async throws -> URL {
        try await ProxyFixtures.media(
            "tiny-alt.mp4",
            [
                "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            ])
    }

    /// `count` byte copies of the tiny clip in one folder, each with its own mtime (so its own fingerprint).
    static func tinyCopies(_ count: Int, _ label: String) async throws -> [URL] {
        let directory = ProxyFixtures.scratch(label)
        let tiny = try await ProxyFixtures.tiny()
        return try (0..<count).map { index in
            try ProxyFixtures.copy(tiny, into: directory, name: "clip\(index).mp4", mtimeSeconds: 1_700_000_000 + index)
        }
    }

    static func mediaError(_ body: () async throws -> Void) async -> MediaError? {
        do {
            try await body()
            return nil
        } catch {
            return error as? MediaError
        }
    }

    // MARK: - Generation

    @Test func generateMakesACompletedRecordWithItsFileOnDisk() async throws {
        let source = try await Self.tinyCopies(1, "gen")[0]
        let (service, observer, cache) = try makeService()
        let ticket = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        #expect(!ticket.joined)
        #expect(ticket.status == .queued || ticket.status == .generating)
        #expect(ticket.jobId.hasPrefix("job-"))
        #expect(ticket.record == nil)
        let outcome = try await observer.waitForOutcome(of: ticket.jobId)
        let record = try #require(outcome.completedRecord, "outcome: \(outcome)")
        let fingerprint = try SourceFingerprint.of(path: source.path)
        #expect(record.status == .completed)
        #expect(record.proxyPath == cache.appendingPathComponent("proxies/\(fingerprint.key)-Draft.mp4").path)
        #expect(ProxyFixtures.size(record.proxyPath) == record.proxySizeBytes)
        #expect(record.proxySizeBytes > 1000)
        #expect(record.width == 160 && record.height == 120, "never upscaled: \(record.width)x\(record.height)")
        #expect(record.hasAudio && record.audioBitRate == 128_000)
        #expect(record.videoBitRate == 1_500_000)
        #expect(record.progressPercent == 100)
        #expect(abs(record.durationSeconds - 1) < 0.15)
        #expect(record.sourceSizeBytes == ProxyFixtures.size(source))
        #expect(record.sourceFingerprint == fingerprint.key)
        #expect(record.jobId == ticket.jobId)
        #expect(record.videoEncoder == "libx264")
        #expect(ProxyFixtures.proxyFiles(cache) == ["\(fingerprint.key)-Draft.mp4"], "no partial file may be left")

        let percents = observer.progress(of: ticket.jobId).map(\.progress.percent)
        #expect(percents == percents.sorted())
        #expect(percents.last == 100)
        #expect(observer.finishCount(of: ticket.jobId) == 1)

        guard case .record(let found) = try await service.lookup(sourcePath: source.path, quality: .draft) else {
            Issue.record("the completed proxy is not found")
            return
        }
        #expect(found.status == .completed && found.proxySizeBytes == record.proxySizeBytes)
        #expect(try await service.lookup(sourcePath: source.path, quality: .high).kind == "none")

        // A fresh existing proxy answers at once, without a job.
        let again = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        #expect(again.status == .completed && again.jobId == ticket.jobId && !again.joined && again.progressPercent == 100)
        #expect(again.record?.proxyPath == record.proxyPath)
        #expect(await service.activeJobCount == 0)

        // overwrite regenerates into the same slot.
        let overwrite = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, overwrite: true, force: true))
        #expect(overwrite.jobId != ticket.jobId && overwrite.status != .completed)
        let second = try #require(try await observer.waitForOutcome(of: overwrite.jobId).completedRecord)
        #expect(ProxyFixtures.size(second.proxyPath) == second.proxySizeBytes)
        #expect(ProxyFixtures.proxyFiles(cache) == ["\(fingerprint.key)-Draft.mp4"])
        #expect(try service.catalog.allRecords().count == 1)
        await service.shutdown()
    }

    /// A proxy made before colour management of a source whose tags call for it (here PQ) is not used: the source
    /// is, and the next `generate` makes it again, tone-mapped. One of an SDR source is confirmed once and kept.
    @Test func proxiesMadeBeforePictureProcessingAreMadeAgainWhenTheirSourceNeedsIt() async throws {
        let (service, observer, _) = try makeService()
        let hdr = try await OffPool.run { MediaFixtures.pqSmall }
        let sdr = try await ProxyFixtures.tiny().path
        var made: [String: ProxyRecord] = [:]
        for path in [hdr, sdr] {
            let ticket = try await service.generate(ProxyRequest(sourcePath: path, quality: .draft, force: true))
            made[path] = try #require(try await observer.waitForOutcome(of: ticket.jobId).completedRecord)
        }
        #expect(made[hdr]?.toneMapped == true && made[hdr]?.pictureVersion == Transcoder.pictureVersion && made[sdr]?.toneMapped == false)
        // As the earlier version left them.
        for var record in made.values {
            record.pictureVersion = nil
            record.toneMapped = false
            try service.catalog.update(record)
        }
        #expect(try await service.lookup(sourcePath: hdr, quality: .draft).kind == "none", "the grey proxy is not used")
        let kept = try await service.lookup(sourcePath: sdr, quality: .draft)
        #expect(kept.visibleRecord?.status == .completed)
        #expect(try service.catalog.record(id: made[sdr]!.id!)?.pictureVersion == Transcoder.pictureVersion, "confirmed once")
        let again = try await service.generate(ProxyRequest(sourcePath: hdr, quality: .draft, force: true))
        #expect(again.status != .completed, "made again, not reused")
        let remade = try #require(try await observer.waitForOutcome(of: again.jobId).completedRecord)
        #expect(remade.toneMapped == true && remade.pictureVersion == Transcoder.pictureVersion)
        await service.shutdown()
    }

    /// A proxy made by version 1 (the primary audio stream alone, as stereo) of a source with three audio streams is
    /// not used and is made again with all three; one of a source with one stereo stream lost nothing and is kept.
    @Test func proxiesMadeWithOneAudioTrackAreMadeAgainWhenTheirSourceHasMore() async throws {
        let (service, observer, _) = try makeService()
        let three = try await OffPool.run { MediaFixtures.threeAudioStreams }
        let stereo = try await ProxyFixtures.tiny().path
        var made: [String: ProxyRecord] = [:]
        for path in [three, stereo] {
            let ticket = try await service.generate(ProxyRequest(sourcePath: path, quality: .draft, force: true))
            made[path] = try #require(try await observer.waitForOutcome(of: ticket.jobId).completedRecord)
        }
        for var record in made.values {
            record.pictureVersion = 1
            try service.catalog.update(record)
        }
        #expect(try await service.lookup(sourcePath: three, quality: .draft).kind == "none", "two tracks missing: not used")
        #expect(try await service.lookup(sourcePath: stereo, quality: .draft).visibleRecord?.status == .completed)
        #expect(try service.catalog.record(id: made[stereo]!.id!)?.pictureVersion == Transcoder.pictureVersion, "confirmed once")
        let again = try await service.generate(ProxyRequest(sourcePath: three, quality: .draft, force: true))
        #expect(again.status != .completed, "made again, not reused")
        let remade = try #require(try await observer.waitForOutcome(of: again.jobId).completedRecord)
        #expect(remade.pictureVersion == Transcoder.pictureVersion)
        let tracks = try MediaProbe.probe(path: remade.proxyPath).audioStreams.map(\.channels)
        #expect(tracks == [1, 2, 6])
        await service.shutdown()
    }

    /// A source no larger than the quality's box gets no job unless forced; with `scalePercent` the proxy is smaller, so
    /// it is made.
    @Test func sourcesNoLargerThanTheBoxNeedNoProxy() async throws {
        let (service, observer, _) = try makeService()
        let tiny = try await ProxyFixtures.tiny().path
        let reason = "the source (160x120) is no larger than the Draft proxy's 854x480 box"
        await #expect(throws: ProxyServiceError.notNeeded(reason: reason)) {
            _ = try await service.generate(ProxyRequest(sourcePath: tiny, quality: .draft))
        }
        let active = await service.activeJobCount
        #expect(try service.catalog.allRecords().isEmpty && active == 0)
        let scaled = try await service.generate(ProxyRequest(sourcePath: tiny, quality: .draft, scalePercent: 50))
        let record = try #require(try await observer.waitForOutcome(of: scaled.jobId).completedRecord)
        #expect(record.width == 80 && record.height == 60)
        await service.shutdown()
    }

    @Test func sourcesWithoutUsableVideoAreRefused() async throws {
        let (service, _, cache) = try makeService()
        let audio = try await ProxyFixtures.audioOnly()
        let still = try await ProxyFixtures.stillImage()
        let audioError = await Self.mediaError { _ = try await service.generate(ProxyRequest(sourcePath: audio.path, force: true)) }
        let stillError = await Self.mediaError { _ = try await service.generate(ProxyRequest(sourcePath: still.path, force: true)) }
        let missingError = await Self.mediaError { _ = try await service.generate(ProxyRequest(sourcePath: cache.path + "/nope.mp4", force: true)) }
        if case .unsupported(let path, _)? = audioError {
            #expect(path == audio.path)
        } else {
            Issue.record("audio-only: \(String(describing: audioError))")
        }
        if case .unsupported? = stillError {} else { Issue.record("still image: \(String(describing: stillError))") }
        #expect(missingError == .fileNotFound(path: cache.path + "/nope.mp4"))
        #expect(try service.catalog.allRecords().isEmpty)
        #expect(ProxyFixtures.proxyFiles(cache).isEmpty)
    }

    // MARK: - Joining and the queue

    @Test func aSecondRequestForTheSameSlotJoinsTheRunningJob() async throws {
        let (service, observer, _) = try makeService()
        let blocker = try await ProxyFixtures.blocker()
        observer.hold(sourcePath: blocker.path, percent: 0...99)
        defer { observer.release() }
        let first = try await service.generate(ProxyRequest(sourcePath: blocker.path, quality: .draft, force: true))
        try await observer.waitUntilHeld()
        let second = try await service.generate(ProxyRequest(sourcePath: blocker.path, quality: .draft, background: false, force: true))
        #expect(!first.joined)
        #expect(second.joined && second.jobId == first.jobId)
        #expect(second.status == .generating)
        // Another quality is another slot, so another job (queued behind the first).
        let high = try await service.generate(ProxyRequest(sourcePath: blocker.path, quality: .high, force: true))
        #expect(!high.joined && high.jobId != first.jobId && high.status == .queued)
        let stats = try await service.stats()
        #expect(stats.runningJobs == 1 && stats.queuedJobs == 1)
        #expect(await service.activeJobCount == 2)
        // Other sizing replaces the running job.
        let scaled = try await service.generate(ProxyRequest(sourcePath: blocker.path, quality: .draft, scalePercent: 50, force: true))
        #expect(!scaled.joined && scaled.jobId != first.jobId)
        observer.release()
        let replaced = try await observer.waitForOutcome(of: first.jobId)
        if case .replaced(let by) = replaced { #expect(by == scaled.jobId) } else { Issue.record("expected replaced, got \(replaced)") }
        // The queued job first: cancelling the running one first would let it start (and maybe finish) meanwhile.
        await service.cancel(jobId: high.jobId)
        await service.cancel(jobId: scaled.jobId)
        #expect(try await observer.waitForOutcome(of: high.jobId).name == "cancelled")
        #expect(try await observer.waitForOutcome(of: scaled.jobId).name == "cancelled")
        #expect(observer.finishCount(of: first.jobId) == 1)
        await service.shutdown()
    }

    @Test func higherPriorityStartsFirstAndEqualPrioritiesKeepArrivalOrder() async throws {
        let (service, observer, _) = try makeService(maxConcurrentJobs: 1)
        let sources = try await Self.tinyCopies(4, "priority")
        observer.hold(sourcePath: try await ProxyFixtures.blocker().path, percent: 0...99)
        defer { observer.release() }
        let blocker = try await service.generate(ProxyRequest(sourcePath: ProxyFixtures.blocker().path, quality: .draft, force: true))
        try #require(blocker.status == .generating)
        try await observer.waitUntilHeld()
        let low1 = try await service.generate(ProxyRequest(sourcePath: sources[0].path, quality: .draft, priority: 0, force: true))
        let high1 = try await service.generate(ProxyRequest(sourcePath: sources[1].path, quality: .draft, priority: 5, force: true))
        let low2 = try await service.generate(ProxyRequest(sourcePath: sources[2].path, quality: .draft, priority: 0, force: true))
        let high2 = try await service.generate(ProxyRequest(sourcePath: sources[3].path, quality: .draft, priority: 5, force: true))
        try #require([low1, high1, low2, high2].allSatisfy { $0.status == .queued }, "the blocker ended too early")
        let stats = try await service.stats()
        #expect(stats.queuedJobs == 4 && stats.runningJobs == 1)
        await service.cancel(jobId: blocker.jobId)
        observer.release()
        for ticket in [low1, high1, low2, high2] {
            #expect(try await observer.waitForOutcome(of: ticket.jobId).name == "completed")
        }
        #expect(observer.startOrder == [blocker.jobId, high1.jobId, high2.jobId, low1.jobId, low2.jobId])
        #expect(observer.outcome(of: blocker.jobId)?.name == "cancelled")
        await service.shutdown()
    }

    @Test func requestingAQueuedJobAgainWithHigherPriorityRaisesIt() async throws {
        let (service, observer, _) = try makeService(maxConcurrentJobs: 1)
        let sources = try await Self.tinyCopies(2, "raise")
        observer.hold(sourcePath: try await ProxyFixtures.blocker().path, percent: 0...99)
        defer { observer.release() }
        let blocker = try await service.generate(ProxyRequest(sourcePath: ProxyFixtures.blocker().path, quality: .draft, force: true))
        try await observer.waitUntilHeld()
        let a = try await service.generate(ProxyRequest(sourcePath: sources[0].path, quality: .draft, priority: 0, force: true))
        let b = try await service.generate(ProxyRequest(sourcePath: sources[1].path, quality: .draft, priority: 1, force: true))
        let raised = try await service.generate(ProxyRequest(sourcePath: sources[0].path, quality: .draft, priority: 5, force: true))
        try #require(a.status == .queued && b.status == .queued, "the blocker ended too early")
        #expect(raised.joined && raised.jobId == a.jobId && raised.status == .queued)
        // Asking again with a lower priority never lowers it.
        let lowered = try await service.generate(ProxyRequest(sourcePath: sources[0].path, quality: .draft, priority: -3, force: true))
        #expect(lowered.joined && lowered.jobId == a.jobId)
        await service.cancel(jobId: blocker.jobId)
        observer.release()
        #expect(try await observer.waitForOutcome(of: a.jobId).name == "completed")
        #expect(try await observer.waitForOutcome(of: b.jobId).name == "completed")
        #expect(observer.startOrder == [blocker.jobId, a.jobId, b.jobId])
        #expect(observer.progress(of: a.jobId).first?.priority == 5)
        await service.shutdown()
    }

    // MARK: - Cancellation

    @Test func cancellingQueuedJobsByIdAndBySlot() async throws {
        let (service, observer, cache) = try makeService()
        let sources = try await Self.tinyCopies(2, "cancel-queued")
        observer.hold(sourcePath: try await ProxyFixtures.blocker().path, percent: 0...99)
        defer { observer.release() }
        let blocker = try await service.generate(ProxyRequest(sourcePath: ProxyFixtures.blocker().path, quality: .draft, force: true))
        try await observer.waitUntilHeld()
        let queued = try await service.generate(ProxyRequest(sourcePath: sources[0].path, quality: .draft, force: true))
        let bySlot = try await service.generate(ProxyRequest(sourcePath: sources[1].path, quality: .preview, force: true))
        try #require(queued.status == .queued && bySlot.status == .queued)

        let snapshot = await service.cancel(jobId: queued.jobId)
        #expect(snapshot?.id == queued.jobId)
        #expect(observer.outcome(of: queued.jobId)?.name == "cancelled", "a queued job ends at once")
        let slotSnapshot = try await service.cancel(sourcePath: sources[1].path, quality: .preview)
        #expect(slotSnapshot?.id == bySlot.jobId)
        #expect(try await observer.waitForOutcome(of: bySlot.jobId).name == "cancelled")
        #expect(await service.cancel(jobId: queued.jobId) == nil, "an ended job is no longer active")
        #expect(try await service.cancel(sourcePath: sources[0].path, quality: .draft) == nil)

        let lookup = try await service.lookup(sourcePath: sources[0].path, quality: .draft)
        #expect(lookup.kind == "record")
        #expect(lookup.visibleRecord?.status == .cancelled)
        #expect(try service.catalogRecord(jobId: bySlot.jobId)?.status == .cancelled)
        let stats = try await service.stats()
        #expect(stats.queuedJobs == 0 && stats.runningJobs == 1)
        await service.cancel(jobId: blocker.jobId)
        observer.release()
        _ = try await observer.waitForOutcome(of: blocker.jobId)
        #expect(ProxyFixtures.proxyFiles(cache).isEmpty)
        // A cancelled slot gets a new job on the next request.
        let retry = try await service.generate(ProxyRequest(sourcePath: sources[0].path, quality: .draft, force: true))
        #expect(retry.jobId != queued.jobId && retry.status != .completed)
        #expect(try await observer.waitForOutcome(of: retry.jobId).name == "completed")
        await service.shutdown()
    }

    @Test func cancellingARunningJobRemovesItsPartialFile() async throws {
        let (service, observer, cache) = try makeService()
        observer.hold(sourcePath: try await ProxyFixtures.blocker().path, percent: 0...99)
        defer { observer.release() }
        let ticket = try await service.generate(
            ProxyRequest(sourcePath: ProxyFixtures.blocker().path, quality: .draft, background: false, force: true))
        let waiter = Task { try await service.waitForCompletion(jobId: ticket.jobId) }
        try await observer.waitUntilHeld()
        let partials = ProxyFixtures.partialFiles(cache)
        #expect(partials.count == 1, "the running job writes a partial file: \(ProxyFixtures.proxyFiles(cache))")
        #expect(try await service.lookup(sourcePath: ProxyFixtures.blocker().path, quality: .draft).visibleRecord?.status == .generating)
        try await Task.sleep(for: .milliseconds(50))  // the waiter is registered
        let snapshot = await service.cancel(jobId: ticket.jobId)
        #expect(snapshot != nil)
        observer.release()
        #expect(try await observer.waitForOutcome(of: ticket.jobId).name == "cancelled")
        #expect(ProxyFixtures.proxyFiles(cache).isEmpty, "left: \(ProxyFixtures.proxyFiles(cache))")
        let waited = await waiter.result
        if case .failure(let error) = waited { #expect(error as? MediaError == .cancelled) } else { Issue.record("the waiter got a proxy") }
        let record = try #require(try service.catalogRecord(jobId: ticket.jobId))
        #expect(record.status == .cancelled)
        #expect(record.proxySizeBytes == 0)
        let stats = try await service.stats()
        #expect(stats.runningJobs == 0 && stats.queuedJobs == 0 && stats.totalProxies == 0)
        await service.shutdown()
    }

    /// A cancellation that arrives after the last packet was encoded, but before the service recorded the
    /// result, must still win: `cancel` said the job was cancelled, so it may not end completed.
    @Test func aJobCancelledAfterItsLastPacketStillEndsCancelled() async throws {
        let (service, observer, cache) = try makeService()
        let source = try await Self.tinyCopies(1, "late-cancel")[0]
        observer.hold(sourcePath: source.path, percent: 100...100)
        defer { observer.release() }
        let ticket = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        try await observer.waitUntilHeld()
        let snapshot = await service.cancel(jobId: ticket.jobId)
        #expect(snapshot != nil, "the job is still active, so the cancellation is accepted")
        observer.release()
        let outcome = try await observer.waitForOutcome(of: ticket.jobId)
        #expect(outcome.name == "cancelled", "cancel was accepted, but the job ended \(outcome)")
        #expect(try service.catalogRecord(jobId: ticket.jobId)?.status == .cancelled)
        // No proxy and no partial file; the finished segments stay for the next request to resume from.
        #expect(ProxyFixtures.proxyFiles(cache).filter { !$0.hasSuffix(".segments") }.isEmpty, "left: \(ProxyFixtures.proxyFiles(cache))")
        #expect(ProxyFixtures.partialFiles(cache).isEmpty)
        let again = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        #expect(again.resumedSegments == 2, "the video segment and the audio are resumed")
        #expect(try await observer.waitForOutcome(of: again.jobId).name == "completed")
        #expect(ProxyFixtures.proxyFiles(cache).count == 1, "the segments are gone once the proxy is joined: \(ProxyFixtures.proxyFiles(cache))")
        await service.shutdown()
    }

    /// The same race for a replacement (other sizing): the old job ends replaced, not failed, and leaves no file.
    @Test func aJobReplacedAfterItsLastPacketEndsReplaced() async throws {
        let (service, observer, cache) = try makeService()
        let source = try await Self.tinyCopies(1, "late-replace")[0]
        observer.hold(sourcePath: source.path, percent: 100...100)
        defer { observer.release() }
        let first = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        try await observer.waitUntilHeld()
        let second = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, scalePercent: 50, force: true))
        #expect(!second.joined && second.jobId != first.jobId)
        observer.release()
        let outcome = try await observer.waitForOutcome(of: first.jobId)
        if case .replaced(let by) = outcome { #expect(by == second.jobId) } else { Issue.record("expected replaced, got \(outcome)") }
        let record = try #require(try await observer.waitForOutcome(of: second.jobId).completedRecord)
        #expect(record.scalePercent == 50 && record.width == 80 && record.height == 60)
        #expect(ProxyFixtures.proxyFiles(cache) == [URL(fileURLWithPath: record.proxyPath).lastPathComponent])
        #expect(ProxyFixtures.size(record.proxyPath) == record.proxySizeBytes)
        await service.shutdown()
    }

    // MARK: - Startup reconciliation

    @Test func startupDropsVanishedProxiesRemovesLeftoversAndFailsInterruptedJobs() async throws {
        let cache = ProxyFixtures.scratch("reconcile")
        let sources = try await Self.tinyCopies(2, "reconcile-src")
        var kept: ProxyRecord?
        var lost: ProxyRecord?
        do {
            let (service, observer, _) = try makeService(cache: cache)
            let a = try await service.generate(ProxyRequest(sourcePath: sources[0].path, quality: .draft, force: true))
            let b = try await service.generate(ProxyRequest(sourcePath: sources[1].path, quality: .draft, force: true))
            lost = try await observer.waitForOutcome(of: a.jobId).completedRecord
            kept = try await observer.waitForOutcome(of: b.jobId).completedRecord
            await service.shutdown()
        }
        let lostRecord = try #require(lost)
        let keptRecord = try #require(kept)
        try FileManager.default.removeItem(atPath: lostRecord.proxyPath)
        let proxies = cache.appendingPathComponent("proxies")
        try Data(count: 1234).write(to: proxies.appendingPathComponent("00000000000000ee-Draft.job-dead.partial.mp4"))
        try Data(count: 999).write(to: proxies.appendingPathComponent("00000000000000ff-High.mp4"))
        let outside = ProxyFixtures.scratch("reconcile-outside").appendingPathComponent("keep.partial.mp4")
        try Data(count: 10).write(to: outside)
        do {
            let catalog = try ProxyCatalog(directory: cache)
            try catalog.replace(
                makeRecord(
                    fingerprint: "00000000000000ee", quality: .draft, status: .generating,
                    proxyPath: proxies.appendingPathComponent("00000000000000ee-Draft.mp4").path,
                    proxySizeBytes: 0, jobId: "job-interrupted"))
            try catalog.replace(
                makeRecord(
                    fingerprint: "00000000000000dd", quality: .draft, status: .queued,
                    proxySizeBytes: 0, jobId: "job-waiting"))
        }

        let (service, _, _) = try makeService(cache: cache)
        #expect(ProxyFixtures.proxyFiles(cache) == [URL(fileURLWithPath: keptRecord.proxyPath).lastPathComponent])
        #expect(FileManager.default.fileExists(atPath: outside.path), "files outside the cache are never touched")
        #expect(try service.catalogRecord(jobId: lostRecord.jobId!) == nil, "the record of a vanished file is dropped")
        #expect(try await service.lookup(sourcePath: sources[0].path, quality: .draft).kind == "none")
        let survivor = try await service.lookup(sourcePath: sources[1].path, quality: .draft)
        #expect(survivor.visibleRecord?.status == .completed)
        #expect(survivor.visibleRecord?.proxySizeBytes == ProxyFixtures.size(keptRecord.proxyPath))
        for jobId in ["job-interrupted", "job-waiting"] {
            let record = try #require(try service.catalogRecord(jobId: jobId))
            #expect(record.status == .failed, "\(jobId) must not stay \(record.status)")
            #expect(record.error?.contains("interrupted") == true)
        }
        #expect(try service.catalog.allRecords().filter { $0.status == .completed }.count == 1)
        await service.shutdown()
    }

    // MARK: - Eviction

    @Test func evictionRemovesLeastRecentlyUsedDownTo90PercentAndSparesRecentlyUsed() async throws {
        let sources = try await Self.tinyCopies(3, "evict")
        let (service, observer, cache) = try makeService()
        var records: [ProxyRecord] = []
        for source in sources.prefix(2) {
            let ticket = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
            records.append(try #require(try await observer.waitForOutcome(of: ticket.jobId).completedRecord))
        }
        let now = Date()
        try service.catalog.touch(id: records[0].id!, sourcePath: sources[0].path, at: now.addingTimeInterval(-300))
        try service.catalog.touch(id: records[1].id!, sourcePath: sources[1].path, at: now.addingTimeInterval(-200))
        // The copies hold the same content: the third proxy will be about this size (x264's threads under VBV may
        // spend a few bytes more or less from run to run: 2 % of room).
        let size = records[1].proxySizeBytes
        let limit = Int64((Double(2 * size) / 0.9).rounded(.up)) + size / 50
        try #require(limit >= records[0].proxySizeBytes + records[1].proxySizeBytes && limit < 3 * size)
        await service.reconfigure(ProxyServiceConfiguration(cacheLimitBytes: limit, maxConcurrentJobs: 1))
        #expect(ProxyFixtures.proxyFiles(cache).count == 2, "under the limit nothing is evicted")
        #expect(observer.notices.isEmpty)

        // The third completion goes over the limit: the least recently used proxy goes, and only it.
        let third = try await service.generate(ProxyRequest(sourcePath: sources[2].path, quality: .draft, force: true))
        let thirdRecord = try #require(try await observer.waitForOutcome(of: third.jobId).completedRecord)
        #expect(!FileManager.default.fileExists(atPath: records[0].proxyPath), "the LRU proxy is evicted")
        #expect(FileManager.default.fileExists(atPath: records[1].proxyPath))
        #expect(FileManager.default.fileExists(atPath: thirdRecord.proxyPath))
        #expect(try service.catalog.record(id: records[0].id!) == nil)
        #expect(ProxyFixtures.proxyBytes(cache) <= limit / 10 * 9)
        #expect(observer.notices.count == 1)
        #expect(observer.notices.first?.contains("evicted 1") == true, "\(observer.notices)")

        // A proxy used within the last minute is kept even when the cache stays over its limit.
        try service.catalog.touch(id: thirdRecord.id!, sourcePath: sources[2].path, at: now.addingTimeInterval(-100))
        await service.markUsed(records[1], at: sources[1].path)
        await service.reconfigure(ProxyServiceConfiguration(cacheLimitBytes: size / 2, maxConcurrentJobs: 1))
        #expect(!FileManager.default.fileExists(atPath: thirdRecord.proxyPath), "the older proxy is evicted")
        #expect(FileManager.default.fileExists(atPath: records[1].proxyPath), "the recently used proxy is kept")
        #expect(try await service.lookup(sourcePath: sources[1].path, quality: .draft).visibleRecord?.status == .completed)
        let stats = try await service.stats()
        #expect(stats.totalProxies == 1 && stats.totalCacheSizeBytes == ProxyFixtures.proxyBytes(cache))
        await service.shutdown()
    }

    // MARK: - Staleness and moved sources

    @Test func aChangedSourceMakesItsProxyStaleAndItIsNeverUsed() async throws {
        let directory = ProxyFixtures.scratch("stale")
        let source = try await ProxyFixtures.copy(ProxyFixtures.tiny(), into: directory, name: "clip.mp4", mtimeSeconds: 1_700_000_000)
        let (service, observer, _) = try makeService()
        let first = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        let original = try #require(try await observer.waitForOutcome(of: first.jobId).completedRecord)

        // Rewrite the file in place with other content.
        try await Data(contentsOf: Self.tinyAlt()).write(to: source)
        let lookup = try await service.lookup(sourcePath: source.path, quality: .draft)
        #expect(lookup.kind == "stale")
        #expect(lookup.visibleRecord?.status == .stale)
        #expect(lookup.visibleRecord?.proxyPath == original.proxyPath)

        let regenerate = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        #expect(regenerate.status != .completed, "a stale proxy must never answer a generate")
        #expect(regenerate.jobId != first.jobId && !regenerate.joined)
        let fresh = try #require(try await observer.waitForOutcome(of: regenerate.jobId).completedRecord)
        #expect(fresh.proxyPath != original.proxyPath)
        #expect(fresh.sourceFingerprint == (try SourceFingerprint.of(path: source.path)).key)
        #expect(try await service.lookup(sourcePath: source.path, quality: .draft).visibleRecord?.proxyPath == fresh.proxyPath)
        await service.shutdown()
    }

    @Test func aMovedSourceFindsItsProxyAgain() async throws {
        let source = try await ProxyFixtures.copy(ProxyFixtures.tiny(), into: ProxyFixtures.scratch("moved-from"), name: "clip.mp4")
        let (service, observer, _) = try makeService()
        let first = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        let original = try #require(try await observer.waitForOutcome(of: first.jobId).completedRecord)

        let moved = ProxyFixtures.scratch("moved-to").appendingPathComponent("renamed.mp4")
        #expect(rename(source.path, moved.path) == 0)
        let lookup = try await service.lookup(sourcePath: moved.path, quality: .draft)
        #expect(lookup.kind == "record")
        #expect(lookup.visibleRecord?.status == .completed)
        #expect(lookup.visibleRecord?.sourcePath == moved.path)
        #expect(lookup.visibleRecord?.proxyPath == original.proxyPath)
        // protocol/spec.md §10.3: "a moved file finds its proxy again; its sourcePath is updated".
        #expect(
            try service.catalog.record(id: original.id!)?.sourcePath == moved.path,
            "the catalogue should remember the new path after a lookup by it")

        let again = try await service.generate(ProxyRequest(sourcePath: moved.path, quality: .draft, force: true))
        #expect(again.status == .completed && again.jobId == first.jobId, "the moved source reuses its proxy")
        #expect(again.record?.sourcePath == moved.path)
        #expect(try service.catalog.record(id: original.id!)?.sourcePath == moved.path)
        await service.shutdown()
    }

    // MARK: - Stats and clearing

    @Test func statsAndClearMatchTheFilesOnDiskAndNeverTouchSources() async throws {
        let directory = ProxyFixtures.scratch("clear-src")
        let a = try await ProxyFixtures.copy(ProxyFixtures.tiny(), into: directory, name: "a.mp4")
        let b = try await ProxyFixtures.copy(Self.tinyAlt(), into: directory, name: "b.mp4")
        let (service, observer, cache) = try makeService(maxConcurrentJobs: 2)
        let tickets = [
            try await service.generate(ProxyRequest(sourcePath: a.path, quality: .draft, force: true)),
            try await service.generate(ProxyRequest(sourcePath: a.path, quality: .preview, force: true)),
            try await service.generate(ProxyRequest(sourcePath: b.path, quality: .draft, force: true)),
        ]
        var records: [ProxyRecord] = []
        for ticket in tickets { records.append(try #require(try await observer.waitForOutcome(of: ticket.jobId).completedRecord)) }

        let stats = try await service.stats()
        let sizeA = try #require(ProxyFixtures.size(a)), sizeB = try #require(ProxyFixtures.size(b))
        #expect(stats.totalProxies == 3)
        #expect(stats.totalCacheSizeBytes == ProxyFixtures.proxyBytes(cache))
        #expect(stats.totalSourceSizeBytes == 2 * sizeA + sizeB)
        #expect(stats.byQuality[.draft] == .init(count: 2, sizeBytes: records[0].proxySizeBytes + records[2].proxySizeBytes))
        #expect(stats.byQuality[.preview] == .init(count: 1, sizeBytes: records[1].proxySizeBytes))
        #expect(stats.byQuality[.high] == .init(count: 0, sizeBytes: 0))
        #expect(abs(stats.compressionRatio - Double(stats.totalCacheSizeBytes) / Double(2 * sizeA + sizeB)) < 1e-9)
        #expect(abs(stats.spaceSavedPercent - (1 - stats.compressionRatio) * 100) < 1e-9)
        #expect(stats.queuedJobs == 0 && stats.runningJobs == 0)
        #expect(stats.cacheLimitBytes == 10 << 30)

        let sourceBytes = try Data(contentsOf: a)
        let mtime = ProxyFixtures.modificationTime(a)
        let bytesOfA = records[0].proxySizeBytes + records[1].proxySizeBytes
        let cleared = try await service.clear(sourcePath: a.path)
        #expect(cleared == ClearResult(deletedFiles: 2, freedBytes: bytesOfA))
        #expect(ProxyFixtures.proxyFiles(cache) == [URL(fileURLWithPath: records[2].proxyPath).lastPathComponent])
        #expect(try Data(contentsOf: a) == sourceBytes, "the source is never touched")
        #expect(ProxyFixtures.modificationTime(a).tv_sec == mtime.tv_sec && ProxyFixtures.modificationTime(a).tv_nsec == mtime.tv_nsec)
        #expect(try await service.lookup(sourcePath: a.path, quality: .draft).kind == "none")
        #expect(try await service.lookup(sourcePath: a.path, quality: .preview).kind == "none")

        // Everything: B's proxy plus stray files a crash could leave.
        let proxies = cache.appendingPathComponent("proxies")
        try Data(count: 777).write(to: proxies.appendingPathComponent("00000000000000aa-High.mp4"))
        try Data(count: 333).write(to: proxies.appendingPathComponent("00000000000000bb-Draft.job-x.partial.mp4"))
        let all = try await service.clear(sourcePath: nil)
        #expect(all == ClearResult(deletedFiles: 3, freedBytes: records[2].proxySizeBytes + 777 + 333))
        #expect(ProxyFixtures.proxyFiles(cache).isEmpty)
        #expect(try service.catalog.allRecords().isEmpty)
        #expect(FileManager.default.fileExists(atPath: a.path) && FileManager.default.fileExists(atPath: b.path))
        #expect(FileManager.default.fileExists(atPath: cache.appendingPathComponent("catalogue.sqlite").path))
        #expect(try await service.clear(sourcePath: nil) == ClearResult())
        let empty = try await service.stats()
        #expect(empty.totalProxies == 0 && empty.compressionRatio == 0 && empty.spaceSavedPercent == 0)
        await service.shutdown()
    }

    @Test func clearLeavesActiveJobsAlone() async throws {
        let (service, observer, cache) = try makeService()
        let blocker = try await ProxyFixtures.blocker()
        observer.hold(sourcePath: blocker.path, percent: 0...99)
        defer { observer.release() }
        let ticket = try await service.generate(ProxyRequest(sourcePath: blocker.path, quality: .draft, force: true))
        try await observer.waitUntilHeld()
        #expect(try await service.clear(sourcePath: nil) == ClearResult())
        #expect(try await service.clear(sourcePath: blocker.path) == ClearResult())
        #expect(ProxyFixtures.proxyFiles(cache).count == 1)
        #expect(try await service.lookup(sourcePath: blocker.path, quality: .draft).kind == "active")
        await service.cancel(jobId: ticket.jobId)
        observer.release()
        _ = try await observer.waitForOutcome(of: ticket.jobId)
        await service.shutdown()
    }

    /// Only the slot of an active job is off limits: a finished proxy of the same source at another quality
    /// is cleared (protocol/spec.md §8.9: "Proxies of queued or generating jobs are not touched").
    @Test func clearDeletesFinishedProxiesOfASourceWhoseOtherQualityHasAJob() async throws {
        let (service, observer, cache) = try makeService()
        let source = try await Self.tinyCopies(1, "clear-active")[0]
        let draft = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        let draftRecord = try #require(try await observer.waitForOutcome(of: draft.jobId).completedRecord)
        observer.hold(sourcePath: try await ProxyFixtures.blocker().path, percent: 0...99)
        defer { observer.release() }
        let blocker = try await service.generate(ProxyRequest(sourcePath: ProxyFixtures.blocker().path, quality: .draft, force: true))
        try await observer.waitUntilHeld()
        let preview = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .preview, force: true))
        try #require(preview.status == .queued)
        let cleared = try await service.clear(sourcePath: source.path)
        #expect(cleared == ClearResult(deletedFiles: 1, freedBytes: draftRecord.proxySizeBytes))
        #expect(!FileManager.default.fileExists(atPath: draftRecord.proxyPath))
        #expect(try await service.lookup(sourcePath: source.path, quality: .preview).kind == "active", "the queued job is left alone")
        await service.cancel(jobId: preview.jobId)
        await service.cancel(jobId: blocker.jobId)
        observer.release()
        _ = try await observer.waitForOutcome(of: blocker.jobId)
        #expect(ProxyFixtures.proxyFiles(cache).isEmpty)
        await service.shutdown()
    }

    @Test func shutdownCancelsEverythingAndLeavesNoPartialFiles() async throws {
        let (service, observer, cache) = try makeService()
        let sources = try await Self.tinyCopies(1, "shutdown")
        observer.hold(sourcePath: try await ProxyFixtures.blocker().path, percent: 0...99)
        defer { observer.release() }
        let running = try await service.generate(ProxyRequest(sourcePath: ProxyFixtures.blocker().path, quality: .draft, force: true))
        let queued = try await service.generate(ProxyRequest(sourcePath: sources[0].path, quality: .draft, force: true))
        try await observer.waitUntilHeld()
        async let stopped: Void = service.shutdown()
        // Shutdown tells every job at once, then ends the queued one: once that has ended, the running one knows.
        _ = try await observer.waitForOutcome(of: queued.jobId)
        observer.release()
        await stopped
        #expect(observer.outcome(of: running.jobId)?.name == "cancelled")
        #expect(observer.outcome(of: queued.jobId)?.name == "cancelled")
        #expect(ProxyFixtures.proxyFiles(cache).isEmpty)
        #expect(try service.catalogRecord(jobId: running.jobId)?.status == .cancelled)
        #expect(try service.catalogRecord(jobId: queued.jobId)?.status == .cancelled)
    }
}
