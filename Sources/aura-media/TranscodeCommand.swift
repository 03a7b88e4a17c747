import ArgumentParser
import Foundation
import Media
import Proxies

/// `aura-media transcode SOURCE OUTPUT`: one proxy file written to a path in one pass, outside any cache and catalogue
/// (the encode a cached proxy's segments add up to: the benchmark's reference for them).
struct TranscodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcode",
        abstract: "Write one proxy of SOURCE to OUTPUT in one pass (no cache, no catalogue).")

    @Option(help: "Quality: Draft, Preview or High.")
    var quality: ProxyQuality = .default

    @Option(name: .customLong("scale-percent"), help: "Scale to this percentage (25-75) instead of the quality's box.")
    var scalePercent: Int?

    @Argument(help: "The source media file.")
    var source: String

    @Argument(help: "The MP4 to write (replaced if it exists).")
    var output: String

    func run() throws {
        let settings = ProxyService.transcodeSettings(quality: quality, scalePercent: scalePercent, hardwareAcceleration: .off)
        let partial = output + ".partial"
        do {
            let result = try Transcoder(sourcePath: source, outputPath: partial, settings: settings)
                .run(progress: { _ in }, isCancelled: { false })
            guard rename(partial, output) == 0 else { throw MediaError.ioFailure(path: output, reason: String(cString: strerror(errno))) }
            print("\(output): \(result.width)x\(result.height), \(result.frameCount) frames, \(result.audioTracks.count) audio tracks")
        } catch {
            FileHandle.standardError.write(Data("aura-media transcode: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
