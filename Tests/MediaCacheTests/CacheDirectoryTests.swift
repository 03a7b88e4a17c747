import Foundation
import TestSupport
import Testing

@testable import MediaCache

/// `CacheDirectory.prepare`: created 0700, tightened, and refused when it could be hijacked.
@Suite struct CacheDirectoryTests {
    static func mode(_ path: String) -> mode_t {
        var info = stat()
        precondition(lstat(path, &info) == 0, "lstat \(path)")
        return info.st_mode & 0o7777
    }

    static func cause(of path: String) -> CacheDirectory.Rejected.Cause? {
        do {
            _ = try CacheDirectory.prepare(path: path, areas: ["proxies"])
            return nil
        } catch let rejected as CacheDirectory.Rejected {
            return rejected.cause
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func missingDirectoryIsCreatedWithMode0700AndItsAreas() throws {
        let path = TestFiles.scratch("cachedir").path + "/deeper/still/cache"
        let directory = try CacheDirectory.prepare(path: path, areas: ["proxies"])
        #expect(directory.url.path == path)
        #expect(Self.mode(path) == 0o700)
        for area in ["proxies", "locks", "processes"] {
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: path + "/" + area, isDirectory: &isDirectory) && isDirectory.boolValue)
            #expect(directory.areaURL(area).path == path + "/" + area)
        }
    }

    @Test func anOpenExistingDirectoryIsTightenedTo0700() throws {
        let url = TestFiles.scratch("cachedir-open")
        #expect(chmod(url.path, 0o755) == 0)
        #expect(Self.mode(url.path) == 0o755)
        _ = try CacheDirectory.prepare(path: url.path, areas: ["proxies"])
        #expect(Self.mode(url.path) == 0o700)
    }

    @Test func aSymlinkIsRefused() throws {
        let target = TestFiles.scratch("cachedir-target")
        let link = TestFiles.scratch("cachedir-link").appendingPathComponent("link")
        #expect(symlink(target.path, link.path) == 0)
        #expect(Self.cause(of: link.path) == .symlink)
        // Nothing was created through the link.
        #expect(!FileManager.default.fileExists(atPath: target.path + "/proxies"))
    }

    @Test func aFileIsRefused() throws {
        let file = TestFiles.scratch("cachedir-file").appendingPathComponent("cache")
        try Data("x".utf8).write(to: file)
        #expect(Self.cause(of: file.path) == .notADirectory)
    }

    @Test(arguments: ["proxies", "locks"])
    func anAreaThatIsASymlinkIsRefused(area: String) throws {
        let url = TestFiles.scratch("cachedir-proxies-link")
        let elsewhere = TestFiles.scratch("elsewhere")
        #expect(symlink(elsewhere.path, url.path + "/" + area) == 0)
        #expect(Self.cause(of: url.path) != nil)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to give a directory away"))
    func anotherUsersDirectoryIsRefused() throws {
        let url = TestFiles.scratch("cachedir-other")
        #expect(chown(url.path, 65534, 65534) == 0)
        #expect(Self.cause(of: url.path) == .otherOwner)
    }

    // MARK: - Deleting and listing never follow a symlink

    /// A cache with an area `frames` holding `own/picture.jpg`, and a file outside the cache that symlinks point at.
    static func plantedCache(_ name: String) throws -> (cache: CacheDirectory, outside: URL) {
        let cache = try CacheDirectory.prepare(path: TestFiles.scratch(name).path + "/cache", areas: ["frames"])
        let own = cache.areaURL("frames").appendingPathComponent("own")
        try FileManager.default.createDirectory(at: own, withIntermediateDirectories: false)
        try Data("picture".utf8).write(to: own.appendingPathComponent("picture.jpg"))
        let outside = TestFiles.scratch(name + "-outside").appendingPathComponent("precious.txt")
        try Data("keep me".utf8).write(to: outside)
        return (cache, outside)
    }

    @Test func removeFileInAFolderDeletesTheFileAndOnlyIt() throws {
        let (cache, _) = try Self.plantedCache("cachedir-remove")
        #expect(cache.removeFile(named: "picture.jpg", inArea: "frames", folder: "own") == 7)
        #expect(!FileManager.default.fileExists(atPath: cache.areaURL("frames").path + "/own/picture.jpg"))
        #expect(cache.removeFile(named: "picture.jpg", inArea: "frames", folder: "own") == nil, "already gone")
        for name in ["..", ".", "a/b", ""] {
            #expect(cache.removeFile(named: name, inArea: "frames", folder: "own") == nil)
            #expect(cache.removeFile(named: "picture.jpg", inArea: "frames", folder: name) == nil)
        }
        #expect(FileManager.default.fileExists(atPath: cache.areaURL("frames").path + "/own"), "the folder stays")
    }

    @Test func removeFileThroughASymlinkedFolderIsRefusedAndASymlinkedFileLosesOnlyItsLink() throws {
        let (cache, outside) = try Self.plantedCache("cachedir-remove-link")
        let frames = cache.areaURL("frames").path
        #expect(symlink(outside.deletingLastPathComponent().path, frames + "/linked") == 0)
        #expect(cache.removeFile(named: "precious.txt", inArea: "frames", folder: "linked") == nil)
        #expect(symlink(outside.path, frames + "/own/link.jpg") == 0)
        #expect(cache.removeFile(named: "link.jpg", inArea: "frames", folder: "own") != nil)
        #expect(FileManager.default.fileExists(atPath: outside.path), "the target outside the cache is untouched")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: frames + "/own/link.jpg")) == nil)
    }

    @Test func removeFolderDeletesLinksNotTheirTargetsAndListingSeesEveryName() throws {
        let (cache, outside) = try Self.plantedCache("cachedir-remove-folder")
        let frames = cache.areaURL("frames").path
        #expect(symlink(outside.deletingLastPathComponent().path, frames + "/own/dir-link") == 0)
        #expect(symlink(outside.path, frames + "/own/file-link") == 0)
        try FileManager.default.createDirectory(atPath: frames + "/own/nested/deeper", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: frames + "/own/nested/deeper/x"))
        #expect(Set(cache.fileNames(inArea: "frames")) == ["own"])
        #expect(cache.removeFolder(named: "own", inArea: "frames"))
        #expect(cache.fileNames(inArea: "frames").isEmpty)
        #expect(FileManager.default.fileExists(atPath: outside.path))
        #expect(try String(contentsOf: outside, encoding: .utf8) == "keep me")
    }

    @Test func anAreaSwappedForASymlinkAfterPrepareIsNeitherListedNorDeletedIn() throws {
        let (cache, outside) = try Self.plantedCache("cachedir-swapped")
        let frames = cache.areaURL("frames").path
        try FileManager.default.moveItem(atPath: frames, toPath: frames + "-moved")
        #expect(symlink(outside.deletingLastPathComponent().path, frames) == 0)
        #expect(cache.fileNames(inArea: "frames").isEmpty)
        #expect(cache.removeFile(named: "precious.txt", inArea: "frames") == nil)
        #expect(!cache.removeFolder(named: "precious.txt", inArea: "frames"))
        #expect(FileManager.default.fileExists(atPath: outside.path))
    }
}
