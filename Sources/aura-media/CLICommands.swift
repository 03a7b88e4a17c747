import ArgumentParser
import Foundation
import Locking
import Logging
import Media
import Proxies
import Settings
import Waveforms

/// `aura-media generate FILE...`: batch proxy generation with the server's engine and catalogue.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Make proxies of the given files (same engine and catalogue as the server).")

    @OptionGroup var common: CommonOptions
    @OptionGroup var farm: CatalogueOptions

    @Option(help: "Quality: Draft, Preview or High.")
    var quality: ProxyQuality = .default

    @Option(help: "Queue priority (higher first).")
    var priority: Int = 0

    @Option(name: .customLong("scale-percent"), help: "Scale to this percentage (25-75) instead of the quality's box.")
    var scalePercent: Int?

    @Flag(help: "Regenerate proxies that already exist.")
    var overwrite = false

    @Flag(help: "Make a proxy even of a source no larger than the quality's box.")
    var force = false

    @Option(name: .customLong("hardware-acceleration"), help: "off or auto.")
    var hardwareAcceleration: HardwareAcceleration = .off

    @Option(name: .customLong("jobs"), help: "Proxies made at once.")
    var maxConcurrentJobs: Int = 1

    @Argument(help: "Source media files.")
    var files: [String]

    func validate() throws {
        if let scalePercent, !(25...75).contains(scalePercent) { throw ValidationError("--scale-percent must be between 25 and 75") }
        guard (1...16).contains(maxConcurrentJobs) else { throw ValidationError("--jobs must be between 1 and 16") }
    }

    func run() async throws {
        common.bootstrapLogging(default: .warning)
        if let location = try farm.location() {
            let status = try await FarmGenerate.run(
                files: files, quality: quality, scalePercent: scalePercent, priority: priority, force: force, location: location)
            if status != 0 { throw ExitCode(status) }
            return
        }
        let settings = try common.loadSettings(logger: Logger(label: "aura.settings")).settings
        let display = ProgressDisplay(interactive: isatty(STDOUT_FILENO) == 1)
        let service = try ProxyService(
            directoryPath: settings.cacheDirectory,
            configuration: ProxyServiceConfiguration(
                cacheLimitBytes: settings.cacheLimitBytes, maxConcurrentJobs: maxConcurrentJobs,
                hardwareAcceleration: hardwareAcceleration),
            observer: display, logger: Logger(label: "aura.generate"))
        let started = Date()
        var rows: [[String]] = []
        var failures = 0
        await withTaskGroup(of: (Int, [String], Bool).self) { group in
            for (index, file) in files.enumerated() {
                let path = URL(fileURLWithPath: file).standardizedFileURL.path
                group.addTask {
                    let begin = Date()
                    do {
                        let ticket = try await service.generate(
                            ProxyRequest(
                                sourcePath: path, quality: quality, scalePercent: scalePercent, priority: priority,
                                overwrite: overwrite, background: false, force: force))
                        let record: ProxyRecord
                        if let cached = ticket.record {
                            record = cached
                        } else {
                            record = try await service.waitForCompletion(jobId: ticket.jobId)
                        }
                        let seconds = ticket.record == nil ? String(format: "%.1f", Date().timeIntervalSince(begin)) : "cached"
                        return (
                            index,
                            [
                                file, "completed", "\(record.width)x\(record.height)",
                                ByteCountFormatter.string(fromByteCount: record.proxySizeBytes, countStyle: .file), seconds,
                                record.proxyPath,
                            ], true
                        )
                    } catch ProxyServiceError.notNeeded(let reason) {
                        return (index, [file, "not needed", "", "", "", reason + " (--force makes one)"], true)
                    } catch {
                        return (index, [file, "failed", "", "", "", "\(error)"], false)
                    }
                }
            }
            var collected: [(Int, [String])] = []
            for await (index, row, ok) in group {
                collected.append((index, row))
                if !ok { failures += 1 }
            }
            rows = collected.sorted { $0.0 < $1.0 }.map(\.1)
        }
        print(Table.render(header: ["source", "status", "size", "proxy bytes", "seconds", "proxy / reason"], rows: rows))
        print(
            String(
                format: "%d of %d sources ready in %.1f s (cache: %@)", files.count - failures, files.count,
                Date().timeIntervalSince(started), service.directory.url.path))
        await service.shutdown()
        if failures > 0 { throw ExitCode(1) }
    }
}

/// `aura-media stats`: the cache's totals, as the protocol's `stats` reports them.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Show proxy cache statistics.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var farm: CatalogueOptions

    func run() async throws {
        common.bootstrapLogging(default: .warning)
        if let location = try farm.location() {
            print(try await FarmStatsTable.render(location))
            return
        }
        let settings = try common.loadSettings(logger: Logger(label: "aura.settings")).settings
        let service = try ProxyService(
            directoryPath: settings.cacheDirectory, configuration: settings.cliProxyConfiguration,
            observer: SilentObserver(), logger: Logger(label: "aura.stats"))
        let stats = try await service.stats()
        var rows = [
            ["cache directory", service.directory.url.path],
            ["proxies", "\(stats.totalProxies)"],
            ["cache size", ByteCountFormatter.string(fromByteCount: stats.totalCacheSizeBytes, countStyle: .file)],
            ["source size", ByteCountFormatter.string(fromByteCount: stats.totalSourceSizeBytes, countStyle: .file)],
            ["compression ratio", String(format: "%.3f", stats.compressionRatio)],
            ["space saved", String(format: "%.1f %%", stats.spaceSavedPercent)],
            ["cache limit", ByteCountFormatter.string(fromByteCount: stats.cacheLimitBytes, countStyle: .file)],
            ["unfinished proxies' parts", ByteCountFormatter.string(fromByteCount: stats.segmentsSizeBytes, countStyle: .file)],
        ]
        for quality in ProxyQuality.allCases {
            let totals = stats.byQuality[quality]
            rows.append([
                quality.rawValue, "\(totals?.count ?? 0) (\(ByteCountFormatter.string(fromByteCount: totals?.sizeBytes ?? 0, countStyle: .file)))",
            ])
        }
        let waveforms = try WaveformService(directoryPath: settings.waveformCacheDirectory, logger: Logger(label: "aura.stats"))
        let usage = try await waveforms.usage()
        rows.append([
            "waveform cache",
            "\(waveforms.directory.url.path): \(usage.files) files (\(ByteCountFormatter.string(fromByteCount: usage.bytes, countStyle: .file)))",
        ])
        print(Table.render(header: ["", "value"], rows: rows))
        await waveforms.shutdown()
        await service.shutdown()
    }
}

/// `aura-media clear`: delete cached proxies and/or waveforms (never sources).
struct ClearCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "clear", abstract: "Delete cached proxies or waveforms (sources are never touched).")

    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("source"), help: "Only what was made from this source file.")
    var sourcePath: String?

    @Option(help: "What to delete: proxies, waveforms or all.")
    var scope: String = "proxies"

    func validate() throws {
        guard ["proxies", "waveforms", "all"].contains(scope) else { throw ValidationError("--scope must be proxies, waveforms or all") }
    }

    func run() async throws {
        common.bootstrapLogging(default: .warning)
        let settings = try common.loadSettings(logger: Logger(label: "aura.settings")).settings
        let source = sourcePath.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        var deleted = 0, freed: Int64 = 0, kept = 0
        if scope != "waveforms" {
            let service = try ProxyService(
                directoryPath: settings.cacheDirectory, configuration: settings.cliProxyConfiguration,
                observer: SilentObserver(), logger: Logger(label: "aura.clear"))
            let result = try await service.clear(sourcePath: source)
            await service.shutdown()
            (deleted, freed, kept) = (result.deletedFiles, result.freedBytes, result.keptInUse)
        }
        if scope != "proxies" {
            let waveforms = try WaveformService(directoryPath: settings.waveformCacheDirectory, logger: Logger(label: "aura.clear"))
            let result = try await waveforms.clear(sourcePath: source)
            await waveforms.shutdown()
            deleted += result.files
            freed += result.bytes
            kept += result.kept
        }
        print(
            "deleted \(deleted) files, freed \(ByteCountFormatter.string(fromByteCount: freed, countStyle: .file))"
                + (kept > 0 ? "; kept \(kept) files another aura-media process is generating or using" : ""))
    }
}

extension ServerSettings {
    var cliProxyConfiguration: ProxyServiceConfiguration {
        ProxyServiceConfiguration(cacheLimitBytes: cacheLimitBytes, maxConcurrentJobs: maxConcurrentJobs, hardwareAcceleration: .off)
    }
}

/// An observer that ignores everything (for commands that run no jobs).
struct SilentObserver: ProxyJobObserver {
    func jobQueued(_ job: ProxyJobSnapshot) {}
    func jobProgressed(_ job: ProxyJobSnapshot) {}
    func jobFinished(_ job: ProxyJobSnapshot, outcome: ProxyJobOutcome) {}
    func warning(_ message: String) { FileHandle.standardError.write(Data("warning: \(message)\n".utf8)) }
    func notice(_ message: String) {}
}

/// Progress of batch jobs: redrawn bars on a terminal, one line per 10 % step otherwise (logs, CI).
final class ProgressDisplay: ProxyJobObserver {
    private struct State {
        var lines: [String: String] = [:]
        var order: [String] = []
        var lastStep: [String: Int] = [:]
        var drawnLines = 0
    }
    private let interactive: Bool
    private let state = Mutex(State())

    init(interactive: Bool) {
        self.interactive = interactive
    }

    func jobQueued(_ job: ProxyJobSnapshot) {
        update(job, text: "queued")
    }

    func jobProgressed(_ job: ProxyJobSnapshot) {
        let percent = Int(job.progress.percent)
        if interactive {
            let width = 30
            let filled = width * percent / 100
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            let eta = job.progress.etaSeconds.map { String(format: " ETA %.0fs", $0) } ?? ""
            let fps = job.progress.rate.map { String(format: " %.0f fps", $0) } ?? ""
            update(job, text: "\(bar) \(String(format: "%3d", percent))%\(fps)\(eta)")
        } else {
            let step = percent / 10
            let changed = state.withLock { state -> Bool in
                guard state.lastStep[job.id] != step else { return false }
                state.lastStep[job.id] = step
                return true
            }
            if changed { update(job, text: "\(percent)% \(job.progress.message ?? "")") }
        }
    }

    func jobFinished(_ job: ProxyJobSnapshot, outcome: ProxyJobOutcome) {
        switch outcome {
        case .completed: update(job, text: "done")
        case .failed(let error): update(job, text: "failed: \(error)")
        case .cancelled, .replaced: update(job, text: "cancelled")
        }
    }

    func warning(_ message: String) { FileHandle.standardError.write(Data("warning: \(message)\n".utf8)) }
    func notice(_ message: String) { FileHandle.standardError.write(Data("\(message)\n".utf8)) }

    private func update(_ job: ProxyJobSnapshot, text: String) {
        let name = URL(fileURLWithPath: job.sourcePath).lastPathComponent
        let line = "\(name) [\(job.quality.rawValue)] \(text)"
        let output: String = state.withLock { state in
            if state.lines[job.id] == nil { state.order.append(job.id) }
            state.lines[job.id] = line
            guard interactive else { return line + "\n" }
            // Move up over the previous drawing and redraw every job's line.
            var text = state.drawnLines > 0 ? "\u{1B}[\(state.drawnLines)A" : ""
            for id in state.order { text += "\r\u{1B}[2K" + (state.lines[id] ?? "") + "\n" }
            state.drawnLines = state.order.count
            return text
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}

/// A plain text table with aligned columns.
enum Table {
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line))
            .joined(separator: "\n")
    }
}
