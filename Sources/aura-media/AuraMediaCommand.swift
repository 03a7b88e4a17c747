import ArgumentParser
import Foundation
import Logging
import Settings

/// `aura-media`: the AuraMedia backend. With no subcommand it serves the protocol on stdin/stdout.
@main
struct AuraMediaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aura-media",
        abstract: "Proxy media, waveforms, frames and telemetry for video editors, over JSON-RPC on stdin/stdout.",
        subcommands: [
            ServeCommand.self, GenerateCommand.self, ImportCommand.self, StatsCommand.self, ClearCommand.self, BridgeCommand.self,
            TranscodeCommand.self, WorkerCommand.self, FarmCommand.self,
        ],
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

    @Option(
        name: .customLong("config-dir"),
        help: "Where settings.json is kept (default: $AURA_MEDIA_CONFIG_DIR, else $XDG_CONFIG_HOME/aura-media, else ~/.config/aura-media).")
    var configDirectory: String?

    @Option(
        name: .customLong("log-level"),
        help: "Log level on stderr: trace, debug, info, notice, warning, error, critical (default: info for serve, warning otherwise).")
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
    /// The settings file (`--config-dir`, else the environment's location).
    func settingsFile() throws -> SettingsFile {
        if let configDirectory {
            guard configDirectory.hasPrefix("/") else { throw ValidationError("--config-dir must be an absolute path") }
            return SettingsFile(directory: URL(fileURLWithPath: configDirectory))
        }
        return SettingsFile(directory: SettingsFile.defaultDirectory())
    }

    /// Settings from the defaults, the saved settings file (a damaged one is reported on stderr and skipped), then
    /// the flags; with the file and what reading it found.
    func loadSettings(logger: Logger) throws -> (settings: ServerSettings, file: SettingsFile, loaded: SettingsFile.Loaded) {
        let file = try settingsFile()
        let loaded = file.load()
        var base = ServerSettings()
        switch loaded {
        case .loaded(let patch):
            base = (try? base.applying(patch)) ?? base
        case .damaged(let reason):
            logger.warning("\(reason); the default settings are used and the file is left as it is")
        case .missing:
            break
        }
        return (try settings(base: base), file, loaded)
    }

    /// Settings from `base` (the defaults) and the flags.
    func settings(base: ServerSettings = ServerSettings()) throws -> ServerSettings {
        var settings = base
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
