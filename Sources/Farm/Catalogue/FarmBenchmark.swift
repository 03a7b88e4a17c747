import Foundation
import Locking
import Logging
import Media
import MediaCache
import PostgresNIO
import Proxies

/// What `bench/bench farm` measures on a catalogue (`aura-media farm bench`): claim throughput with simulated workers,
/// and `stats` and `status` on a large catalogue, each against a trivial query measured in the same run.
public enum FarmBenchmark {
    public struct Result: Sendable, Codable {
        public var workers: Int
        public var proxies: Int
        public var segmentRows: Int
        /// `SELECT 1` round trips per second from `workers` tasks: what the server and client do for nothing.
        public var trivialQueriesPerSecond: Double
        /// Claims (each followed by its completion, as a worker does) per second from `workers` tasks.
        public var claimsPerSecond: Double
        public var completionsPerSecond: Double
        public var duplicateClaims: Int
        /// Latencies in milliseconds: median and 95th percentile.
        public var trivialMs: [Double]
        public var statsMs: [Double]
        public var statusMs: [Double]
    }

    /// Fills the catalogue up to `proxies` completed proxies of `segmentsEach` parts each (one statement per table).
    static func populate(_ catalogue: FarmCatalogue, proxies: Int, segmentsEach: Int) async throws {
        let existing = try await catalogue.rows("SELECT count(*) AS n FROM farm_proxies WHERE submitted_by = 'bench'")[0]
        let have = Int(try existing.value("n", as: Int64.self))
        guard have < proxies else { return }
        _ = try await catalogue.timed(limit: .seconds(600)) { [client = catalogue.client, logger = catalogue.logger] in
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    """
                    INSERT INTO farm_proxies (fingerprint, quality, settings_key, source_path, work, status, segment_count,
                        segments_completed, proxy_path, proxy_size_bytes, submitted_by, completed_at)
                    SELECT lpad(to_hex(g), 16, '0'), (ARRAY['Draft','Preview','High'])[1 + g % 3], 'bench', '/media/bench/' || g || '.mov',
                        '{}', 'completed', \(segmentsEach), \(segmentsEach), 'farm/' || g || '.mp4', 10000000 + g, 'bench', now()
                    FROM generate_series(\(have + 1), \(proxies)) AS g
                    """, logger: logger)
                try await connection.query(
                    """
                    INSERT INTO farm_segments (proxy_id, part, is_audio, start_seconds, end_seconds, state, attempts, file_name,
                        size_bytes, checksum, frame_count, facts, made_by, done_at)
                    SELECT p.id, s, false, s * 10, s * 10 + 10, 'done', 1, 'x', 1000, 'c', 250, '{}', 'bench', now() - interval '1 day'
                    FROM farm_proxies p, generate_series(0, \(segmentsEach - 1)) AS s
                    WHERE p.submitted_by = 'bench' AND NOT EXISTS (SELECT 1 FROM farm_segments x WHERE x.proxy_id = p.id)
                    """, logger: logger)
                try await connection.query("ANALYZE", logger: logger)
            }
        }
    }

    /// Runs the benchmark on the catalogue at `location` (a database of its own: it adds `proxies` rows).
    public static func run(
        _ location: FarmCatalogueLocation, workers: Int, proxies: Int, segmentsEach: Int, seconds: Double, logger: Logger
    ) async throws -> Result {
        try await FarmCatalogue.with(location, logger: logger, connections: workers) { catalogue in
            try await populate(catalogue, proxies: proxies, segmentsEach: segmentsEach)
            // The reference: trivial round trips from as many tasks.
            let trivialRate = try await rate(tasks: workers, seconds: seconds) { _ in
                _ = try await catalogue.rows("SELECT 1 AS one")
                return true
            }
            // Claim and complete: enough claimable parts that the queue never runs dry.
            let keys = ["benchkey"]
            let plan = SegmentPlan(
                frameRateNumerator: 25, frameRateDenominator: 1, durationSeconds: 5000, audioStreams: 0, fieldOrder: .progressive,
                segments: (0..<500).map { SegmentPlan.Segment(index: $0, startSlot: Int64($0) * 250, endSlot: $0 == 499 ? nil : Int64($0 + 1) * 250) }
            )
            for index in 0..<20 {
                let order = ProxyWorkOrder(
                    sourcePath: "/media/bench/claims-\(index).mov", quality: .preview, scalePercent: nil,
                    fingerprint: SourceFingerprint(sizeBytes: Int64(index), modificationTime: 0, edgeHash: "claims"), settingsKey: keys[0],
                    plan: plan)
                _ = try await catalogue.submit(order, by: "bench-claims")
            }
            let claimed = Mutex<[String: Int]>([:])
            let claimRate = try await rate(tasks: workers, seconds: seconds) { task in
                guard let claim = try await catalogue.claim(worker: "bench-\(task)", lease: .seconds(60), settingsKeys: keys) else { return false }
                claimed.withLock { $0["\(claim.proxyId):\(claim.part)", default: 0] += 1 }
                let made = ProxyMadePart(number: claim.part, fileName: "x", sizeBytes: 1, checksum: "c", frameCount: 250, facts: "{}")
                _ = try await catalogue.complete(claim, made: made, worker: "bench-\(task)", lease: .seconds(60))
                return true
            }
            let duplicates = claimed.withLock { $0.values.filter { $0 > 1 }.count }
            let trivial = try await latencies(count: 200) { _ = try await catalogue.rows("SELECT 1 AS one") }
            let stats = try await latencies(count: 50) { _ = try await catalogue.stats() }
            let status = try await latencies(count: 200) { _ = try await catalogue.proxy(id: Int64.random(in: 1...Int64(proxies))) }
            let segmentRows = Int(try await catalogue.rows("SELECT count(*) AS n FROM farm_segments")[0].value("n", as: Int64.self))
            return Result(
                workers: workers, proxies: proxies, segmentRows: segmentRows, trivialQueriesPerSecond: trivialRate,
                claimsPerSecond: claimRate, completionsPerSecond: claimRate, duplicateClaims: duplicates, trivialMs: trivial,
                statsMs: stats, statusMs: status)
        }
    }

    /// Operations per second from `tasks` tasks looping `body` for `seconds` (a false answer ends that task).
    static func rate(tasks: Int, seconds: Double, _ body: @escaping @Sendable (Int) async throws -> Bool) async throws -> Double {
        let start = ContinuousClock.now
        let end = start + .milliseconds(Int(seconds * 1000))
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var done = 0
                    while ContinuousClock.now < end {
                        guard try await body(task) else { break }
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - start
        return Double(total) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// Median and 95th percentile, in milliseconds, of `count` sequential calls.
    static func latencies(count: Int, _ body: () async throws -> Void) async throws -> [Double] {
        var samples: [Double] = []
        for _ in 0..<count {
            let start = ContinuousClock.now
            try await body()
            let elapsed = ContinuousClock.now - start
            samples.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
        }
        samples.sort()
        return [samples[samples.count / 2], samples[min(samples.count - 1, Int(Double(samples.count) * 0.95))]]
    }
}
