import FileErrors
import Foundation
import Jobs
import Media
import MediaCache
import Testing

@testable import Proxies

/// `MediaError(describing:path:)`: every error a proxy job can end with, named as a `MediaError` without losing its
/// meaning (never an input/output failure on an empty path).
@Suite struct MediaErrorDescribingTests {
    private struct Unknown: Error, CustomStringConvertible {
        var description: String { "database is locked" }
    }

    @Test func cacheFileErrorsKeepTheirCaseAndPath() {
        let pairs: [(FileError, MediaError)] = [
            (.fileNotFound(path: "/a"), .fileNotFound(path: "/a")),
            (.notARegularFile(path: "/a"), .notARegularFile(path: "/a")),
            (.permissionDenied(path: "/a"), .permissionDenied(path: "/a")),
            (.diskFull(path: "/a"), .diskFull(path: "/a")),
            (.ioFailure(path: "/a", reason: "r"), .ioFailure(path: "/a", reason: "r")),
        ]
        for (cacheError, mediaError) in pairs {
            #expect(MediaError(describing: cacheError, path: "/source.mp4") == mediaError)
            #expect(MediaError(cacheError) == mediaError)
            #expect(cacheError.description == mediaError.description, "the client reads the same sentence")
        }
    }

    @Test func mediaErrorsStayAndCancellationsAreCancelled() {
        #expect(MediaError(describing: MediaError.corrupt(path: "/s", reason: "r"), path: "/x") == .corrupt(path: "/s", reason: "r"))
        #expect(MediaError(describing: CancellationError(), path: "/x") == .cancelled)
        #expect(MediaError(describing: JobCancelled(), path: "/x") == .cancelled)
    }

    @Test func otherErrorsNameTheFileTheWorkWasAbout() {
        #expect(MediaError(describing: Unknown(), path: "/source.mp4") == .ioFailure(path: "/source.mp4", reason: "database is locked"))
    }
}
