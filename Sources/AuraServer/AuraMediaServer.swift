import Foundation
import Frames
import JSONRPC
import Logging
import MediaCache
import Proxies
import Waveforms
import Synchronization

/// The AuraMedia protocol server: binds every protocol method to the services behind it.
///
/// It owns the session's state (settings, preview mode) and the services; the transport (`JSONRPC`) owns
/// framing, lifecycle and cancellation. One file per protocol area registers its methods.
public final class AuraMediaServer: Sendable {
    /// The server's name and version, reported by `initialize`.
    public static let name = "aura-media"
    public static let version = "0.1.0"

    let logger: Logger
    let settings: Mutex<ServerSettings>
    let previewState = Mutex(PreviewState.initial)
    let progressReporter: ProxyProgressReporter
    let proxies: CacheServiceProvider<ProxyService>
    let waveforms: CacheServiceProvider<WaveformService>
    /// Pictures for scrubbing (memory cache, warm decoders, preloading) and the directory of delivered files.
    let frames: FrameService
    let frameFiles: CacheServiceProvider<FrameFileStore>
    /// Playhead positions, in arrival order, for `followPlayhead`.
    let playheads: AsyncStream<PlayheadUpdate>.Continuation
    private let playheadFollower: Mutex<Task<Void, Never>?> = Mutex(nil)
    /// When each proxy was last marked used by scrubbing.
    let proxyUses = Mutex([String: Date]())
    /// Source fingerprints, shared by every cache (a file is hashed once whatever asks).
    let fingerprints = FingerprintCache()
    private let maxMessageBytes: Int

    /// - Parameters:
    ///   - settings: the settings before `initializationOptions` (defaults with CLI flags applied).
    ///   - client: where notifications (`$/progress`, `window/logMessage`, `previewModeChanged`) go.
    ///   - maxMessageBytes: the frame size limit, reported in the capabilities.
    public init(settings: ServerSettings, client: any NotificationSink, maxMessageBytes: Int, logger: Logger) {
        self.settings = Mutex(settings)
        self.maxMessageBytes = maxMessageBytes
        self.logger = logger
        let progressReporter = ProxyProgressReporter(client: client)
        self.progressReporter = progressReporter
        let fingerprints = self.fingerprints
        proxies = CacheServiceProvider(kind: "proxy", client: client, logger: logger) { directory, settings in
            try ProxyService(directoryPath: directory, configuration: settings.proxyConfiguration, fingerprints: fingerprints,
                             observer: progressReporter, logger: logger)
        }
        waveforms = CacheServiceProvider(kind: "waveform", client: client, logger: logger) { directory, _ in
            try WaveformService(directoryPath: directory, fingerprints: fingerprints, logger: logger)
        }
        frames = FrameService(limitBytes: Int(settings.frameCacheBytes), fingerprints: fingerprints, logger: logger)
        frameFiles = CacheServiceProvider(kind: "frame", client: client, logger: logger) { directory, _ in
            try FrameFileStore(directoryPath: directory, logger: logger)
        }
        let (updates, continuation) = AsyncStream.makeStream(of: PlayheadUpdate.self, bufferingPolicy: .bufferingNewest(64))
        playheads = continuation
        playheadFollower.withLock { $0 = Task { [self] in await followPlayhead(updates) } }
    }

    /// The settings in force.
    public var currentSettings: ServerSettings { settings.withLock { $0 } }

    /// The proxy service for the current cache directory (-32021 when it is unusable).
    func proxyService() async throws -> ProxyService {
        let settings = currentSettings
        return try await proxies.service(for: settings.cacheDirectory, settings: settings)
    }

    /// The waveform service for the current waveform cache directory (-32021 when it is unusable).
    func waveformService() async throws -> WaveformService {
        let settings = currentSettings
        return try await waveforms.service(for: settings.waveformCacheDirectory, settings: settings)
    }

    /// The method table to hand to the dispatcher.
    public func makeMethodTable() -> MethodTable {
        var table = MethodTable()
        PingRequest.register(in: &table)
        ProbeRequest.register(in: &table)
        registerProxyMethods(in: &table)
        registerPreviewMethods(in: &table)
        registerSettingsMethods(in: &table)
        registerWaveformMethods(in: &table)
        registerFrameMethods(in: &table)
        table.register(InitializedNotification.self) { [logger] _ in
            logger.debug("client confirmed initialization")
        }
        let capabilities = ServerCapabilities.make(methods: table, maxMessageBytes: maxMessageBytes)
        table.register(InitializeRequest.self) { [self] params, _ in
            if let client = params.clientInfo {
                logger.info("initialize from \(client.name) \(client.version ?? "")")
            }
            if let options = params.initializationOptions {
                _ = try await apply(options, field: "initializationOptions")
            }
            return InitializeResult(
                serverInfo: .init(name: Self.name, version: Self.version),
                capabilities: capabilities,
                settings: currentSettings,
                previewState: previewState.withLock { $0 })
        }
        return table
    }

    /// Cancels proxy jobs and waveform analyses and removes their partial files. Called once by the dispatcher's
    /// shutdown.
    public func shutdown() async {
        logger.info("shutting down")
        playheads.finish()
        async let proxiesDone: Void = proxies.shutdown()
        async let waveformsDone: Void = waveforms.shutdown()
        async let framesDone: Void = frames.shutdown()
        _ = await (proxiesDone, waveformsDone, framesDone)
        await frameFiles.shutdown()
    }
}
