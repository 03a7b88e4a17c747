import Farm
import Foundation
import Logging
import TestSupport

/// Throwaway PostgreSQL clusters for the farm's tests (`scripts/pg-test-cluster.sh`: Debian's postgresql, installed
/// when missing; an unprivileged owner; a free loopback port).
///
/// Tests share one cluster, each with a database of its own (`freshDatabase`). The test command starts it and names it
/// in `AURA_FARM_TEST_CLUSTER` (`URL DIRECTORY`); without it (a developer's `swift test`), the first test starts one
/// and the process stops it at exit. A test that stops PostgreSQL starts a cluster of its own (`Cluster.start`).
enum FarmTestCluster {
    struct Cluster: Sendable {
        var url: String
        var directory: String
        var port: Int { URLComponents(string: url)!.port! }

        static func start() throws -> Cluster {
            let output = try script(["start"])
            let fields = output.split(separator: " ").map(String.init)
            guard fields.count == 2 else { throw ClusterFailure(message: "pg-test-cluster.sh start printed \(output)") }
            return Cluster(url: fields[0], directory: fields[1])
        }

        func stop() { _ = try? script(["stop", directory]) }
        func halt() throws { _ = try script(["halt", directory]) }
        func resume() throws { _ = try script(["resume", directory]) }

        /// A new database in the cluster, as a catalogue URL.
        func freshDatabase() throws -> String {
            let name = "t_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            _ = try script(["createdb", directory, name])
            return "postgres://aura@127.0.0.1:\(port)/\(name)"
        }
    }

    struct ClusterFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func script(_ arguments: [String]) throws -> String {
        let result = try Spawn.run("/bin/bash", [packageRoot.appendingPathComponent("scripts/pg-test-cluster.sh").path] + arguments)
        guard result.status == 0 else {
            throw ClusterFailure(message: "pg-test-cluster.sh \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        }
        return result.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The shared cluster.
    static let shared: Result<Cluster, any Error> = {
        if let named = ProcessInfo.processInfo.environment["AURA_FARM_TEST_CLUSTER"] {
            let fields = named.split(separator: " ").map(String.init)
            if fields.count == 2 { return .success(Cluster(url: fields[0], directory: fields[1])) }
        }
        let result = Result { try Cluster.start() }
        if case .success(let cluster) = result {
            startedHere.withLock { $0 = cluster.directory }
            atexit {
                if let directory = FarmTestCluster.startedHere.withLock({ $0 }) { _ = try? FarmTestCluster.script(["stop", directory]) }
            }
        }
        return result
    }()

    static let startedHere = Locked<String?>(nil)

    /// A new database of the shared cluster, as a catalogue location. Blocking: from async code, through `OffPool`.
    static func freshDatabase() async throws -> FarmCatalogueLocation {
        try await OffPool.run {
            let url = try shared.get().freshDatabase()
            return try FarmCatalogueLocation(url: url, environment: [:])
        }
    }

    static var logger: Logger {
        var logger = Logger(label: "farm-tests")
        logger.logLevel = .warning
        return logger
    }
}
