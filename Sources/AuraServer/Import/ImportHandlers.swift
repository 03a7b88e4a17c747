import JSONRPC
import MediaImport

/// The `importMedia` handler: files and folders probed, their proxies and waveforms queued in the background.
extension AuraMediaServer {
    func registerImportMethods(in table: inout MethodTable) {
        table.register(ImportMediaRequest.self) { [self] params, _ in
            guard !params.paths.isEmpty, params.paths.count <= MediaImporter.maxFiles else {
                throw ResponseError.invalidParams("parameter 'paths' must hold 1 to \(MediaImporter.maxFiles) paths")
            }
            for (index, path) in params.paths.enumerated() where !path.hasPrefix("/") {
                throw ResponseError.invalidParams("parameter 'paths[\(index)]' must be an absolute path, not \(path.debugDescription)")
            }
            let importer = MediaImporter(
                proxies: try await proxyService(), waveforms: try await waveformService(),
                settings: currentSettings,
                proxyListener: { [progressReporter] in progressReporter.listener(for: nil) })
            let items = await importer.run(paths: params.paths, quality: params.quality, recursive: params.recursive ?? false)
            return ImportMediaResult(
                items: items.map(ImportItemPayload.init), queuedProxies: items.filter { $0.proxy == .queued }.count,
                queuedWaveforms: items.filter { $0.waveform == .queued }.count)
        }
    }
}
