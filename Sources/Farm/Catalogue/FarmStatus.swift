import Foundation
import PostgresNIO

/// What `aura-media farm status` shows: the queue, the workers and the throughput.
public struct FarmStatus: Sendable, Codable {
    public struct Proxy: Sendable, Codable {
        public var id: Int64
        public var sourcePath: String
        public var quality: String
        public var status: String
        public var segmentsCompleted: Int
        public var segmentCount: Int
        public var claimed: Int
        public var error: String?
    }

    public struct Worker: Sendable, Codable {
        public var id: String
        public var host: String
        public var pid: Int
        public var jobs: Int
        public var state: String
        /// What it holds, as `proxy:part`.
        public var holding: [String]
        public var segmentsMade: Int
        public var secondsSinceHeartbeat: Double
    }

    public var proxies: [Proxy]
    public var workers: [Worker]
    /// Parts made in the last minute and in the last ten.
    public var segmentsLastMinute: Int
    public var segmentsLastTenMinutes: Int
    public var queuedSegments: Int

    /// A table for people.
    public var text: String {
        var lines = [
            "queue: \(queuedSegments) parts waiting; made \(segmentsLastMinute) in the last minute, \(segmentsLastTenMinutes) in the last 10"
        ]
        lines.append("proxies:")
        for proxy in proxies {
            lines.append(
                "  #\(proxy.id) \(proxy.quality) \(proxy.status) \(proxy.segmentsCompleted)/\(proxy.segmentCount) parts"
                    + (proxy.claimed > 0 ? ", \(proxy.claimed) being made" : "") + "  \(proxy.sourcePath)"
                    + (proxy.error.map { "  error: \($0)" } ?? ""))
        }
        lines.append("workers:")
        for worker in workers {
            lines.append(
                "  \(worker.id) on \(worker.host) (pid \(worker.pid), \(worker.jobs) jobs) \(worker.state), made \(worker.segmentsMade), "
                    + "heartbeat \(String(format: "%.1f", worker.secondsSinceHeartbeat)) s ago"
                    + (worker.holding.isEmpty ? "" : ", holds \(worker.holding.joined(separator: " "))"))
        }
        return lines.joined(separator: "\n")
    }
}

extension FarmCatalogue {
    /// Records a worker's start (or restart under the same id).
    public func register(worker: String, host: String, pid: Int, jobs: Int, version: String) async throws {
        _ = try await rows(
            """
            INSERT INTO farm_workers (id, host, pid, jobs, version, state) VALUES (\(worker), \(host), \(pid), \(jobs), \(version), 'working')
            ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, jobs = EXCLUDED.jobs, version = EXCLUDED.version,
                state = 'working', heartbeat_at = now()
            """)
    }

    /// Records a worker's state (`draining`, `stopped`).
    public func setState(worker: String, _ state: String) async throws {
        _ = try await rows("UPDATE farm_workers SET state = \(state), heartbeat_at = now() WHERE id = \(worker)")
    }

    /// The queue, the workers (seen in the last hour) and the throughput.
    public func status() async throws -> FarmStatus {
        let proxies = try await rows(
            """
            SELECT p.id, p.source_path, p.quality, p.status, p.segments_completed, p.segment_count, p.error,
                (SELECT count(*) FROM farm_segments s WHERE s.proxy_id = p.id AND s.state = 'claimed' AND s.lease_until >= now()) AS claimed
            FROM farm_proxies p WHERE p.status <> 'completed' OR p.completed_at > now() - interval '1 hour'
            ORDER BY p.id
            """
        ).map { row in
            FarmStatus.Proxy(
                id: try row.value("id"), sourcePath: try row.value("source_path"), quality: try row.value("quality"),
                status: try row.value("status"), segmentsCompleted: try row.value("segments_completed"),
                segmentCount: try row.value("segment_count"), claimed: Int(try row.value("claimed", as: Int64.self)),
                error: try row.value("error"))
        }
        let workers = try await rows(
            """
            SELECT w.id, w.host, w.pid, w.jobs, w.state, w.segments_made,
                EXTRACT(EPOCH FROM now() - w.heartbeat_at)::double precision AS age,
                COALESCE((SELECT string_agg(s.proxy_id || ':' || s.part, ' ') FROM farm_segments s
                    WHERE s.worker_id = w.id AND s.state = 'claimed'), '') AS holding
            FROM farm_workers w WHERE w.heartbeat_at > now() - interval '1 hour' ORDER BY w.started_at
            """
        ).map { row in
            FarmStatus.Worker(
                id: try row.value("id"), host: try row.value("host"), pid: try row.value("pid"), jobs: try row.value("jobs"),
                state: try row.value("state"),
                holding: (try row.value("holding", as: String.self)).split(separator: " ").map(String.init),
                segmentsMade: try row.value("segments_made"), secondsSinceHeartbeat: try row.value("age"))
        }
        let counts = try await rows(
            """
            SELECT (SELECT count(*) FROM farm_segments WHERE state = 'done' AND done_at > now() - interval '1 minute') AS minute,
                (SELECT count(*) FROM farm_segments WHERE state = 'done' AND done_at > now() - interval '10 minutes') AS ten,
                (SELECT count(*) FROM farm_segments s JOIN farm_proxies p ON p.id = s.proxy_id
                    WHERE p.status = 'making' AND s.state <> 'done') AS queued
            """)[0]
        return FarmStatus(
            proxies: proxies, workers: workers, segmentsLastMinute: Int(try counts.value("minute", as: Int64.self)),
            segmentsLastTenMinutes: Int(try counts.value("ten", as: Int64.self)), queuedSegments: Int(try counts.value("queued", as: Int64.self)))
    }
}

/// The farm's totals, as `stats --catalogue` shows them.
public struct FarmStats: Sendable, Codable, Equatable {
    public struct QualityTotals: Sendable, Codable, Equatable {
        public var count: Int
        public var sizeBytes: Int64

        public init(count: Int, sizeBytes: Int64) {
            self.count = count
            self.sizeBytes = sizeBytes
        }
    }

    public var completedProxies: Int
    public var completedSizeBytes: Int64
    public var byQuality: [String: QualityTotals]
    /// Proxies being made (parts waiting, being made or being joined), and failed ones.
    public var inProgress: Int
    public var failed: Int
    /// Parts made of proxies still in the making.
    public var partsMade: Int
    public var partsWaiting: Int
}

extension FarmCatalogue {
    /// The farm's totals: the trigger-kept totals by state and quality, and one aggregate over the parts of unfinished
    /// proxies.
    public func stats() async throws -> FarmStats {
        let byStatus = try await rows(
            """
            SELECT status, quality, proxies AS n, size_bytes AS bytes FROM farm_totals WHERE proxies <> 0
            """)
        var stats = FarmStats(
            completedProxies: 0, completedSizeBytes: 0, byQuality: [:], inProgress: 0, failed: 0, partsMade: 0, partsWaiting: 0)
        for row in byStatus {
            let count = Int(try row.value("n", as: Int64.self))
            switch try row.value("status", as: String.self) {
            case "completed":
                let bytes: Int64 = try row.value("bytes")
                stats.completedProxies += count
                stats.completedSizeBytes += bytes
                stats.byQuality[try row.value("quality"), default: .init(count: 0, sizeBytes: 0)].count += count
                stats.byQuality[try row.value("quality"), default: .init(count: 0, sizeBytes: 0)].sizeBytes += bytes
            case "failed": stats.failed += count
            default: stats.inProgress += count
            }
        }
        let parts = try await rows(
            """
            SELECT count(*) FILTER (WHERE s.state = 'done') AS made, count(*) FILTER (WHERE s.state <> 'done') AS waiting
            FROM farm_segments s JOIN farm_proxies p ON p.id = s.proxy_id WHERE p.status IN ('making', 'joining')
            """)[0]
        stats.partsMade = Int(try parts.value("made", as: Int64.self))
        stats.partsWaiting = Int(try parts.value("waiting", as: Int64.self))
        return stats
    }
}
