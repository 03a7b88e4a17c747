import ArgumentParser
import Dispatch
import Farm
import Foundation
import Jobs
import Logging
import Proxies

/// The farm's catalogue option (`--catalogue postgres://user@host:port/db`).
struct CatalogueOptions: ParsableArguments {
    @Option(
        name: .customLong("catalogue"),
        help:
            "A proxy farm's catalogue: postgres://user@host:port/database[?sslmode=require]. The password comes from PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass), never from the URL."
    )
    var catalogue: String?

    func location() throws -> FarmCatalogueLocation? {
        guard let catalogue else { return nil }
        do {
            return try FarmCatalogueLocation(url: catalogue)
        } catch let error as FarmCatalogueLocation.Invalid {
            throw ValidationError(error.description)
        }
    }
}

/// `aura-media worker --catalogue URL --cache-dir DIR [--jobs N]`: a farm worker.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Make parts of the farm's proxies: claim them in the catalogue, encode them into the shared cache folder, join finished proxies.",
        discussion: "SIGTERM or SIGINT drains: the parts being made are finished and recorded, then the worker exits.")

    @OptionGroup var farm: CatalogueOptions
    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("jobs"), help: "Parts made at once (1-16).")
    var jobs = 1

    @Option(name: .customLong("lease-seconds"), help: "How long a claim lives without a heartbeat (5-3600).")
    var leaseSeconds = 30

    @Option(
        name: .customLong("path-map"),
        help: "FROM=TO: a source path prefix on the ordering machine and the same folder here (repeatable).")
    var pathMaps: [String] = []

    func validate() throws {
        guard farm.catalogue != nil else { throw ValidationError("worker needs --catalogue postgres://user@host:port/database") }
        guard let cache = common.cacheDirectory, cache.hasPrefix("/") else {
            throw ValidationError("worker needs --cache-dir: the shared cache folder, as an absolute path")
        }
        guard (1...16).contains(jobs) else { throw ValidationError("--jobs must be between 1 and 16") }
        guard (5...3600).contains(leaseSeconds) else { throw ValidationError("--lease-seconds must be between 5 and 3600") }
        for map in pathMaps where PathMapping(argument: map) == nil { throw ValidationError("--path-map must be FROM=TO, not \(map)") }
    }

    func run() async throws {
        common.bootstrapLogging(default: .info)
        let logger = Logger(label: "aura.worker")
        let location = try farm.location()!
        let options = FarmWorkerOptions(
            cachePath: common.cacheDirectory!, jobs: jobs, lease: .seconds(leaseSeconds),
            pathMappings: pathMaps.compactMap(PathMapping.init(argument:)))
        try await FarmCatalogue.with(location, logger: logger, connections: jobs + 2) { catalogue in
            let worker = try FarmWorker(id: FarmWorker.makeId(), catalogue: catalogue, options: options, logger: logger)
            let signals = [SIGTERM, SIGINT].map { signal in
                Foundation.signal(signal, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signal)
                source.setEventHandler {
                    logger.info("worker \(worker.id): signal \(signal): finishing the parts being made, then stopping")
                    worker.drain()
                }
                source.resume()
                return source
            }
            defer { signals.forEach { $0.cancel() } }
            try await worker.run()
        }
    }
}

/// `aura-media farm status`: the farm's queue, workers and throughput.
struct FarmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "farm", abstract: "The proxy farm.", subcommands: [FarmStatusCommand.self, FarmBenchCommand.self])
}

/// `aura-media farm bench`: what `bench/bench farm` runs (claim throughput, `stats` and `status` on a large catalogue).
struct FarmBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure a catalogue (a database of its own: it fills it). Prints JSON.", shouldDisplay: false)

    @OptionGroup var farm: CatalogueOptions

    @Option(help: "Simulated workers.")
    var workers = 16

    @Option(help: "Completed proxies in the catalogue.")
    var proxies = 100_000

    @Option(name: .customLong("segments-each"), help: "Parts of each.")
    var segmentsEach = 10

    @Option(help: "Seconds each throughput is measured for.")
    var seconds = 5.0

    func run() async throws {
        guard let location = try farm.location() else { throw ValidationError("farm bench needs --catalogue") }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let result = try await FarmBenchmark.run(
            location, workers: workers, proxies: proxies, segmentsEach: segmentsEach, seconds: seconds, logger: Logger(label: "aura.bench"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    }
}

struct FarmStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the farm's queue, workers and throughput.")

    @OptionGroup var farm: CatalogueOptions
    @OptionGroup var common: CommonOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard farm.catalogue != nil else { throw ValidationError("farm status needs --catalogue postgres://user@host:port/database") }
    }

    func run() async throws {
        common.bootstrapLogging(default: .warning)
        let status = try await FarmCatalogue.with(try farm.location()!, logger: Logger(label: "aura.farm")) { try await $0.status() }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
        } else {
            print(status.text)
        }
    }
}

/// `generate --catalogue URL FILE...`: orders the proxies from the farm and waits for them.
enum FarmGenerate {
    static func run(
        files: [String], quality: ProxyQuality, scalePercent: Int?, priority: Int, force: Bool, location: FarmCatalogueLocation
    ) async throws -> Int32 {
        let logger = Logger(label: "aura.generate")
        let started = Date()
        let rows = try await FarmCatalogue.with(location, logger: logger) { catalogue -> [[String]] in
            var rows: [[String]] = []
            for file in files {
                let path = URL(fileURLWithPath: file).standardizedFileURL.path
                let begin = Date()
                do {
                    let order = try await BlockingQueue.run {
                        try ProxyPartMaker.order(sourcePath: path, quality: quality, scalePercent: scalePercent, force: force)
                    }
                    let submission = try await catalogue.submit(order, priority: priority, by: "generate@\(ProcessInfo.processInfo.hostName)")
                    FileHandle.standardError.write(
                        Data(
                            "\(file): proxy #\(submission.proxyId) ordered, \(order.partCount) parts, \(submission.resumedSegments) already made\n"
                                .utf8))
                    var last = -1
                    var backoff = Duration.seconds(1)
                    while true {
                        let found: FarmProxyState?
                        do {
                            found = try await catalogue.proxy(id: submission.proxyId)
                            backoff = .seconds(1)
                        } catch let error as FarmCatalogueUnreachable {
                            // The farm goes on without us; wait for the catalogue to come back.
                            FileHandle.standardError.write(Data("\(file): \(error) Trying again in \(backoff).\n".utf8))
                            try await Task.sleep(for: backoff)
                            backoff = min(backoff * 2, .seconds(15))
                            continue
                        }
                        guard let state = found else {
                            throw FarmGenerateFailed(message: "its order vanished from the catalogue")
                        }
                        if state.segmentsCompleted != last {
                            last = state.segmentsCompleted
                            FileHandle.standardError.write(Data("\(file): \(state.segmentsCompleted)/\(state.segmentCount) parts made\n".utf8))
                        }
                        if state.status == "completed" {
                            rows.append([
                                file, "completed", ByteCountFormatter.string(fromByteCount: state.proxySizeBytes ?? 0, countStyle: .file),
                                String(format: "%.1f", Date().timeIntervalSince(begin)), state.proxyPath ?? "",
                            ])
                            break
                        }
                        if state.status == "failed" {
                            throw FarmGenerateFailed(message: "\(state.errorKind ?? "failed"): \(state.error ?? "")")
                        }
                        try await Task.sleep(for: .milliseconds(250))
                    }
                } catch ProxyServiceError.notNeeded(let reason) {
                    rows.append([file, "not needed", "", "", reason + " (--force makes one)"])
                } catch let error as FarmCatalogueUnreachable {
                    throw error
                } catch {
                    rows.append([file, "failed", "", "", "\(error)"])
                }
            }
            return rows
        }
        print(Table.render(header: ["source", "status", "proxy bytes", "seconds", "proxy (in the shared cache) / reason"], rows: rows))
        let failures = rows.filter { $0[1] == "failed" }.count
        print(
            String(
                format: "%d of %d sources ready in %.1f s (farm: %@)", files.count - failures, files.count, Date().timeIntervalSince(started),
                location.description))
        return failures > 0 ? 1 : 0
    }
}

struct FarmGenerateFailed: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// `stats --catalogue URL`: the farm's totals.
enum FarmStatsTable {
    static func render(_ location: FarmCatalogueLocation) async throws -> String {
        let stats = try await FarmCatalogue.with(location, logger: Logger(label: "aura.stats")) { try await $0.stats() }
        func bytes(_ count: Int64) -> String { ByteCountFormatter.string(fromByteCount: count, countStyle: .file) }
        var rows = [
            ["farm catalogue", location.description],
            ["proxies", "\(stats.completedProxies)"],
            ["proxies' size", bytes(stats.completedSizeBytes)],
            ["being made", "\(stats.inProgress) (\(stats.partsMade) parts made, \(stats.partsWaiting) to make)"],
            ["failed", "\(stats.failed)"],
        ]
        for quality in ProxyQuality.allCases {
            let totals = stats.byQuality[quality.rawValue]
            rows.append([quality.rawValue, "\(totals?.count ?? 0) (\(bytes(totals?.sizeBytes ?? 0)))"])
        }
        return Table.render(header: ["", "value"], rows: rows)
    }
}
