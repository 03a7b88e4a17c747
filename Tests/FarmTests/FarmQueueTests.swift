import Farm
import Foundation
import Media
import MediaCache
import Proxies
import TestSupport
import Testing

/// The catalogue's work queue against a real PostgreSQL (a database per test): claims, leases, completion, joining.
@Suite(.timeLimit(.minutes(5)))
struct FarmQueueTests {
    /// An order of `segments` 10 s segments (and the audio) of a made-up source: the queue never reads the source.
    static func order(
        segments: Int, settingsKey: String = ProxyPartMaker.settingsKey(quality: .preview, scalePercent: nil), name: String = "a"
    )
        -> ProxyWorkOrder
    {
        let plan = SegmentPlan(
            frameRateNumerator: 25, frameRateDenominator: 1, durationSeconds: Double(segments) * 10, audioStreams: 1,
            fieldOrder: .progressive,
            segments: (0..<segments).map {
                SegmentPlan.Segment(index: $0, startSlot: Int64($0) * 250, endSlot: $0 == segments - 1 ? nil : Int64($0 + 1) * 250)
            })
        return ProxyWorkOrder(
            sourcePath: "/media/\(name).mov", quality: .preview, scalePercent: nil,
            fingerprint: SourceFingerprint(sizeBytes: Int64(name.utf8.reduce(0) { $0 &* 31 &+ Int($1) }), modificationTime: 1, edgeHash: name),
            settingsKey: settingsKey, plan: plan)
    }

    static func made(_ claim: FarmClaim) -> ProxyMadePart {
        ProxyMadePart(number: claim.part, fileName: "part-\(claim.part)", sizeBytes: 1, checksum: "c", frameCount: 250, facts: "{}")
    }

    static let keys = ProxyPartMaker.settingsKeys

    @Test func sixteenClaimersTakeEveryPartExactlyOnceAndOneOfThemJoins() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            let order = Self.order(segments: 40)
            let submission = try await catalogue.submit(order, by: "test")
            #expect(submission.resumedSegments == 0)
            // 16 workers, each claiming and completing until the queue is empty.
            let results = try await withThrowingTaskGroup(of: (parts: [Int], joins: Int).self) { group in
                for worker in 0..<16 {
                    group.addTask {
                        var parts: [Int] = []
                        var joins = 0
                        while let claim = try await catalogue.claim(worker: "w\(worker)", lease: .seconds(30), settingsKeys: Self.keys) {
                            parts.append(claim.part)
                            let joined = try await catalogue.complete(claim, made: Self.made(claim), worker: "w\(worker)", lease: .seconds(30))
                            #expect(joined != nil)
                            if joined == true { joins += 1 }
                        }
                        return (parts, joins)
                    }
                }
                return try await group.reduce(into: [(parts: [Int], joins: Int)]()) { $0.append($1) }
            }
            let claimed = results.flatMap(\.parts).sorted()
            #expect(claimed == Array(0...40), "every part (40 segments and the audio) claimed once")
            #expect(results.map(\.joins).reduce(0, +) == 1, "exactly one completer joins")
            let state = try #require(try await catalogue.proxy(id: submission.proxyId))
            #expect(state.status == "joining")
            #expect(state.segmentsCompleted == 41)
            #expect(state.coverage == [[0, 400]])
        }
    }

    @Test func anExpiredLeaseIsTakenOverAndTheFormerHolderCannotRecord() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            _ = try await catalogue.submit(Self.order(segments: 1), by: "test")
            let first = try #require(try await catalogue.claim(worker: "dead", lease: .seconds(1), settingsKeys: Self.keys))
            #expect(first.part == 0)
            // The audio is the only other part; nothing else is claimable while the lease lives.
            let audio = try #require(try await catalogue.claim(worker: "live", lease: .seconds(30), settingsKeys: Self.keys))
            #expect(audio.part == 1)
            #expect(try await catalogue.claim(worker: "live", lease: .seconds(30), settingsKeys: Self.keys) == nil)
            // A heartbeat keeps a lease; none for "dead", whose lease expires.
            try await Task.sleep(for: .milliseconds(1500))
            let taken = try #require(try await catalogue.claim(worker: "live", lease: .seconds(30), settingsKeys: Self.keys))
            #expect(taken.part == 0)
            #expect(taken.previousWorker == "dead")
            #expect(taken.attempts == 2)
            #expect(try await catalogue.complete(first, made: Self.made(first), worker: "dead", lease: .seconds(30)) == nil)
            #expect(try await catalogue.complete(audio, made: Self.made(audio), worker: "live", lease: .seconds(30)) == false)
            #expect(try await catalogue.complete(taken, made: Self.made(taken), worker: "live", lease: .seconds(30)) == true)
        }
    }

    @Test func heartbeatsKeepLeases() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            _ = try await catalogue.submit(Self.order(segments: 1), by: "test")
            _ = try #require(try await catalogue.claim(worker: "w", lease: .seconds(1), settingsKeys: Self.keys))
            _ = try #require(try await catalogue.claim(worker: "w", lease: .seconds(1), settingsKeys: Self.keys))
            for _ in 0..<4 {
                try await Task.sleep(for: .milliseconds(400))
                #expect(try await catalogue.heartbeat(worker: "w", lease: .seconds(1)) == 2)
            }
            #expect(try await catalogue.claim(worker: "other", lease: .seconds(1), settingsKeys: Self.keys) == nil)
        }
    }

    @Test func partsAreClaimedFromThePlayheadOn() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            let submission = try await catalogue.submit(Self.order(segments: 6), by: "test")
            try await catalogue.setPlayhead(proxyId: submission.proxyId, seconds: 25)
            var parts: [Int] = []
            while let claim = try await catalogue.claim(worker: "w", lease: .seconds(30), settingsKeys: Self.keys) {
                parts.append(claim.part)
                if parts.count == 2 {
                    // The playhead jumps: the queued parts are taken from there on.
                    try await catalogue.setPlayhead(proxyId: submission.proxyId, seconds: 5)
                }
            }
            // Segment 2 (20–30 s), the audio (part 6), then from the new playhead: 0, then after it 1, 3, 4, 5.
            #expect(parts == [2, 6, 0, 1, 3, 4, 5])
        }
    }

    @Test func aProxyOfOtherSettingsIsNeverClaimed() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            _ = try await catalogue.submit(Self.order(segments: 2, settingsKey: "0123456789abcdef", name: "other-version"), by: "test")
            #expect(try await catalogue.claim(worker: "w", lease: .seconds(30), settingsKeys: Self.keys) == nil)
            #expect(try await catalogue.claimJoin(worker: "w", lease: .seconds(30), settingsKeys: Self.keys) == nil)
        }
    }

    @Test func aFailedProxyOrderedAgainKeepsItsFinishedParts() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            let order = Self.order(segments: 3)
            let submission = try await catalogue.submit(order, by: "test")
            let claim = try #require(try await catalogue.claim(worker: "w", lease: .seconds(30), settingsKeys: Self.keys))
            _ = try await catalogue.complete(claim, made: Self.made(claim), worker: "w", lease: .seconds(30))
            let held = try #require(try await catalogue.claim(worker: "w", lease: .seconds(30), settingsKeys: Self.keys))
            try await catalogue.fail(proxyId: submission.proxyId, kind: "diskFull", message: "the disk is full")
            let failed = try #require(try await catalogue.proxy(id: submission.proxyId))
            #expect(failed.status == "failed")
            #expect(failed.errorKind == "diskFull")
            // Nothing of a failed proxy is claimable, and the part held is given back.
            #expect(try await catalogue.claim(worker: "w", lease: .seconds(30), settingsKeys: Self.keys) == nil)
            #expect(try await catalogue.complete(held, made: Self.made(held), worker: "w", lease: .seconds(30)) == nil)
            let again = try await catalogue.submit(order, by: "test")
            #expect(again.proxyId == submission.proxyId)
            #expect(again.resumedSegments == 1)
            #expect(try await catalogue.proxy(id: submission.proxyId)?.status == "making")
            #expect(try await catalogue.claim(worker: "w", lease: .seconds(30), settingsKeys: Self.keys) != nil)
        }
    }

    @Test func aProxyWhoseJoinFailedIsJoinedWhenOrderedAgain() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            let order = Self.order(segments: 1)
            let submission = try await catalogue.submit(order, by: "test")
            while let claim = try await catalogue.claim(worker: "w", lease: .seconds(30), settingsKeys: Self.keys) {
                _ = try await catalogue.complete(claim, made: Self.made(claim), worker: "w", lease: .seconds(30))
            }
            // The join fails (the shared folder is full): every part is kept.
            try await catalogue.fail(proxyId: submission.proxyId, kind: "diskFull", message: "full")
            let again = try await catalogue.submit(order, by: "test")
            #expect(again.resumedSegments == 2)
            #expect(try await catalogue.proxy(id: submission.proxyId)?.status == "joining")
            let join = try #require(try await catalogue.claimJoin(worker: "other", lease: .seconds(30), settingsKeys: Self.keys))
            #expect(join.proxyId == submission.proxyId)
        }
    }

    @Test func damagedPartsFoundWhenJoiningGoBackToTheQueue() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            let submission = try await catalogue.submit(Self.order(segments: 1), by: "test")
            var joiner: String?
            for worker in ["a", "b"] {
                let claim = try #require(try await catalogue.claim(worker: worker, lease: .seconds(30), settingsKeys: Self.keys))
                if try await catalogue.complete(claim, made: Self.made(claim), worker: worker, lease: .seconds(30)) == true { joiner = worker }
            }
            let worker = try #require(joiner)
            try await catalogue.reopen(proxyId: submission.proxyId, parts: [0], worker: worker)
            let state = try #require(try await catalogue.proxy(id: submission.proxyId))
            #expect(state.status == "making")
            #expect(state.segmentsCompleted == 1)
            let again = try #require(try await catalogue.claim(worker: "c", lease: .seconds(30), settingsKeys: Self.keys))
            #expect(again.part == 0)
        }
    }

    @Test func aJoinWhoseJoinerDiedIsTakenOver() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            let submission = try await catalogue.submit(Self.order(segments: 1), by: "test")
            while let claim = try await catalogue.claim(worker: "dead", lease: .seconds(1), settingsKeys: Self.keys) {
                _ = try await catalogue.complete(claim, made: Self.made(claim), worker: "dead", lease: .seconds(1))
            }
            #expect(try await catalogue.claimJoin(worker: "live", lease: .seconds(30), settingsKeys: Self.keys) == nil)
            try await Task.sleep(for: .milliseconds(1500))
            let join = try #require(try await catalogue.claimJoin(worker: "live", lease: .seconds(30), settingsKeys: Self.keys))
            #expect(join.proxyId == submission.proxyId)
            let file = ProxyJoinedFile(
                relativePath: "farm/x.mp4", sizeBytes: 10, width: 1280, height: 720, frameCount: 250, durationSeconds: 10, videoEncoder: "libx264",
                hasAudio: true)
            #expect(try await catalogue.recordJoined(proxyId: join.proxyId, file: file, worker: "dead") == false)
            #expect(try await catalogue.recordJoined(proxyId: join.proxyId, file: file, worker: "live") == true)
            #expect(try await catalogue.proxy(id: submission.proxyId)?.status == "completed")
        }
    }

    @Test func statsFollowTheProxiesThroughTheirStates() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { catalogue in
            let done = try await catalogue.submit(Self.order(segments: 1, name: "done"), by: "test")
            let failing = try await catalogue.submit(Self.order(segments: 2, name: "failing"), by: "test")
            _ = try await catalogue.submit(Self.order(segments: 3, name: "waiting"), by: "test")
            var stats = try await catalogue.stats()
            #expect(stats.inProgress == 3)
            #expect(stats.completedProxies == 0)
            #expect(stats.partsWaiting == 2 + 3 + 4)
            // Make the first proxy's parts and join it; fail the second.
            var joiner: String?
            while let claim = try await catalogue.claim(worker: "w", lease: .seconds(30), settingsKeys: Self.keys), claim.proxyId == done.proxyId {
                if try await catalogue.complete(claim, made: Self.made(claim), worker: "w", lease: .seconds(30)) == true { joiner = "w" }
            }
            #expect(joiner == "w")
            let file = ProxyJoinedFile(
                relativePath: "farm/x.mp4", sizeBytes: 1234, width: 1280, height: 720, frameCount: 250, durationSeconds: 10,
                videoEncoder: "libx264", hasAudio: true)
            #expect(try await catalogue.recordJoined(proxyId: done.proxyId, file: file, worker: "w"))
            try await catalogue.fail(proxyId: failing.proxyId, kind: "corrupt", message: "changed")
            stats = try await catalogue.stats()
            #expect(stats.completedProxies == 1)
            #expect(stats.completedSizeBytes == 1234)
            #expect(stats.byQuality["Preview"] == FarmStats.QualityTotals(count: 1, sizeBytes: 1234))
            #expect(stats.failed == 1)
            #expect(stats.inProgress == 1)
        }
    }

    @Test func migratingFromSeveralProcessesAtOnceIsSafe() async throws {
        let location = try await FarmTestCluster.freshDatabase()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask { try await FarmCatalogue.with(location, logger: FarmTestCluster.logger) { _ = try await $0.status() } }
            }
            try await group.waitForAll()
        }
    }

    @Test func anUnreachableCatalogueIsAClearErrorNamingTheHost() async throws {
        // A port nothing listens on.
        let location = try FarmCatalogueLocation(url: "postgres://aura@127.0.0.1:1/aura", environment: [:])
        let error = try await #require(throws: FarmCatalogueUnreachable.self) {
            try await FarmCatalogue.with(location, logger: FarmTestCluster.logger, timeout: .seconds(3)) { _ in }
        }
        #expect(error.description.contains("127.0.0.1:1"))
    }
}
