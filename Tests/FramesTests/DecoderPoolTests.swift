import Foundation
import Testing

@testable import Frames

/// `DecoderPool`: sessions leave the table under its lock and are released after it.
@Suite struct DecoderPoolTests {
    @Test func removeAllEmptiesThePoolAndASessionInUseLivesOnForItsUser() async throws {
        let pool = DecoderPool()
        let path = FrameFixtures.constantRate
        let session = try pool.session(path: path, file: "content-a")
        #expect(pool.count == 1)
        #expect(try pool.session(path: path, file: "content-a") === session, "a warm session is reused")
        await pool.removeAll()
        #expect(pool.count == 0)
        // The caller's session was only dropped from the table: it still decodes.
        #expect(session.reader.geometry.codedWidth > 0)
        #expect(try pool.session(path: path, file: "content-a") !== session, "the next request opens a new one")
    }

    @Test func aChangedFileReplacesItsSessionAndTheOldestGoesBeyondTheBound() throws {
        let pool = DecoderPool(maxSessions: 1)
        let first = try pool.session(path: FrameFixtures.constantRate, file: "content-a")
        let changed = try pool.session(path: FrameFixtures.constantRate, file: "content-b")
        #expect(changed !== first)
        #expect(pool.count == 1)
        _ = try pool.session(path: FrameFixtures.hevc10, file: "content-c")
        #expect(pool.count == 1)
    }
}
