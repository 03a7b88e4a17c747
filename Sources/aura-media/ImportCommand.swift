import ArgumentParser
import Foundation
import Logging
import MediaImport
import Proxies
import Settings
import Waveforms

/// `aura-media import PATH...`: what `importMedia` does (probe; queue proxies and waveform analyses), then waits
/// for the queued work, since it runs in this process.
struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import media files and folders: make their proxies (when proxy generation is enabled) and waveforms.")

    @OptionGroup var common: CommonOptions

    @Option(help: "Proxy quality: Draft, Preview or High (default: the defaultQuality setting).")
    var quality: ProxyQuality?

    @Flag(help: "Import the subfolders of folders too.")
    var recursive = false

    @Argument(help: "Files and folders.")
    var paths: [String]

    func run() async throws {
        MemoryPolicy.apply()
        common.bootstrapLogging(default: .warning)
        let logger = Logger(label: "aura.import")
        let settings = try common.loadSettings(logger: logger).settings
        let display = ProgressDisplay(interactive: isatty(STDOUT_FILENO) == 1)
        let proxies = try ProxyService(
            directoryPath: settings.cacheDirectory, configuration: settings.cliProxyConfiguration,
            observer: display, logger: logger)
        let waveforms = try WaveformService(directoryPath: settings.waveformCacheDirectory, logger: logger)
        let importer = MediaImporter(proxies: proxies, waveforms: waveforms, settings: settings)
        let absolute = paths.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        let items = await importer.run(paths: absolute, quality: quality, recursive: recursive)
        var rows: [[String]] = []
        var failures = 0
        for item in items {
            var proxy = item.proxy?.rawValue ?? ""
            var waveform = item.waveform?.rawValue ?? ""
            var reason = item.reason ?? item.error.map { "\($0)" } ?? ""
            var status = item.status.rawValue
            if let job = item.proxyJobId {
                do {
                    let record = try await proxies.waitForCompletion(jobId: job)
                    proxy = "made \(record.width)x\(record.height)"
                } catch {
                    proxy = "failed"
                    reason = "\(error)"
                    status = "failed"
                }
            }
            if item.waveform == .queued {
                do {
                    _ = try await waveforms.pyramid(of: item.path)
                    waveform = "made"
                } catch {
                    waveform = "failed"
                    reason = "\(error)"
                    status = "failed"
                }
            }
            if status == "failed" { failures += 1 }
            rows.append([item.path, status, item.kind ?? "", item.quality.map { "\(proxy) (\($0.rawValue))" } ?? proxy, waveform, reason])
        }
        print(Table.render(header: ["path", "status", "kind", "proxy", "waveform", "reason"], rows: rows))
        await waveforms.shutdown()
        await proxies.shutdown()
        if failures > 0 { throw ExitCode(1) }
    }
}
