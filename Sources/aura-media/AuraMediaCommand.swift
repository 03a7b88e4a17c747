import ArgumentParser
import Foundation
import AuraServer
import Logging

/// `aura-media`: the AuraMedia backend. With no subcommand it serves the protocol on stdin/stdout.
@main
struct AuraMediaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aura-media",
        abstract: "Proxy media, waveforms, frames and telemetry for video editors, over JSON-RPC on stdin/stdout.",
        subcommands: [ServeCommand.self, GenerateCommand.self, StatsCommand.self, ClearCommand.self],
        defaultSubcommand: ServeCommand.self)
}

/// Options every subcommand shares.
///
/// The cache directory given here is validated like the protocol's setting (absolute path).
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("cache-dir"), help: "Proxy cache directory (default: $TMPDIR/aura-proxy-cache).")
    var cacheDirectory: String?

    @Option(name: .customLong("waveform-cache-dir"), help: "Waveform cache directory (default: $TMPDIR/aura-waveform-cache).")
    var waveformCacheDirectory: String?

    @Option(name: .customLong("frame-cache-dir"), help: "Directory for frames delivered as files (default: $TMPDIR/aura-frame-cache).")
    var frameCacheDirectory: String?

    @Option(name: .customLong("log-level"), help: "Log level on stderr: trace, debug, info, notice, warning, error, critical (default: info for serve, warning otherwise).")
    var logLevel: String?

    /// Routes swift-log to stderr at the chosen level. stdout belongs to the protocol.
    func bootstrapLogging(default defaultLevel: Logger.Level = .info) {
        let level = logLevel.flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? defaultLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension CommonOptions {
    /// Settings from the defaults and the flags.
    func settings() throws -> ServerSettings {
        var settings = ServerSettings()
        if let cacheDirectory {
            guard cacheDirectory.hasPrefix("/") else { throw ValidationError("--cache-dir must be an absolute path") }
            settings.cacheDirectory = cacheDirectory
        }
        if let waveformCacheDirectory {
            guard waveformCacheDirectory.hasPrefix("/") else { throw ValidationError("--waveform-cache-dir must be an absolute path") }
            settings.waveformCacheDirectory = waveformCacheDirectory
        }
        if let frameCacheDirectory {
            guard frameCacheDirectory.hasPrefix("/") else { throw ValidationError("--frame-cache-dir must be an absolute path") }
            settings.frameCacheDirectory = frameCacheDirectory
        }
        return settings
    }
}
