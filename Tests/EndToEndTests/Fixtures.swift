import Foundation
import TestSupport

/// Small media files made on demand with the ffmpeg CLI (a test-only tool; the product never runs it).
enum Fixtures {

    /// A fresh directory, removed with the test process's scratch root.
    static func temporaryDirectory(named name: String) -> URL {
        TestFiles.scratch(name)
    }

    private static let root = temporaryDirectory(named: "fixtures")

    private static let cache = FixtureCache(directory: root)

    /// Runs the ffmpeg CLI once per fixture name and returns the file.
    static func media(_ name: String, _ arguments: [String]) throws -> URL {
        try cache.media(name, arguments)
    }

    /// `media` on a thread of its own: for long fixtures (minutes of audio take seconds to encode), which must not
    /// hold one of the concurrency pool's few threads while every other test waits.
    static func mediaOffPool(_ name: String, _ arguments: [String]) async throws -> URL {
        try await offPool { try media(name, arguments) }
    }

    /// Runs blocking work (a tool, a file copy) on a thread of its own.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

    /// 2 s of 320x240 25 fps H.264 with stereo AAC, moov at the front.
    static func shortClip() throws -> URL {
        try media("short.mp4", ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
                                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
                                "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                                "-movflags", "+faststart", "-shortest"])
    }

    /// A file with `bytes` as its content.
    static func file(_ name: String, bytes: Data) throws -> URL {
        let url = root.appendingPathComponent(name)
        try bytes.write(to: url)
        return url
    }

    /// The first half of `source`.
    static func truncatedCopy(of source: URL, name: String) throws -> URL {
        let data = try Data(contentsOf: source)
        return try file(name, bytes: data.prefix(data.count / 2))
    }

}
