import Foundation
@testable import MediaCache
import TestSupport
import Testing

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
}
