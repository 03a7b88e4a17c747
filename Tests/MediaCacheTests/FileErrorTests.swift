import FileErrors
import Foundation
import TestSupport
import Testing

@testable import MediaCache

/// `FileError`: the cache layer's file errors, and how `DurableFile` reports them.
@Suite struct FileErrorTests {
    @Test func errnoValuesMapToTheirCases() {
        for code in [ENOSPC, EDQUOT, EFBIG] {
            #expect(FileError.of(errno: code, path: "/c/f") == .diskFull(path: "/c/f"))
        }
        for code in [EACCES, EPERM, EROFS] {
            #expect(FileError.of(errno: code, path: "/c/f") == .permissionDenied(path: "/c/f"))
        }
        for code in [ENOENT, ENOTDIR] {
            #expect(FileError.of(errno: code, path: "/c/f") == .fileNotFound(path: "/c/f"))
        }
        #expect(FileError.of(errno: EIO, path: "/c/f") == .ioFailure(path: "/c/f", reason: String(cString: strerror(EIO))))
    }

    @Test func sentencesNameThePath() {
        let cases: [FileError] = [
            .fileNotFound(path: "/x"), .notARegularFile(path: "/x"), .permissionDenied(path: "/x"),
            .diskFull(path: "/x"), .ioFailure(path: "/x", reason: "r"),
        ]
        for error in cases {
            #expect(error.path == "/x")
            #expect(error.description.contains("/x"))
        }
        #expect(FileError.diskFull(path: "/x").description == "The disk is full while writing /x.")
    }

    @Test func aDurableWriteIntoAMissingFolderIsFileNotFoundAndLeavesNothing() {
        let directory = TestFiles.scratch("durable-missing")
        let final = directory.appendingPathComponent("no-such-folder/file.bin")
        let partial = directory.appendingPathComponent("no-such-folder/.file.bin.partial")
        #expect(throws: FileError.fileNotFound(path: partial.path)) {
            try DurableFile.write([1, 2, 3], to: final, via: partial)
        }
    }

    @Test func aDurableWriteAppearsWholeWithItsModeAndNoPartialFile() throws {
        let directory = TestFiles.scratch("durable-write")
        let final = directory.appendingPathComponent("file.bin")
        let partial = directory.appendingPathComponent(".file.bin.partial")
        try DurableFile.write([1, 2, 3], to: final, via: partial, mode: 0o640)
        #expect(try Data(contentsOf: final) == Data([1, 2, 3]))
        #expect(!FileManager.default.fileExists(atPath: partial.path))
        var info = stat()
        #expect(stat(final.path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o640 & ~Self.currentUmask())
    }

    private static func currentUmask() -> mode_t {
        let current = umask(0)
        umask(current)
        return current
    }
}
