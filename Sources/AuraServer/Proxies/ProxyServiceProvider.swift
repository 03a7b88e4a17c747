import Foundation
import Jobs
import JSONRPC
import Logging
import Media
import MediaCache
import Proxies

/// Opens the proxy service for the configured cache directory on first use, and swaps it when the
/// directory setting changes.
///
/// Lazy because the directory may come from `initializationOptions`, and because an unusable directory
/// must not stop the server: proxy methods answer -32021 (checked again on every request, so fixing the
/// directory helps without a restart), everything else keeps working.
actor ProxyServiceProvider {
    private var service: ProxyService?
    private var warnedAbout: String?
    private let observer: ProxyProgressReporter
    private let logger: Logger
    private let client: any NotificationSink

    init(observer: ProxyProgressReporter, client: any NotificationSink, logger: Logger) {
        self.observer = observer
        self.client = client
        self.logger = logger
    }

    /// The service for `settings.cacheDirectory`, opened if needed; -32021 when the directory is unusable.
    func service(for settings: ServerSettings) async throws -> ProxyService {
        if let service, service.directory.url.path == URL(fileURLWithPath: settings.cacheDirectory).standardizedFileURL.path {
            return service
        }
        do {
            // Opening reads and may migrate the catalogue and cleans up after gone processes: off the pool.
            let opened = try await BlockingQueue.run { [observer, logger] in
                try ProxyService(directoryPath: settings.cacheDirectory, configuration: settings.proxyConfiguration,
                                 observer: observer, logger: logger)
            }
            if let service, service.directory.url.path == opened.directory.url.path {
                await opened.shutdown()  // Another request opened it meanwhile.
                return service
            }
            service = opened
            warnedAbout = nil
            logger.info("proxy cache at \(opened.directory.url.path)")
            return opened
        } catch let rejected as CacheDirectory.Rejected {
            if warnedAbout != rejected.path {
                warnedAbout = rejected.path
                client.logMessage(.warning, rejected.description)
            }
            throw rejected
        } catch {
            throw ResponseError(code: ServerErrorCode.cacheDirectoryRejected,
                                message: "The proxy catalogue in \(settings.cacheDirectory) cannot be opened: \(error).",
                                data: .object(["path": .string(settings.cacheDirectory), "cause": .string("catalogue")]))
        }
    }

    /// The open service, if any (no directory is created just to answer "nothing").
    var openService: ProxyService? { service }

    /// Validates a new cache directory before the setting changes: refuses while jobs are active in the
    /// current one, and checks (creating) the new one. Closes the current service on success.
    func switchDirectory(to path: String) async throws {
        let standardized = URL(fileURLWithPath: path).standardizedFileURL.path
        if let service, service.directory.url.path == standardized { return }
        if let service, await service.activeJobCount > 0 {
            let count = await service.activeJobCount
            throw ResponseError(code: ResponseError.Code.requestFailed,
                                message: "The cache directory cannot change while \(count) proxy jobs are queued or running; cancel them or wait.",
                                data: .object(["cause": .string("jobsActive")]))
        }
        _ = try await BlockingQueue.run { try CacheDirectory.prepareProxyCache(path: path) }
        if let service { await service.shutdown() }
        service = nil
    }

    /// Cancels every job and removes partial files.
    func shutdown() async {
        await service?.shutdown()
    }
}

extension ServerSettings {
    /// The proxy service's view of the settings.
    var proxyConfiguration: ProxyServiceConfiguration {
        ProxyServiceConfiguration(cacheLimitBytes: cacheLimitBytes, maxConcurrentJobs: maxConcurrentJobs,
                                  hardwareAcceleration: HardwareAcceleration(rawValue: hardwareAcceleration) ?? .off)
    }
}
