import ArgumentParser
import Foundation
import Logging

/// `aura-media`: the AuraMedia backend. With no subcommand it serves the protocol on stdin/stdout.
@main
struct AuraMediaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aura-media",
        abstract: "Proxy media, waveforms, frames and telemetry for video editors, over JSON-RPC on stdin/stdout.",
        subcommands: [ServeCommand.self],
        defaultSubcommand: ServeCommand.self)
}

/// Options every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("cache-dir"), help: "Proxy cache directory (default: $TMPDIR/aura-proxy-cache).")
    var cacheDirectory: String?

    @Option(name: .customLong("log-level"), help: "Log level on stderr: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    /// Routes swift-log to stderr at the chosen level. stdout belongs to the protocol.
    func bootstrapLogging() {
        let level = Logger.Level(rawValue: logLevel.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
