import Foundation
import JSONRPC
import Logging
import Synchronization

/// The AuraMedia protocol server: binds every protocol method to the services behind it.
///
/// It owns the session's state (settings, later the preview mode) and the services; the transport
/// (`JSONRPC`) owns framing, lifecycle and cancellation. One file per protocol area registers its methods.
public final class AuraMediaServer: Sendable {
    /// The server's name and version, reported by `initialize`.
    public static let name = "aura-media"
    public static let version = "0.1.0"

    private let logger: Logger
    private let settings: Mutex<ServerSettings>
    private let maxMessageBytes: Int

    /// - Parameters:
    ///   - settings: the settings before `initializationOptions` (defaults with CLI flags applied).
    ///   - maxMessageBytes: the frame size limit, reported in the capabilities.
    public init(settings: ServerSettings, maxMessageBytes: Int, logger: Logger) {
        self.settings = Mutex(settings)
        self.maxMessageBytes = maxMessageBytes
        self.logger = logger
    }

    /// The settings in force.
    public var currentSettings: ServerSettings { settings.withLock { $0 } }

    /// The method table to hand to the dispatcher.
    public func makeMethodTable() -> MethodTable {
        var table = MethodTable()
        PingMethod.register(in: &table)
        ProbeMethod.register(in: &table)
        table.registerNotification("initialized", JSONValue.self) { [logger] _ in
            logger.debug("client confirmed initialization")
        }
        let capabilities = ServerCapabilities.make(methods: table, maxMessageBytes: maxMessageBytes)
        table.register("initialize", InitializeParams.self) { [self] params, _ in
            if let client = params.clientInfo {
                logger.info("initialize from \(client.name) \(client.version ?? "")")
            }
            if let options = params.initializationOptions {
                let updated = try currentSettings.applying(options, field: "initializationOptions")
                settings.withLock { $0 = updated }
            }
            return InitializeResult(
                serverInfo: .init(name: Self.name, version: Self.version),
                capabilities: capabilities,
                settings: currentSettings)
        }
        return table
    }

    /// Stops background work and removes temporary files. Called once by the dispatcher's shutdown.
    public func shutdown() async {
        logger.info("shutting down")
    }
}
