import Foundation
import Frames
import JSONRPC
import Jobs
import Locking
import Logging
import MediaCache
import Proxies
import Settings
import Telemetry
import Waveforms

/// The AuraMedia protocol server: binds every protocol method to the services behind it.
///
/// It owns the session's state (settings, preview mode) and the services; the transport (`JSONRPC`) owns
/// framing, lifecycle and cancellation. Each request type (which is its params) has a file of its own, and one
/// `*Handlers.swift` file per protocol area registers its methods.
public final class AuraMediaServer: Sendable {
    /// The server's name and version, reported by `initialize`.
    public static let name = "aura-media"
    public static let version = "0.1.0"

    let logger: Logger
    /// Where notifications go.
    let client: any NotificationSink
    let settings: Mutex<ServerSettings>
    /// Metrics over the telemetry window, and the targets' episodes.
    let telemetry: Telemetry
    /// When `requestFrame` last had the telemetry targets judged (`targetCheckDue`).
    let targetChecks = Mutex(Date.distantPast)
    /// The last queue and cache sizes read for the telemetry, and when.
    let lastGauges = Mutex<(Date, TelemetryGauges)?>(nil)
    /// Proxy jobs ending: each asks for the targets to be judged.
    private let jobEnds: AsyncStream<Void>.Continuation
    private let jobEndFollower: Mutex<Task<Void, Never>?> = Mutex(nil)
    let previewState: Mutex<PreviewState>
    /// Where `updateSettings` saves the settings (nil: nothing is saved, as in tests and CLI runs), and what
    /// reading it at start found.
    let settingsFile: SettingsFile?
    let settingsFileStatus: SettingsFileStatus?
    /// `updateSettings` requests, one at a time.
    let settingsUpdates = AsyncGate()
    let progressReporter: ProxyProgressReporter
    let proxies: CacheServiceProvider<ProxyService>
    let waveforms: CacheServiceProvider<WaveformService>
    /// Pictures for scrubbing (memory cache, warm decoders, preloading, delivered files).
    let frames: FrameService
    /// The cache directories already reported unusable in a `window/logMessage` (each is said once).
    let reportedDirectories = Mutex(Set<String>())
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
    ///   - settingsFile: where `updateSettings` saves settings, with what `load()` returned at start.
    public init(
        settings: ServerSettings, client: any NotificationSink, maxMessageBytes: Int, logger: Logger,
        settingsFile: (file: SettingsFile, loaded: SettingsFile.Loaded)? = nil
    ) {
        self.settings = Mutex(settings)
        previewState = Mutex(PreviewState(mode: .proxy, quality: settings.defaultQuality))
        self.settingsFile = settingsFile?.file
        settingsFileStatus = settingsFile.map { file, loaded in
            switch loaded {
            case .loaded: return SettingsFileStatus(path: file.url.path, status: "loaded")
            case .missing: return SettingsFileStatus(path: file.url.path, status: "missing")
            case .damaged(let reason): return SettingsFileStatus(path: file.url.path, status: "damaged", error: reason)
            }
        }
        self.maxMessageBytes = maxMessageBytes
        self.logger = logger
        self.client = client
        let telemetry = Telemetry(windowSeconds: Double(settings.telemetryWindowSeconds))
        self.telemetry = telemetry
        let (ends, endsContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        jobEnds = endsContinuation
        let progressReporter = ProxyProgressReporter(client: client, telemetry: telemetry, jobEnded: { endsContinuation.yield() })
        self.progressReporter = progressReporter
        let fingerprints = self.fingerprints
        proxies = CacheServiceProvider(kind: "proxy", client: client, logger: logger) { directory, settings in
            try ProxyService(
                directoryPath: directory, configuration: settings.proxyConfiguration, fingerprints: fingerprints,
                observer: progressReporter, logger: logger)
        }
        waveforms = CacheServiceProvider(kind: "waveform", client: client, logger: logger) { directory, _ in
            try WaveformService(directoryPath: directory, fingerprints: fingerprints, logger: logger)
        }
        frames = FrameService(
            limitBytes: Int(settings.frameCacheBytes), fileDirectory: settings.frameCacheDirectory,
            fingerprints: fingerprints, logger: logger)
        let (updates, continuation) = AsyncStream.makeStream(of: PlayheadUpdate.self, bufferingPolicy: .bufferingNewest(64))
        playheads = continuation
        playheadFollower.withLock { $0 = Task { [self] in await followPlayhead(updates) } }
        jobEndFollower.withLock { $0 = Task { [self] in for await _ in ends { await checkTargets() } } }
    }

    /// Records a request's latency (the dispatcher's `requestFinished` hook).
    public func requestFinished(method: String, seconds: Double, errorCode: Int?) {
        telemetry.recordRequest(method: method, seconds: seconds, failed: errorCode != nil)
    }

    /// Says once, in a `window/logMessage`, that a cache directory cannot be used (the requests that need it answer
    /// -32021 each time).
    func warnOnce(about rejected: CacheDirectory.Rejected) {
        guard reportedDirectories.withLock({ $0.insert(rejected.path).inserted }) else { return }
        client.logMessage(.warning, rejected.description)
    }

    /// The quality requests use when they name none (setting `defaultQuality`).
    var defaultQuality: ProxyQuality { currentSettings.defaultQuality }

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

    /// Opens the proxy and waveform caches once the session's settings are known, in the background: what crashed
    /// processes left there (partial files, records of interrupted jobs) is cleaned up at start rather than at first
    /// use, and the first request does not pay for opening. A directory that cannot be used is reported as before,
    /// by the requests that need it (and once in a `window/logMessage`).
    private func openCachesInBackground() {
        Task { [self] in
            _ = try? await proxyService()
            _ = try? await waveformService()
        }
    }

    /// The method table to hand to the dispatcher.
    public func makeMethodTable() -> MethodTable {
        var table = MethodTable()
        PingRequest.register(in: &table)
        ProbeRequest.register(in: &table)
        registerProxyMethods(in: &table)
        registerCacheMethods(in: &table)
        registerPreviewMethods(in: &table)
        registerSettingsMethods(in: &table)
        registerWaveformMethods(in: &table)
        registerFrameMethods(in: &table)
        registerTelemetryMethods(in: &table)
        registerImportMethods(in: &table)
        table.register(InitializedNotification.self) { [self] _ in
            logger.debug("client confirmed initialization")
            if let status = settingsFileStatus, let error = status.error {
                client.logMessage(
                    .warning,
                    "\(error). The default settings are in use; the file is left as it is "
                        + "(the next updateSettings moves it aside to \(status.path).damaged).")
            }
        }
        let capabilities = ServerCapabilities.make(methods: table, maxMessageBytes: maxMessageBytes)
        table.register(InitializeRequest.self) { [self] params, _ in
            if let client = params.clientInfo {
                logger.info("initialize from \(client.name) \(client.version ?? "")")
            }
            if let options = params.initializationOptions {
                let settings = try await apply(options, field: "initializationOptions")
                // The session starts at the default quality in force (spec §7.3), options included; no request can
                // have changed the preview state before `initialize`.
                if options.defaultQuality != nil {
                    previewState.withLock { $0.quality = settings.defaultQuality }
                }
            }
            openCachesInBackground()
            return InitializeResult(
                serverInfo: .init(name: Self.name, version: Self.version),
                capabilities: capabilities,
                settings: currentSettings,
                previewState: previewState.withLock { $0 },
                settingsFile: settingsFileStatus)
        }
        return table
    }

    /// Cancels proxy jobs and waveform analyses and removes their partial files. Called once by the dispatcher's
    /// shutdown.
    public func shutdown() async {
        logger.info("shutting down")
        playheads.finish()
        jobEnds.finish()
        async let proxiesDone: Void = proxies.shutdown()
        async let waveformsDone: Void = waveforms.shutdown()
        async let framesDone: Void = frames.shutdown()
        _ = await (proxiesDone, waveformsDone, framesDone)
    }
}
