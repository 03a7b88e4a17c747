import FileErrors
import Foundation
import TestSupport
import Testing

@testable import MediaCache

/// `CacheArea`: the pattern every store shares (prepare, lease, start-up sweep, usage, deletion), and
/// `DurableFile.install`.
@Suite struct CacheAreaTests {
    private func makeArea(_ name: String) throws -> CacheArea {
        try CacheArea(cachePath: TestFiles.scratch(name).appendingPathComponent("cache").path, name: "things")
    }

    @Test func openingPreparesTheDirectoryAndTheAreaAndTakesALease() throws {
        let area = try makeArea("area-open")
        defer { area.release() }
        var info = stat()
        #expect(lstat(area.directory.url.path, &info) == 0 && info.st_mode & 0o777 == 0o700)
        #expect(lstat(area.url.path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR)
        #expect(try ProcessLease.isAlive(area.lease.id, in: area.directory))
        area.release()
        #expect(try !ProcessLease.isAlive(area.lease.id, in: area.directory))
    }

    @Test func aSymlinkedCacheIsRefused() throws {
        let root = TestFiles.scratch("area-symlink")
        let real = root.appendingPathComponent("real")
        try FileManager.default.createDirectory(at: real, withIntermediateDirectories: true)
        let link = root.appendingPathComponent("link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: real)
        #expect(throws: CacheDirectory.Rejected.self) { try CacheArea(cachePath: link.path, name: "things") }
    }

    @Test func usageCountsRegularFilesItAcceptsAndNeverFollowsASymlink() throws {
        let area = try makeArea("area-usage")
        defer { area.release() }
        try Data(count: 100).write(to: area.fileURL("a.wave"))
        try Data(count: 50).write(to: area.fileURL("b.wave"))
        try Data(count: 7).write(to: area.fileURL("c.partial"))
        let outside = TestFiles.scratch("area-usage-outside").appendingPathComponent("big")
        try Data(count: 10_000).write(to: outside)
        try FileManager.default.createSymbolicLink(at: area.fileURL("d.wave"), withDestinationURL: outside)
        #expect(area.usage { $0.hasSuffix(".wave") } == (2, 150))
        #expect(area.usage() == (3, 157))
        try FileManager.default.createDirectory(at: area.url.appendingPathComponent("f"), withIntermediateDirectories: false)
        try Data(count: 9).write(to: area.fileURL("x", folder: "f"))
        #expect(area.usage(folder: "f") == (1, 9))
    }

    @Test func removingASymlinkDeletesTheLinkNotItsTarget() throws {
        let area = try makeArea("area-remove")
        defer { area.release() }
        let outside = TestFiles.scratch("area-remove-outside").appendingPathComponent("keep")
        try Data(count: 10).write(to: outside)
        try FileManager.default.createSymbolicLink(at: area.fileURL("link.wave"), withDestinationURL: outside)
        #expect(area.removeFile(named: "link.wave") != nil)
        #expect(FileManager.default.fileExists(atPath: outside.path))
        #expect(area.removeFile(named: "../escape") == nil)
    }

    @Test func theSweepDeletesPartialFilesWhoseWorkIsUnlockedOnly() throws {
        let area = try makeArea("area-sweep")
        defer { area.release() }
        for name in ["k1.job.partial", "k2.job.partial", "k1.wave"] { try Data(count: 1).write(to: area.fileURL(name)) }
        let held = try #require(try WorkLock.tryAcquire("lock-k2", in: area.directory))
        defer { held.release() }
        let removed = area.sweepPartialFiles { name in
            name.hasSuffix(".partial") ? "lock-" + name.split(separator: ".")[0] : nil
        }
        #expect(removed == ["k1.job.partial"])
        #expect(Set(area.fileNames()) == ["k2.job.partial", "k1.wave"])
    }

    @Test func theSweepOfFoldersKeepsLiveProcessesFolders() throws {
        let area = try makeArea("area-folders")
        defer { area.release() }
        let other = try CacheArea(cachePath: area.directory.url.path, name: "things")  // Another live holder.
        defer { other.release() }
        let gone = "p-00000000000000ff"
        for folder in [area.lease.id, other.lease.id, gone] {
            try FileManager.default.createDirectory(at: area.url.appendingPathComponent(folder), withIntermediateDirectories: false)
            try Data(count: 1).write(to: area.fileURL("f.jpg", folder: folder))
        }
        #expect(area.sweepFoldersOfGoneProcesses() == [gone])
        #expect(Set(area.fileNames()) == [area.lease.id, other.lease.id])
    }

    @Test func installMovesAPartialFileIntoPlaceAndReportsAMissingOne() throws {
        let area = try makeArea("area-install")
        defer { area.release() }
        let partial = area.fileURL("x.job.partial"), final = area.fileURL("x.mp4")
        try Data([1, 2, 3]).write(to: partial)
        try DurableFile.install(partial, as: final)
        #expect(try Data(contentsOf: final) == Data([1, 2, 3]))
        #expect(!FileManager.default.fileExists(atPath: partial.path))
        #expect(throws: FileError.fileNotFound(path: partial.path)) { try DurableFile.install(partial, as: final) }
    }

    @Test func installRefusesASymlinkInThePartialFilesPlace() throws {
        let area = try makeArea("area-install-link")
        defer { area.release() }
        let outside = TestFiles.scratch("area-install-outside").appendingPathComponent("target")
        try Data(count: 4).write(to: outside)
        let partial = area.fileURL("x.job.partial")
        try FileManager.default.createSymbolicLink(at: partial, withDestinationURL: outside)
        #expect(throws: FileError.self) { try DurableFile.install(partial, as: area.fileURL("x.mp4")) }
        #expect(!FileManager.default.fileExists(atPath: area.fileURL("x.mp4").path))
    }
}
