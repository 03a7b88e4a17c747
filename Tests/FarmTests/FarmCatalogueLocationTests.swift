import Farm
import Foundation
import TestSupport
import Testing

struct FarmCatalogueLocationTests {
    @Test func aURLNamesUserHostPortAndDatabase() throws {
        let location = try FarmCatalogueLocation(url: "postgres://farm@db.studio:6543/proxies?sslmode=require", environment: [:])
        #expect(location.user == "farm")
        #expect(location.host == "db.studio")
        #expect(location.port == 6543)
        #expect(location.database == "proxies")
        #expect(location.tls == .require)
        #expect(location.description == "postgres://farm@db.studio:6543/proxies")
    }

    @Test func defaultsFollowLibpq() throws {
        let remote = try FarmCatalogueLocation(url: "postgresql://farm@db.studio", environment: [:])
        #expect(remote.port == 5432)
        #expect(remote.database == "farm")
        #expect(remote.tls == .prefer)
        #expect(try FarmCatalogueLocation(url: "postgres://farm@127.0.0.1/x", environment: [:]).tls == .disable)
    }

    @Test func aPasswordInTheURLIsRefused() {
        let error = #expect(throws: FarmCatalogueLocation.Invalid.self) {
            try FarmCatalogueLocation(url: "postgres://farm:secret@db.studio/proxies", environment: [:])
        }
        #expect(error?.description.contains("PGPASSWORD") == true)
        #expect(error?.description.contains("secret") == false)
    }

    @Test func badURLsAreRefused() {
        for url in ["mysql://a@b/c", "postgres:///nohost", "not a url", "postgres://a@b/c?sslmode=sometimes"] {
            #expect(throws: FarmCatalogueLocation.Invalid.self, "\(url)") { try FarmCatalogueLocation(url: url, environment: [:]) }
        }
    }

    @Test func thePasswordComesFromTheEnvironmentOrAPasswordFileAndIsNeverShown() throws {
        let file = TestFiles.scratch("pgpass").appendingPathComponent("pgpass")
        try "# comment\nother:5432:*:farm:wrong\ndb.studio:*:proxies:farm:pa\\:ss\n".write(to: file, atomically: true, encoding: .utf8)
        let fromFile = try FarmCatalogueLocation(url: "postgres://farm@db.studio/proxies", environment: ["PGPASSFILE": file.path])
        #expect(fromFile.passwordForTests == "pa:ss")
        let fromEnvironment = try FarmCatalogueLocation(
            url: "postgres://farm@db.studio/proxies", environment: ["PGPASSFILE": file.path, "PGPASSWORD": "env"])
        #expect(fromEnvironment.passwordForTests == "env")
        #expect(!"\(fromFile)".contains("pa:ss"))
        #expect(try FarmCatalogueLocation(url: "postgres://farm@elsewhere/proxies", environment: ["PGPASSFILE": file.path]).passwordForTests == nil)
    }
}
