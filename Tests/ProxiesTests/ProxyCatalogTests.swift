import Foundation
import GRDB
import MediaCache
import Testing

@testable import Proxies

/// The SQLite catalogue: one record per (fingerprint, quality), queries, persistence.
@Suite struct ProxyCatalogTests {
    @Test func replaceKeepsOneRecordPerSlot() throws {
        let catalog = try ProxyCatalog(directory: ProxyFixtures.scratch("catalog"))
        let first = try catalog.replace(makeRecord(fingerprint: "aaaaaaaaaaaaaaaa", quality: .preview, status: .failed, jobId: "job-1"))
        let second = try catalog.replace(makeRecord(fingerprint: "aaaaaaaaaaaaaaaa", quality: .preview, status: .queued, jobId: "job-2"))
        let otherQuality = try catalog.replace(makeRecord(fingerprint: "aaaaaaaaaaaaaaaa", quality: .draft, jobId: "job-3"))
        #expect(first.id != nil && second.id != nil && first.id != second.id)
        let all = try catalog.allRecords()
        #expect(all.count == 2)
        #expect(Set(all.map(\.quality)) == [.preview, .draft])
        let slot = try #require(try catalog.record(ProxySlot(fingerprintKey: "aaaaaaaaaaaaaaaa", quality: .preview)))
        #expect(slot.id == second.id && slot.jobId == "job-2" && slot.status == .queued)
        #expect(try catalog.record(jobId: "job-1") == nil)
        #expect(try catalog.record(jobId: "job-3")?.id == otherQuality.id)
        #expect(try catalog.record(id: otherQuality.id!)?.quality == .draft)
        #expect(try catalog.record(ProxySlot(fingerprintKey: "bbbbbbbbbbbbbbbb", quality: .preview)) == nil)
    }

    @Test func latestRecordIsTheNewestForThatPathAndQuality() throws {
        let catalog = try ProxyCatalog(directory: ProxyFixtures.scratch("catalog"))
        let now = Date()
        try catalog.replace(
            makeRecord(fingerprint: "0000000000000001", sourcePath: "/m/a.mp4", createdAt: now.addingTimeInterval(-300), jobId: "old"))
        try catalog.replace(makeRecord(fingerprint: "0000000000000002", sourcePath: "/m/a.mp4", createdAt: now.addingTimeInterval(-10), jobId: "new"))
        try catalog.replace(
            makeRecord(fingerprint: "0000000000000003", sourcePath: "/m/a.mp4", createdAt: now.addingTimeInterval(-200), jobId: "middle"))
        try catalog.replace(makeRecord(fingerprint: "0000000000000004", quality: .draft, sourcePath: "/m/a.mp4", createdAt: now, jobId: "draft"))
        try catalog.replace(makeRecord(fingerprint: "0000000000000005", sourcePath: "/m/b.mp4", createdAt: now, jobId: "other"))
        #expect(try catalog.latestRecord(sourcePath: "/m/a.mp4", quality: .preview)?.jobId == "new")
        #expect(try catalog.latestRecord(sourcePath: "/m/a.mp4", quality: .draft)?.jobId == "draft")
        #expect(try catalog.latestRecord(sourcePath: "/m/c.mp4", quality: .preview) == nil)
        #expect(try catalog.allRecords().filter { $0.sourcePath == "/m/a.mp4" }.count == 4)
    }

    @Test func completedRecordsComeLeastRecentlyUsedFirstAndTouchReorders() throws {
        let catalog = try ProxyCatalog(directory: ProxyFixtures.scratch("catalog"))
        let now = Date()
        let a = try catalog.replace(makeRecord(fingerprint: "000000000000000a", lastAccessedAt: now.addingTimeInterval(-100), jobId: "a"))
        _ = try catalog.replace(makeRecord(fingerprint: "000000000000000b", lastAccessedAt: now.addingTimeInterval(-300), jobId: "b"))
        _ = try catalog.replace(makeRecord(fingerprint: "000000000000000c", lastAccessedAt: now.addingTimeInterval(-200), jobId: "c"))
        _ = try catalog.replace(
            makeRecord(fingerprint: "000000000000000d", status: .failed, lastAccessedAt: now.addingTimeInterval(-900), jobId: "failed"))
        #expect(try catalog.completedByLeastRecentUse().map(\.jobId) == ["b", "c", "a"])
        try catalog.touch(id: a.id!, sourcePath: "/moved/clip.mp4", at: now.addingTimeInterval(-1000))
        #expect(try catalog.completedByLeastRecentUse().map(\.jobId) == ["a", "b", "c"])
        let touched = try #require(try catalog.record(id: a.id!))
        #expect(touched.sourcePath == "/moved/clip.mp4")
        #expect(abs(touched.lastAccessedAt.timeIntervalSince(now.addingTimeInterval(-1000))) < 0.01)
        try catalog.delete(ids: [a.id!])
        #expect(try catalog.completedByLeastRecentUse().map(\.jobId) == ["b", "c"])
    }

    @Test func recordsSurviveReopening() throws {
        let directory = ProxyFixtures.scratch("catalog")
        let created = Date().addingTimeInterval(-3600)
        do {
            let catalog = try ProxyCatalog(directory: directory)
            var record = try catalog.replace(
                makeRecord(
                    fingerprint: "1234567890abcdef", quality: .high, sourcePath: "/m/keep.mov",
                    proxySizeBytes: 4242, createdAt: created, jobId: "job-keep"))
            record.progressPercent = 100
            record.error = "none"
            try catalog.update(record)
        }
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("catalogue.sqlite").path))
        let reopened = try ProxyCatalog(directory: directory)
        let record = try #require(try reopened.record(ProxySlot(fingerprintKey: "1234567890abcdef", quality: .high)))
        #expect(record.sourcePath == "/m/keep.mov")
        #expect(record.proxySizeBytes == 4242)
        #expect(record.jobId == "job-keep")
        #expect(record.error == "none")
        #expect(record.status == .completed)
        #expect(abs(record.createdAt.timeIntervalSince(created)) < 0.01)
    }

    /// A catalogue written by the version that shipped segments (`v4-segments`, before `v5-segment-frames`) opens, keeps
    /// its rows, and takes rows of this version.
    @Test func aCatalogueOfTheFirstSegmentedVersionIsMigrated() throws {
        let directory = ProxyFixtures.scratch("catalog-v4")
        let path = directory.appendingPathComponent(ProxyCatalog.fileName).path
        _ = try ProxyCatalog(directory: directory)
        // Back to the shape v4 left: without the two columns v5 adds, and v5 not yet applied; one row of then.
        let old = try DatabaseQueue(path: path)
        try old.write { db in
            try db.execute(sql: "ALTER TABLE proxySegments DROP COLUMN frameCount")
            try db.execute(sql: "ALTER TABLE proxySegments DROP COLUMN frameRate")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v5-segment-frames'")
            try db.execute(
                sql: """
                    INSERT INTO proxySegments (sourceFingerprint, quality, settingsKey, part, segmentIndex, startSlot, endSlot,
                        fileName, sizeBytes, checksum, facts, jobId, createdAt)
                    VALUES ('00000000000000aa', 'Draft', 'oldkey', 'video', 0, 0, 150, 'oldkey-00000.m4s', 10, 'c', '{}', 'job-old',
                        '2026-12-01 10:00:00.000')
                    """)
        }
        try old.close()

        let catalog = try ProxyCatalog(directory: directory)
        let slot = ProxySlot(fingerprintKey: "00000000000000aa", quality: .draft)
        let kept = try #require(try catalog.allSegments(of: slot).first)
        #expect(kept.fileName == "oldkey-00000.m4s" && kept.frameCount == 0 && kept.timeSpan == nil, "\(kept)")
        try catalog.insert(
            ProxySegmentRecord(
                sourceFingerprint: slot.fingerprintKey, quality: .draft, settingsKey: "newkey", part: .video, segmentIndex: 0,
                startSlot: 0, endSlot: 250, fileName: "newkey-00000.m4s", sizeBytes: 20, checksum: "d", frameCount: 250,
                frameRate: 25, facts: "{}", jobId: "job-new", createdAt: Date()))
        let rows = try catalog.segments(of: slot, settingsKey: "newkey")
        #expect(rows.count == 1 && rows.first?.timeSpan == 0..<10)
        #expect(try catalog.slotsWithSegments() == [slot])
    }
}
