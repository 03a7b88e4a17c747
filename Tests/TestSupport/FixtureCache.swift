import Foundation

/// Media fixtures made with the ffmpeg CLI (a test-only tool; the product never runs it), once per name per
/// test process, in a private temporary directory. Shared by the test targets so each says only what it needs.
public final class FixtureCache: @unchecked Sendable {
    // @unchecked: `made` is only touched under `lock`.
    private let lock = NSLock()
    private var made: [String: URL] = [:]
    /// Where the fixtures are written.
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Runs `ffmpeg ARGUMENTS <directory>/<fileName>` the first time a name is asked for; returns the file.
    public func media(_ fileName: String, _ arguments: [String]) throws -> URL {
        try lock.withLock {
            if let url = made[fileName] { return url }
            let url = directory.appendingPathComponent(fileName)
            let result = try Spawn.run("/usr/bin/ffmpeg", ["-hide_banner", "-loglevel", "error", "-y"] + arguments + [url.path])
            guard result.status == 0 else { throw FixtureError.ffmpegFailed(fileName + ": " + result.stderr) }
            made[fileName] = url
            return url
        }
    }

    public enum FixtureError: Error { case ffmpegFailed(String) }
}
