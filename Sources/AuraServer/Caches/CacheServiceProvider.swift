import Foundation
import JSONRPC
import Jobs
import Logging
import MediaCache
import Proxies
import Settings
import Waveforms

/// A service that owns one cache directory (proxies, waveforms).
protocol CacheService: Sendable {
    var directory: CacheDirectory { get }
    var activeJobCount: Int { get async }
    func shutdown() async
}

extension ProxyService: CacheService {}
extension WaveformService: CacheService {}

/// Opens a cache service for the configured directory on first use, and swaps it when the directory setting
/// changes.
///
/// Lazy because the directory may come from `initializationOptions`, and because an unusable directory must not
/// stop the server: the service's methods answer -32021 (checked again on every request, so fixing the directory
/// helps without a restart), everything else keeps working.
actor CacheServiceProvider<Service: CacheService> {
    /// What the cache holds, for messages ("proxy", "waveform").
    private let kind: String
    /// Opens the service on a directory with the settings in force (blocking: run off the pool).
    private let open: @Sendable (String, ServerSettings) throws -> Service
    private var service: Service?
    private var warnedAbout: String?
    private let logger: Logger
    private let client: any NotificationSink

    init(
        kind: String, client: any NotificationSink, logger: Logger,
        open: @escaping @Sendable (String, ServerSettings) throws -> Service
    ) {
        self.kind = kind
        self.open = open
        self.client = client
        self.logger = logger
    }

    /// The service for `directory`, opened with `settings` if needed; -32021 when the directory is unusable.
    func service(for directory: String, settings: ServerSettings) async throws -> Service {
        let standardized = URL(fileURLWithPath: directory).standardizedFileURL.path
        if let service, service.directory.url.path == standardized { return service }
        do {
            // Opening reads (and may migrate) a catalogue and cleans up after gone processes: off the pool.
            let opened = try await BlockingQueue.run { [open] in try open(directory, settings) }
            if let service, service.directory.url.path == opened.directory.url.path {
                await opened.shutdown()  // Another request opened it meanwhile.
                return service
            }
            service = opened
            warnedAbout = nil
            logger.info("\(kind) cache at \(opened.directory.url.path)")
            return opened
        } catch let rejected as CacheDirectory.Rejected {
            if warnedAbout != rejected.path {
                warnedAbout = rejected.path
                client.logMessage(.warning, rejected.description)
            }
            throw rejected
        } catch {
            throw ResponseError(
                code: ServerErrorCode.cacheDirectoryRejected,
                message: "The \(kind) cache in \(directory) cannot be opened: \(error).",
                data: .object(["path": .string(directory), "cause": .string("catalogue")]))
        }
    }

    /// The open service, if any (no directory is created just to answer "nothing").
    var openService: Service? { service }

    /// Validates a new directory before the setting changes: refuses while jobs are active in the current one,
    /// and opens the new one. Closes the current service on success.
    func switchDirectory(to path: String, settings: ServerSettings) async throws {
        let standardized = URL(fileURLWithPath: path).standardizedFileURL.path
        if let service, service.directory.url.path == standardized { return }
        if let service, await service.activeJobCount > 0 {
            let count = await service.activeJobCount
            throw ResponseError(
                code: ResponseError.Code.requestFailed,
                message: "The \(kind) cache directory cannot change while \(count) \(kind) jobs are queued or running; cancel them or wait.",
                data: .object(["cause": .string("jobsActive")]))
        }
        let opened = try await BlockingQueue.run { [open] in try open(path, settings) }
        if let service { await service.shutdown() }
        service = opened
    }

    /// Cancels every job and removes partial files.
    func shutdown() async {
        await service?.shutdown()
    }
}
