import JSONRPC
import Jobs
import Settings

/// The settings methods' handlers, `getSettings` and `updateSettings`, and how a patch is applied and saved.
extension AuraMediaServer {
    func registerSettingsMethods(in table: inout MethodTable) {
        table.register(GetSettingsRequest.self) { [self] _, _ in currentSettings }
        table.register(UpdateSettingsRequest.self) { [self] params, _ in
            // One update at a time, applied and saved in the order they arrive: the file and the settings in force agree.
            try await settingsUpdates.run {
                let updated = try await apply(params.settings, field: "settings")
                await save(params.settings)
                return updated
            }
        }
    }

    /// Validates the whole patch, switches the cache directory if it changes, then applies the rest.
    /// A patch that fails anywhere changes nothing.
    func apply(_ patch: ServerSettings.Patch, field: String) async throws -> ServerSettings {
        let updated = try currentSettings.applying(patch, field: field)
        if patch.cacheDirectory != nil {
            try await proxies.switchDirectory(to: updated.cacheDirectory, settings: updated)
        }
        if patch.waveformCacheDirectory != nil {
            try await waveforms.switchDirectory(to: updated.waveformCacheDirectory, settings: updated)
        }
        if patch.frameCacheDirectory != nil {
            try await frames.setFileDirectory(updated.frameCacheDirectory)
        }
        if let bytes = patch.frameCacheBytes { await frames.setLimit(Int(bytes)) }
        if let seconds = patch.telemetryWindowSeconds { telemetry.setWindow(seconds: Double(seconds)) }
        settings.withLock { $0 = updated }
        if let service = await proxies.openService {
            await service.reconfigure(updated.proxyConfiguration)
        }
        return updated
    }

    /// Saves an applied patch in the settings file (an fsync: off the concurrency pool); a failure is a warning
    /// (the settings hold for this session).
    private func save(_ patch: ServerSettings.Patch) async {
        guard let settingsFile else { return }
        do {
            if let notice = try await BlockingQueue.run({ try settingsFile.save(patch) }) {
                logger.warning("\(notice)")
                client.logMessage(.warning, "Settings saved: \(notice).")
            }
        } catch {
            let message = "The settings apply to this session but could not be saved to \(settingsFile.url.path): \(error)"
            logger.warning("\(message)")
            client.logMessage(.warning, message)
        }
    }
}
