import FileErrors
import Foundation
import TestSupport
import Testing

@testable import MediaCache

/// The content identity proxies are keyed by: size, mtime, and the first and last MiB.
@Suite struct SourceFingerprintTests {
    /// 3 MiB of pseudo-random bytes: larger than the two hashed edges together, so the middle is not hashed.
    static func bytes(count: Int = 3 << 20, seed: UInt64 = 42) -> Data {
        var state = seed
        var bytes = [UInt8](repeating: 0, count: count)
        for index in 0..<count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            bytes[index] = UInt8(truncatingIfNeeded: state >> 33)
        }
        return Data(bytes)
    }

    /// Writes `data` at `directory/name` with the given mtime (seconds, nanoseconds).
    static func write(_ data: Data, _ directory: URL, _ name: String, mtime: (Int, Int) = (1_700_000_000, 123_456_789)) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try data.write(to: url)
        TestFiles.setModificationTime(url, seconds: mtime.0, nanoseconds: mtime.1)
        return url
    }

    @Test func sameContentAndTimeInAnotherFolderHasTheSameKey() throws {
        let data = Self.bytes()
        let one = try Self.write(data, TestFiles.scratch("fp-a"), "clip.mp4")
        let two = try Self.write(data, TestFiles.scratch("fp-b"), "renamed.mov")
        let first = try SourceFingerprint.of(path: one.path)
        let second = try SourceFingerprint.of(path: two.path)
        #expect(first == second)
        #expect(first.key == second.key)
        #expect(first.sizeBytes == Int64(data.count))
        #expect(abs(first.modificationTime - 1_700_000_000.123456789) < 1e-6)
        #expect(first.key.count == 16 && first.key.allSatisfy(\.isHexDigit))
    }

    @Test func oneChangedByteAtEitherEdgeChangesTheKey() throws {
        let data = Self.bytes()
        let directory = TestFiles.scratch("fp-edges")
        let original = try SourceFingerprint.of(path: Self.write(data, directory, "original.mp4").path)
        var first = data
        first[0] ^= 0x01
        var last = data
        last[last.count - 1] ^= 0x80
        let changedFirst = try SourceFingerprint.of(path: Self.write(first, directory, "first.mp4").path)
        let changedLast = try SourceFingerprint.of(path: Self.write(last, directory, "last.mp4").path)
        // Same size, same mtime: only the edge hash can tell them apart.
        #expect(changedFirst.sizeBytes == original.sizeBytes && changedFirst.modificationTime == original.modificationTime)
        #expect(changedFirst.key != original.key)
        #expect(changedLast.key != original.key)
        #expect(changedFirst.key != changedLast.key)
        // The middle is not hashed (documented: first and last MiB only).
        var middle = data
        middle[data.count / 2] ^= 0xff
        #expect(try SourceFingerprint.of(path: Self.write(middle, directory, "middle.mp4").path).key == original.key)
    }

    @Test func touchingTheModificationTimeChangesTheKey() throws {
        let directory = TestFiles.scratch("fp-touch")
        let url = try Self.write(Self.bytes(count: 4096), directory, "small.mp4")
        let before = try SourceFingerprint.of(path: url.path)
        TestFiles.setModificationTime(url, seconds: 1_700_000_000, nanoseconds: 124_456_789)  // +1 ms
        let afterMillisecond = try SourceFingerprint.of(path: url.path)
        TestFiles.setModificationTime(url, seconds: 1_700_000_001, nanoseconds: 124_456_789)  // +1 s
        let afterSecond = try SourceFingerprint.of(path: url.path)
        #expect(before.edgeHash == afterSecond.edgeHash && before.sizeBytes == afterSecond.sizeBytes)
        #expect(before.key != afterMillisecond.key)
        #expect(before.key != afterSecond.key && afterMillisecond.key != afterSecond.key)
    }

    @Test func aChangedSizeChangesTheKey() throws {
        let directory = TestFiles.scratch("fp-size")
        let data = Self.bytes(count: 10_000)
        let one = try SourceFingerprint.of(path: Self.write(data, directory, "a.mp4").path)
        let two = try SourceFingerprint.of(path: Self.write(data + Data([0]), directory, "b.mp4").path)
        #expect(one.key != two.key)
    }

    /// Between 1 and 2 MiB the whole file is hashed (the two edges overlap). Run in a child process: reading
    /// such a file into the 1 MiB buffer overruns it and traps, which would otherwise end the whole test run.
    @Test func aFileBetweenOneAndTwoMiBIsHashedWhole() async {
        await #expect(processExitsWith: .success) {
            let directory = TestFiles.scratch("fp-mid")
            let data = SourceFingerprintTests.bytes(count: 3 << 19)  // 1.5 MiB
            var middle = data
            middle[data.count / 2] ^= 0x01
            let one = try SourceFingerprint.of(path: SourceFingerprintTests.write(data, directory, "one.mp4").path)
            let two = try SourceFingerprint.of(path: SourceFingerprintTests.write(middle, directory, "two.mp4").path)
            guard one.sizeBytes == Int64(data.count), one.key != two.key else { exit(3) }
        }
    }

    @Test func missingAndNonRegularFilesAreFileErrors() throws {
        let directory = TestFiles.scratch("fp-errors")
        #expect(throws: FileError.fileNotFound(path: directory.path + "/gone.mp4")) {
            try SourceFingerprint.of(path: directory.path + "/gone.mp4")
        }
        #expect(throws: FileError.notARegularFile(path: directory.path)) {
            try SourceFingerprint.of(path: directory.path)
        }
    }
}

@Suite struct FingerprintCacheTests {
    @Test func anUnchangedFileIsNotHashedAgainButAnyRewriteIs() throws {
        let directory = TestFiles.scratch("fingerprint-cache")
        let file = directory.appendingPathComponent("clip.bin")
        try Data(repeating: 7, count: 300_000).write(to: file)
        let cache = FingerprintCache()
        let first = try cache.fingerprint(path: file.path)
        #expect(try cache.fingerprint(path: file.path) == first)

        // Rewrite one byte in place, then put size and mtime back: only ctime tells, and it must. (File times
        // come from a coarse clock, so let it tick first.)
        Thread.sleep(forTimeInterval: 0.05)
        let mtime = TestFiles.modificationTime(file)
        let handle = try FileHandle(forWritingTo: file)
        try handle.seek(toOffset: 10)
        try handle.write(contentsOf: Data([8]))
        try handle.close()
        TestFiles.setModificationTime(file, seconds: Int(mtime.tv_sec), nanoseconds: Int(mtime.tv_nsec))
        let second = try cache.fingerprint(path: file.path)
        #expect(second != first)
        #expect(second == (try SourceFingerprint.of(path: file.path)))
    }
}
