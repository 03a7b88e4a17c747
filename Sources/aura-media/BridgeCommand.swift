import ArgumentParser
import Bridge
import Foundation
import Logging

/// `aura-media bridge`: the protocol over WebSocket (`/rpc`), one server process per connection, the web demo at `/`.
struct BridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridge",
        abstract: "Serve the protocol over WebSocket for browsers and Electron (one aura-media server per connection).")

    @OptionGroup var common: CommonOptions

    @Option(help: "Address to listen on (default: loopback only).")
    var host = "127.0.0.1"

    @Option(help: "Port (0: any free port; the URL is printed).")
    var port = 8765

    @Option(help: "The token clients must present (?token= or Authorization: Bearer); generated and printed when not given.")
    var token: String?

    @Option(name: .customLong("allow-origin"), help: "An Origin allowed to connect (repeatable; default: the bridge's own).")
    var allowedOrigins: [String] = []

    @Option(help: "Static files served at / (default: clients/web when it exists).")
    var web: String?

    @Option(name: .customLong("max-connections"), help: "Connections served at once.")
    var maxConnections = 8

    @Option(name: .customLong("max-message-bytes"), help: "The largest message accepted from a client.")
    var maxMessageBytes = 16 << 20

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        if let token, token.count < 8 { throw ValidationError("--token must be at least 8 characters") }
    }

    func run() async throws {
        common.bootstrapLogging(default: .info)
        let logger = Logger(label: "aura.bridge")
        // Each connection's server: this binary's `serve`, with the settings flags the bridge was given.
        var serverArguments = ["serve"]
        for (flag, value) in [
            ("--cache-dir", common.cacheDirectory), ("--waveform-cache-dir", common.waveformCacheDirectory),
            ("--frame-cache-dir", common.frameCacheDirectory), ("--config-dir", common.configDirectory),
            ("--log-level", common.logLevel),
        ] {
            if let value { serverArguments += [flag, value] }
        }
        let executable = Bundle.main.executablePath ?? CommandLine.arguments[0]
        var webDirectory = web
        if webDirectory == nil, FileManager.default.fileExists(atPath: "clients/web/index.html") {
            webDirectory = URL(fileURLWithPath: "clients/web").standardizedFileURL.path
        }
        let configuration = BridgeConfiguration(
            host: host, port: port, token: token, allowedOrigins: allowedOrigins,
            webDirectory: webDirectory, maxMessageBytes: maxMessageBytes,
            maxConnections: maxConnections, serverExecutable: executable,
            serverArguments: serverArguments)
        let served = webDirectory
        try await BridgeServer.run(configuration, logger: logger) { url in
            var lines = "aura-media bridge: \(url)\n"
            if let served {
                let page = url.replacingOccurrences(of: "ws://", with: "http://").replacingOccurrences(of: "/rpc?", with: "/?")
                lines += "aura-media bridge: the web demo (\(served)) at \(page)\n"
            }
            FileHandle.standardOutput.write(Data(lines.utf8))
        }
    }
}
