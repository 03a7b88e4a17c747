import Foundation
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
}
