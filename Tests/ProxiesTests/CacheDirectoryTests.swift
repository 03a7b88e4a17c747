import Foundation
@testable import Proxies
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
            _ = try CacheDirectory.prepare(path: path)
            return nil
        } catch let rejected as CacheDirectory.Rejected {
            return rejected.cause
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func missingDirectoryIsCreatedWithMode0700AndAProxiesFolder() throws {
        let path = ProxyFixtures.scratch("cachedir").path + "/deeper/still/cache"
        let directory = try CacheDirectory.prepare(path: path)
        #expect(directory.url.path == path)
        #expect(Self.mode(path) == 0o700)
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: path + "/proxies", isDirectory: &isDirectory) && isDirectory.boolValue)
        #expect(directory.proxiesURL.path == path + "/proxies")
    }

    @Test func anOpenExistingDirectoryIsTightenedTo0700() throws {
        let url = ProxyFixtures.scratch("cachedir-open")
        #expect(chmod(url.path, 0o755) == 0)
        #expect(Self.mode(url.path) == 0o755)
        _ = try CacheDirectory.prepare(path: url.path)
        #expect(Self.mode(url.path) == 0o700)
    }

    @Test func aSymlinkIsRefused() throws {
        let target = ProxyFixtures.scratch("cachedir-target")
        let link = ProxyFixtures.scratch("cachedir-link").appendingPathComponent("link")
        #expect(symlink(target.path, link.path) == 0)
        #expect(Self.cause(of: link.path) == .symlink)
        // Nothing was created through the link.
        #expect(!FileManager.default.fileExists(atPath: target.path + "/proxies"))
    }

    @Test func aFileIsRefused() throws {
        let file = ProxyFixtures.scratch("cachedir-file").appendingPathComponent("cache")
        try Data("x".utf8).write(to: file)
        #expect(Self.cause(of: file.path) == .notADirectory)
    }

    @Test func aProxiesFolderThatIsASymlinkIsRefused() throws {
        let url = ProxyFixtures.scratch("cachedir-proxies-link")
        let elsewhere = ProxyFixtures.scratch("elsewhere")
        #expect(symlink(elsewhere.path, url.path + "/proxies") == 0)
        #expect(Self.cause(of: url.path) != nil)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to give a directory away"))
    func anotherUsersDirectoryIsRefused() throws {
        let url = ProxyFixtures.scratch("cachedir-other")
        #expect(chown(url.path, 65534, 65534) == 0)
        #expect(Self.cause(of: url.path) == .otherOwner)
    }
}
