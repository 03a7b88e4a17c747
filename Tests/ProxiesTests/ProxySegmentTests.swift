import Foundation
import Media
import MediaCache
import TestSupport
import Testing

@testable import Proxies

/// The parts of a proxy in the making (`ProxySegmentBuild`) in one service: a part that goes missing, and what kept
/// parts weigh in the cache.
@Suite(.timeLimit(.minutes(10)))
struct ProxySegmentTests {
    /// The parts a job's progress reports it encoding, one entry per stretch ("segment 2", "audio").
    static func encodingStretches(_ observer: RecordingObserver, job: String) -> [String] {
        var stretches: [String] = []
        for snapshot in observer.progress(of: job) {
            guard let message = snapshot.progress.message?.lowercased(), let range = message.range(of: "encoding segment ") else {
                continue
            }
            let part = "segment " + message[range.upperBound...].prefix { $0.isNumber }
            if stretches.last != part { stretches.append(part) }
        }
        return stretches
    }

    /// The finished part files (video segments and the audio) in the cache's segments folders.
    static func partFiles(_ cache: URL) -> [URL] {
        let proxies = cache.appendingPathComponent("proxies")
        return ProxyFixtures.proxyFiles(cache).filter { $0.hasSuffix(".segments") }.flatMap { folder -> [URL] in
            ((try? FileManager.default.contentsOfDirectory(atPath: proxies.appendingPathComponent(folder).path)) ?? [])
                .filter { $0.hasSuffix(".m4a") || ($0.hasSuffix(".m4s") && !$0.contains("-hls-")) }.sorted()
                .map { proxies.appendingPathComponent(folder).appendingPathComponent($0) }
        }
    }

    @Test func aPartDeletedWhileTheProxyIsMadeIsMadeAgainBeforeTheJoin() async throws {
        let (service, observer, cache) = try makeService()
        let source = try await ProxyFixtures.copy(ProxyFixtures.threeSegments(), into: ProxyFixtures.scratch("deleted-part"))
        // Segment 1 is about 23 % of the work, the audio 25 %, segment 2 another 23 %: from 75 % on, the job is in
        // segment 3 with the rest finished.
        observer.hold(sourcePath: source.path, percent: 75...99)
        defer { observer.release() }
        let ticket = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        try await observer.waitUntilHeld()
        // Segment 2 may still be completing on its lane (its encoder drains while segment 3 starts).
        let deadline = TestDeadline.after(.seconds(120))
        while Self.partFiles(cache).count < 3 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let parts = Self.partFiles(cache)
        try #require(parts.count == 3, "\(parts)")
        let second = try #require(parts.first { $0.lastPathComponent.hasSuffix("-00001.m4s") })
        try FileManager.default.removeItem(at: second)

        observer.release()
        let record = try #require(try await observer.waitForOutcome(of: ticket.jobId).completedRecord)
        #expect(Self.encodingStretches(observer, job: ticket.jobId) == ["segment 1", "segment 2", "segment 3", "segment 2"])
        #expect(abs(record.durationSeconds - 32) < 0.05 && record.hasAudio, "\(record)")
        let probe = try await OffPool.run { try MediaProbe.probe(path: record.proxyPath) }
        #expect(probe.primaryVideoStream?.frameCount == 800, "every frame once: \(probe)")
        #expect(Self.partFiles(cache).isEmpty)
        await service.shutdown()
    }
}

extension ProxySegmentTests {
    /// Starts a Draft proxy of the three-segment fixture (a copy in `scratch`), holds it in segment 3 (at 75 %, with
    /// segments 1 and 2 and the audio finished) and cancels it: the source, and the segments folder's name and URL.
    static func cancelledInTheLastSegment(
        _ service: ProxyService, _ observer: RecordingObserver, _ cache: URL, scratch: String
    ) async throws -> (source: URL, folder: String, folderURL: URL) {
        let source = try await ProxyFixtures.copy(ProxyFixtures.threeSegments(), into: ProxyFixtures.scratch(scratch))
        observer.hold(sourcePath: source.path, percent: 75...99)
        defer { observer.release() }
        let ticket = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        try await observer.waitUntilHeld()
        _ = await service.cancel(jobId: ticket.jobId)
        observer.release()
        #expect(try await observer.waitForOutcome(of: ticket.jobId).name == "cancelled")
        let folder = try #require(ProxyFixtures.proxyFiles(cache).first { $0.hasSuffix(".segments") })
        return (source, folder, cache.appendingPathComponent("proxies").appendingPathComponent(folder))
    }

    @Test func keptPartsCountInStatsAndTheLimitAndAreEvictedLikeProxies() async throws {
        let (service, observer, cache) = try makeService()
        let (source, folder, folderURL) = try await Self.cancelledInTheLastSegment(service, observer, cache, scratch: "kept-parts")

        // What the segments folder holds (parts, HLS copies, playlists) is in `stats`, apart from the proxies.
        let bytes = try FileManager.default.contentsOfDirectory(atPath: folderURL.path)
            .reduce(Int64(0)) { $0 + (ProxyFixtures.size(folderURL.appendingPathComponent($1)) ?? 0) }
        // Segments 1 and 2 and the audio were finished; segment 3 was running (it may have finished as it stopped).
        let kept = Self.partFiles(cache).count
        #expect(kept >= 3 && bytes > 0)
        var stats = try await service.stats()
        #expect(stats.segmentsSizeBytes == bytes && stats.totalCacheSizeBytes == 0 && stats.totalProxies == 0, "\(stats)")

        // Under the limit they stay; over it they stay while used in the last minute, then go like a proxy.
        await service.reconfigure(ProxyServiceConfiguration(cacheLimitBytes: bytes * 2, maxConcurrentJobs: 1))
        #expect(Self.partFiles(cache).count == kept)
        await service.reconfigure(ProxyServiceConfiguration(cacheLimitBytes: bytes / 2, maxConcurrentJobs: 1))
        #expect(Self.partFiles(cache).count == kept, "the cancelled job's record was used within the last minute")
        let slot = ProxySlot(fingerprintKey: try SourceFingerprint.of(path: source.path).key, quality: .draft)
        let record = try #require(try service.catalog.record(slot))
        try service.catalog.touch(id: record.id!, sourcePath: source.path, at: Date().addingTimeInterval(-300))
        await service.reconfigure(ProxyServiceConfiguration(cacheLimitBytes: bytes / 2, maxConcurrentJobs: 1))
        #expect(Self.partFiles(cache).isEmpty && !ProxyFixtures.proxyFiles(cache).contains(folder))
        stats = try await service.stats()
        #expect(stats.segmentsSizeBytes == 0)
        #expect(observer.notices.contains { $0.contains("the kept parts of 1 unfinished") }, "\(observer.notices)")

        // The next generate starts from scratch, and completes.
        await service.reconfigure(ProxyServiceConfiguration(cacheLimitBytes: 10 << 30, maxConcurrentJobs: 1))
        let again = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        #expect(again.resumedSegments == 0)
        #expect(try await observer.waitForOutcome(of: again.jobId).completedRecord != nil)
        await service.shutdown()
    }
}

extension ProxySegmentTests {
    /// The owner keeps the plan in the folder's settings mark; a job that resumes the proxy reads it there instead of
    /// planning again (which decodes pictures to find the scan). Shown with a mark whose plan cuts the proxy into two
    /// video segments instead of three: the resumed job makes it to that plan, and it is still whole.
    @Test func aResumedJobMakesTheProxyToThePlanKeptInTheFolder() async throws {
        let (service, observer, cache) = try makeService()
        let (source, _, folderURL) = try await Self.cancelledInTheLastSegment(service, observer, cache, scratch: "kept-plan")
        let markName = try #require(try FileManager.default.contentsOfDirectory(atPath: folderURL.path).first { $0.hasSuffix(".settings") })
        let markURL = folderURL.appendingPathComponent(markName)
        var mark = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: markURL)) as? [String: Any])
        let planned = try await OffPool.run { try SegmentPlan.make(path: source.path) }
        let kept = try JSONDecoder().decode(SegmentPlan.self, from: JSONSerialization.data(withJSONObject: mark["plan"] as Any))
        #expect(kept == planned && planned.segments.count == 3)

        // Segments 0 and 1 as one: a cut the planner could have made (at a keyframe), which it never does.
        let merged = SegmentPlan(
            frameRateNumerator: planned.frameRateNumerator, frameRateDenominator: planned.frameRateDenominator,
            durationSeconds: planned.durationSeconds, audioStreams: planned.audioStreams, fieldOrder: planned.fieldOrder,
            segments: [
                .init(index: 0, startSlot: 0, endSlot: planned.segments[2].startSlot),
                .init(index: 1, startSlot: planned.segments[2].startSlot, endSlot: nil),
            ])
        mark["plan"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(merged))
        try JSONSerialization.data(withJSONObject: mark).write(to: markURL)

        let again = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        let record = try #require(try await observer.waitForOutcome(of: again.jobId).completedRecord)
        // Only the audio fits the kept plan's parts; both video segments are made to it.
        let reports = observer.progress(of: again.jobId).map(\.progress)
        #expect(!reports.isEmpty && reports.compactMap(\.segmentCount).allSatisfy { $0 == 3 }, "\(reports)")
        let encoding = reports.compactMap(\.message).filter { $0.lowercased().contains("encoding segment") }
        #expect(!encoding.isEmpty && encoding.allSatisfy { $0.contains(" of 2 (") }, "\(encoding)")
        #expect(Self.encodingStretches(observer, job: again.jobId) == ["segment 1", "segment 2"])
        let probe = try await OffPool.run { try MediaProbe.probe(path: record.proxyPath) }
        #expect(probe.primaryVideoStream?.frameCount == 800, "every frame once: \(probe)")
        await service.shutdown()
    }
}

extension ProxySegmentTests {
    /// Segments are made in runs (a segment's last packets come out while the next is fed) and a run's last drains on
    /// a lane beside the next run; the job's progress still never falls back (a fed segment counts as done), its
    /// coverage only grows, and every part lands once.
    @Test func progressNeverFallsBackAcrossSeams() async throws {
        let (service, observer, _) = try makeService()
        let source = try await ProxyFixtures.copy(ProxyFixtures.threeSegments(), into: ProxyFixtures.scratch("drains"))
        let ticket = try await service.generate(ProxyRequest(sourcePath: source.path, quality: .draft, force: true))
        let record = try #require(try await observer.waitForOutcome(of: ticket.jobId).completedRecord)
        let reports = observer.progress(of: ticket.jobId).map(\.progress)
        let percents = reports.map(\.percent)
        #expect(percents == percents.sorted() && percents.last == 100, "\(percents)")
        let completed = reports.compactMap(\.segmentsCompleted)
        #expect(completed == completed.sorted() && completed.last == 4, "\(completed)")
        let covered = reports.compactMap(\.coverage).map { $0.reduce(0.0) { $0 + $1[1] - $1[0] } }
        #expect(covered == covered.sorted() && abs((covered.last ?? 0) - 32) < 0.05, "\(covered)")
        #expect(Self.encodingStretches(observer, job: ticket.jobId) == ["segment 1", "segment 2", "segment 3"])
        let probe = try await OffPool.run { try MediaProbe.probe(path: record.proxyPath) }
        #expect(probe.primaryVideoStream?.frameCount == 800, "every frame once: \(probe)")
        await service.shutdown()
    }

    /// The percentage across a seam: the segment fed to its end, the same segment with its file not complete yet
    /// while the next starts (its last packets in the encoder, or its drain on a lane), and landed, are the same
    /// amount of work.
    @Test func aFedSegmentCountsAsDone() throws {
        let plan = SegmentPlan(
            frameRateNumerator: 25, frameRateDenominator: 1, durationSeconds: 30, audioStreams: 1, fieldOrder: .progressive,
            segments: [
                .init(index: 0, startSlot: 0, endSlot: 250), .init(index: 1, startSlot: 250, endSlot: 500),
                .init(index: 2, startSlot: 500, endSlot: nil),
            ])
        let fed = ProxySegmentBuild.percent(plan: plan, done: [.audio], running: (.video(0), 1), fed: [])
        let fedOnly = ProxySegmentBuild.percent(plan: plan, done: [.audio], running: (.video(1), 0), fed: [.video(0)])
        let landed = ProxySegmentBuild.percent(plan: plan, done: [.audio, .video(0)], running: (.video(1), 0), fed: [])
        #expect(abs(fed - 50) < 1e-9 && fedOnly == fed && landed == fed, "\(fed) \(fedOnly) \(landed)")
        #expect(ProxySegmentBuild.percent(plan: plan, done: [.audio, .video(0), .video(1), .video(2)], running: nil, fed: []) == 99.9)
    }
}
