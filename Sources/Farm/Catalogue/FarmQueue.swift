import Foundation
import PostgresNIO
import Proxies

/// A part a worker holds under a lease.
public struct FarmClaim: Sendable {
    public var proxyId: Int64
    public var part: Int
    /// How many times the part was claimed, this claim included.
    public var attempts: Int
    /// The worker whose lease on the part expired, when this claim takes it over.
    public var previousWorker: String?
    public var order: ProxyWorkOrder
}

/// A proxy of the farm as the catalogue has it.
public struct FarmProxyState: Sendable, Codable, Equatable {
    public var id: Int64
    public var sourcePath: String
    public var quality: String
    /// `making`, `joining`, `completed`, `failed`.
    public var status: String
    public var segmentCount: Int
    public var segmentsCompleted: Int
    /// The time ranges of the finished video segments, merged.
    public var coverage: [[Double]]
    /// Relative to the shared cache folder, once joined.
    public var proxyPath: String?
    public var proxySizeBytes: Int64?
    /// What went wrong, as `MediaError`'s kind (`diskFull`, `corrupt`, `generationFailed`...), for a server to map to its
    /// error codes.
    public var errorKind: String?
    public var error: String?
    public var percent: Double { segmentCount == 0 ? 0 : (status == "completed" ? 100 : Double(segmentsCompleted) / Double(segmentCount) * 99) }
}

/// A part of a farm proxy as the catalogue has it.
public struct FarmPartState: Sendable, Codable, Equatable {
    public var part: Int
    /// `queued`, `claimed`, `done`.
    public var state: String
    /// How many times it was claimed.
    public var attempts: Int
    /// The worker that made it, once done.
    public var madeBy: String?
    /// The worker that claimed it last.
    public var heldBy: String?
}

/// What submitting a proxy found.
public struct FarmSubmission: Sendable, Equatable {
    public var proxyId: Int64
    /// Parts already made (by an earlier submission, kept after a failure or cancellation).
    public var resumedSegments: Int
    /// Whether the proxy was already complete.
    public var completed: Bool
}

extension FarmCatalogue {
    // MARK: - Ordering proxies

    /// Orders a proxy (or finds the order already there). A failed order is taken up again: its finished parts are kept,
    /// and one whose parts are all made (its join failed) goes straight to joining, for any worker to take.
    public func submit(_ order: ProxyWorkOrder, priority: Int = 0, playhead: Double? = nil, by submitter: String) async throws -> FarmSubmission {
        let work = String(decoding: try JSONEncoder().encode(order), as: UTF8.self)
        let quality = order.quality.rawValue
        let parts = (0..<order.partCount).map { ($0, order.describe(part: $0)) }
        return try await transaction { connection in
            let rows = try await connection.query(
                """
                INSERT INTO farm_proxies (fingerprint, quality, scale_percent, settings_key, source_path, work, status, priority,
                    playhead, segment_count, submitted_by)
                VALUES (\(order.fingerprint.key), \(quality), \(order.scalePercent), \(order.settingsKey), \(order.sourcePath), \(work),
                    'making', \(priority), \(playhead), \(order.partCount), \(submitter))
                ON CONFLICT (fingerprint, quality, settings_key) DO UPDATE SET
                    status = CASE WHEN farm_proxies.status <> 'failed' THEN farm_proxies.status
                        WHEN farm_proxies.segments_completed = farm_proxies.segment_count THEN 'joining' ELSE 'making' END,
                    join_worker = CASE WHEN farm_proxies.status = 'failed' THEN NULL ELSE farm_proxies.join_worker END,
                    join_lease_until = CASE WHEN farm_proxies.status = 'failed' THEN now() - interval '1 second'
                        ELSE farm_proxies.join_lease_until END,
                    error = CASE WHEN farm_proxies.status = 'failed' THEN NULL ELSE farm_proxies.error END,
                    error_kind = CASE WHEN farm_proxies.status = 'failed' THEN NULL ELSE farm_proxies.error_kind END,
                    priority = GREATEST(farm_proxies.priority, EXCLUDED.priority),
                    playhead = COALESCE(EXCLUDED.playhead, farm_proxies.playhead),
                    source_path = EXCLUDED.source_path, updated_at = now()
                RETURNING id, status, segments_completed, (xmax = 0) AS inserted
                """, logger: self.logger
            ).collect().map { $0.makeRandomAccess() }
            let row = rows[0]
            let id: Int64 = try row.value("id")
            if try row.value("inserted", as: Bool.self) {
                for (number, part) in parts {
                    try await connection.query(
                        """
                        INSERT INTO farm_segments (proxy_id, part, is_audio, start_seconds, end_seconds)
                        VALUES (\(id), \(number), \(part.isAudio), \(part.start), \(part.end))
                        """, logger: self.logger)
                }
            }
            try await connection.query("SELECT pg_notify(\(Self.channel), \(Self.event(id, "ordered")))", logger: self.logger)
            return FarmSubmission(
                proxyId: id, resumedSegments: try row.value("segments_completed"), completed: try row.value("status", as: String.self) == "completed")
        }
    }

    /// Notes the time an editor looks at in a proxy's source: its queued parts are claimed from there on.
    public func setPlayhead(proxyId: Int64, seconds: Double) async throws {
        _ = try await rows("UPDATE farm_proxies SET playhead = \(seconds) WHERE id = \(proxyId)")
    }

    static func event(_ id: Int64, _ event: String) -> String { "{\"proxy\":\(id),\"event\":\"\(event)\"}" }

    // MARK: - Claims

    /// Claims the next part to make among proxies of `settingsKeys`: the highest priority, oldest proxy first, and in
    /// it the part at its playhead, then the audio, the parts after, those before. Nil when none is claimable.
    ///
    /// The proxies are chosen first (the first three with claimable parts), then a part among theirs: a claim reads the
    /// parts of three proxies, not the whole queue (`= ANY(ARRAY(...))` makes that an index condition whatever the
    /// planner's estimates). Three, so that claimers skipping each other's locked rows still
    /// find work when the first proxy has fewer parts left than there are claimers.
    public func claim(worker: String, lease: Duration, settingsKeys: [String]) async throws -> FarmClaim? {
        let seconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        let rows = try await rows(
            """
            WITH proxies AS (
                SELECT p.id, COALESCE(p.playhead, 0) AS playhead, p.priority FROM farm_proxies p
                WHERE p.status = 'making' AND p.settings_key = ANY(\(settingsKeys))
                    AND EXISTS (SELECT 1 FROM farm_segments s WHERE s.proxy_id = p.id
                        AND (s.state = 'queued' OR (s.state = 'claimed' AND s.lease_until < now())))
                ORDER BY p.priority DESC, p.id
                LIMIT 3
            ), candidate AS (
                SELECT s.proxy_id, s.part, s.worker_id AS previous
                FROM farm_segments s JOIN proxies p ON p.id = s.proxy_id
                WHERE s.proxy_id = ANY(ARRAY(SELECT id FROM proxies))
                    AND (s.state = 'queued' OR (s.state = 'claimed' AND s.lease_until < now()))
                ORDER BY p.priority DESC, p.id,
                    CASE WHEN NOT s.is_audio AND s.start_seconds <= p.playhead AND p.playhead < s.end_seconds THEN 0
                         WHEN s.is_audio THEN 1
                         WHEN s.start_seconds >= p.playhead THEN 2
                         ELSE 3 END,
                    s.start_seconds
                LIMIT 1
                FOR UPDATE OF s SKIP LOCKED
            )
            UPDATE farm_segments s SET state = 'claimed', worker_id = \(worker), lease_until = now() + make_interval(secs => \(seconds)),
                attempts = s.attempts + 1, claimed_at = now()
            FROM candidate c, farm_proxies p
            WHERE s.proxy_id = c.proxy_id AND s.part = c.part AND p.id = c.proxy_id
            RETURNING s.proxy_id, s.part, s.attempts, c.previous, p.work
            """)
        guard let row = rows.first else { return nil }
        let order = try JSONDecoder().decode(ProxyWorkOrder.self, from: Data(try row.value("work", as: String.self).utf8))
        return FarmClaim(
            proxyId: try row.value("proxy_id"), part: try row.value("part"), attempts: try row.value("attempts"),
            previousWorker: try row.value("previous"), order: order)
    }

    /// Claims the joining of a proxy whose joiner's lease expired. Nil when there is none.
    public func claimJoin(worker: String, lease: Duration, settingsKeys: [String]) async throws -> (proxyId: Int64, order: ProxyWorkOrder)? {
        let seconds = Double(lease.components.seconds)
        let rows = try await rows(
            """
            UPDATE farm_proxies SET join_worker = \(worker), join_lease_until = now() + make_interval(secs => \(seconds)), updated_at = now()
            WHERE id = (SELECT id FROM farm_proxies WHERE status = 'joining' AND join_lease_until < now()
                AND settings_key = ANY(\(settingsKeys)) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, work
            """)
        guard let row = rows.first else { return nil }
        return (try row.value("id"), try JSONDecoder().decode(ProxyWorkOrder.self, from: Data(try row.value("work", as: String.self).utf8)))
    }

    /// Keeps `worker`'s claims and joins alive, and its sign of life. Returns how many parts it still holds (a claim
    /// whose lease expired and was taken over is no longer counted).
    @discardableResult
    public func heartbeat(worker: String, lease: Duration) async throws -> Int {
        let seconds = Double(lease.components.seconds)
        return try await transaction { connection in
            let held = try await connection.query(
                """
                UPDATE farm_segments SET lease_until = now() + make_interval(secs => \(seconds))
                WHERE worker_id = \(worker) AND state = 'claimed' RETURNING part
                """, logger: self.logger
            ).collect().count
            try await connection.query(
                """
                UPDATE farm_proxies SET join_lease_until = now() + make_interval(secs => \(seconds))
                WHERE join_worker = \(worker) AND status = 'joining'
                """, logger: self.logger)
            try await connection.query("UPDATE farm_workers SET heartbeat_at = now() WHERE id = \(worker)", logger: self.logger)
            return held
        }
    }

    /// Records a made part while `worker` still holds it. Returns nil when it no longer does (its lease expired and
    /// another worker took the part over: the caller deletes its file), else whether `worker` now joins the proxy (it
    /// made the last part).
    public func complete(_ claim: FarmClaim, made: ProxyMadePart, worker: String, lease: Duration) async throws -> Bool? {
        let seconds = Double(lease.components.seconds)
        let event = Self.event(claim.proxyId, "segment")
        // One statement, so a proxy's row is held for one round trip. The part turns done only for its holder, and the
        // proxy's count goes up by what turned done: concurrent completions of one proxy queue on its row and each
        // sees the count the one before left (READ COMMITTED re-reads a row it waited for), so exactly one completer
        // reaches the part count and becomes the joiner.
        let rows = try await rows(
            """
            WITH done AS (
                UPDATE farm_segments SET state = 'done', file_name = \(made.fileName), size_bytes = \(made.sizeBytes),
                    checksum = \(made.checksum), frame_count = \(made.frameCount), facts = \(made.facts), made_by = \(worker),
                    done_at = now(), lease_until = NULL, last_error = NULL
                WHERE proxy_id = \(claim.proxyId) AND part = \(claim.part) AND worker_id = \(worker) AND state = 'claimed'
                RETURNING part
            ), counted AS (
                UPDATE farm_workers SET segments_made = segments_made + 1 WHERE id = \(worker) AND EXISTS (SELECT 1 FROM done)
            ), proxy AS (
                UPDATE farm_proxies SET segments_completed = segments_completed + 1, updated_at = now(),
                    status = CASE WHEN status = 'making' AND segments_completed + 1 = segment_count THEN 'joining' ELSE status END,
                    join_worker = CASE WHEN status = 'making' AND segments_completed + 1 = segment_count THEN \(worker) ELSE join_worker END,
                    join_lease_until = CASE WHEN status = 'making' AND segments_completed + 1 = segment_count
                        THEN now() + make_interval(secs => \(seconds)) ELSE join_lease_until END
                WHERE id = \(claim.proxyId) AND EXISTS (SELECT 1 FROM done)
                RETURNING status, join_worker
            )
            SELECT (SELECT count(*) FROM done) AS recorded,
                COALESCE((SELECT status = 'joining' AND join_worker = \(worker) FROM proxy), false) AS joins,
                pg_notify(\(Self.channel), \(event)) AS notified
            """)
        guard let row = rows.first, try row.value("recorded", as: Int64.self) == 1 else { return nil }
        return try row.value("joins", as: Bool.self)
    }

    /// Gives a claimed part back to the queue (the worker stops, or failed to make it: `error`).
    public func release(_ claim: FarmClaim, worker: String, error: String? = nil) async throws {
        _ = try await rows(
            """
            UPDATE farm_segments SET state = 'queued', worker_id = NULL, lease_until = NULL, last_error = COALESCE(\(error), last_error)
            WHERE proxy_id = \(claim.proxyId) AND part = \(claim.part) AND worker_id = \(worker) AND state = 'claimed'
            """)
    }

    /// Fails a proxy: no part of it is claimed any more. Its finished parts stay, for the next submission.
    public func fail(proxyId: Int64, kind: String, message: String) async throws {
        try await transaction { connection in
            try await connection.query(
                """
                UPDATE farm_proxies SET status = 'failed', error_kind = \(kind), error = \(message), join_worker = NULL,
                    updated_at = now()
                WHERE id = \(proxyId) AND status <> 'completed'
                """, logger: self.logger)
            try await connection.query(
                "UPDATE farm_segments SET state = 'queued', worker_id = NULL, lease_until = NULL WHERE proxy_id = \(proxyId) AND state = 'claimed'",
                logger: self.logger)
            try await connection.query("SELECT pg_notify(\(Self.channel), \(Self.event(proxyId, "failed")))", logger: self.logger)
        }
    }

    /// The made parts of a proxy, by number.
    public func madeParts(proxyId: Int64) async throws -> [ProxyMadePart] {
        try await rows(
            """
            SELECT part, file_name, size_bytes, checksum, frame_count, facts FROM farm_segments
            WHERE proxy_id = \(proxyId) AND state = 'done' ORDER BY part
            """
        ).map { row in
            ProxyMadePart(
                number: try row.value("part"), fileName: try row.value("file_name"), sizeBytes: try row.value("size_bytes"),
                checksum: try row.value("checksum"), frameCount: try row.value("frame_count"), facts: try row.value("facts"))
        }
    }

    /// Puts damaged parts back in the queue, and the proxy back to making (while `worker` is its joiner).
    public func reopen(proxyId: Int64, parts: [Int], worker: String) async throws {
        try await transaction { connection in
            try await connection.query(
                """
                UPDATE farm_segments SET state = 'queued', worker_id = NULL, lease_until = NULL, file_name = NULL,
                    last_error = 'damaged or missing when joining'
                WHERE proxy_id = \(proxyId) AND part = ANY(\(parts))
                """, logger: self.logger)
            try await connection.query(
                """
                UPDATE farm_proxies SET status = 'making', join_worker = NULL, join_lease_until = NULL,
                    segments_completed = (SELECT count(*) FROM farm_segments WHERE proxy_id = \(proxyId) AND state = 'done')
                WHERE id = \(proxyId) AND join_worker = \(worker) AND status = 'joining'
                """, logger: self.logger)
        }
    }

    /// Records a joined proxy (while `worker` is its joiner). Returns whether it was recorded.
    @discardableResult
    public func recordJoined(proxyId: Int64, file: ProxyJoinedFile, worker: String) async throws -> Bool {
        let result = String(decoding: try JSONEncoder().encode(file), as: UTF8.self)
        return try await transaction { connection in
            let rows = try await connection.query(
                """
                UPDATE farm_proxies SET status = 'completed', proxy_path = \(file.relativePath), proxy_size_bytes = \(file.sizeBytes),
                    result = \(result), completed_at = now(), updated_at = now(), join_lease_until = NULL
                WHERE id = \(proxyId) AND join_worker = \(worker) AND status = 'joining' RETURNING id
                """, logger: self.logger
            ).collect()
            try await connection.query("SELECT pg_notify(\(Self.channel), \(Self.event(proxyId, "completed")))", logger: self.logger)
            return !rows.isEmpty
        }
    }

    // MARK: - Reading

    /// Every part of a proxy: its state, how often it was claimed, and who made it.
    public func parts(proxyId: Int64) async throws -> [FarmPartState] {
        try await rows(
            "SELECT part, state, attempts, made_by, worker_id FROM farm_segments WHERE proxy_id = \(proxyId) ORDER BY part"
        ).map { row in
            FarmPartState(
                part: try row.value("part"), state: try row.value("state"), attempts: try row.value("attempts"),
                madeBy: try row.value("made_by"), heldBy: try row.value("worker_id"))
        }
    }

    /// A proxy's state, with its coverage (one statement).
    public func proxy(id: Int64) async throws -> FarmProxyState? {
        let rows = try await rows(
            """
            SELECT id, source_path, quality, status, segment_count, segments_completed, proxy_path, proxy_size_bytes, error_kind, error,
                (SELECT COALESCE(json_agg(json_build_array(start_seconds, end_seconds) ORDER BY start_seconds), '[]')::text
                    FROM farm_segments WHERE proxy_id = p.id AND state = 'done' AND NOT is_audio) AS spans
            FROM farm_proxies p WHERE id = \(id)
            """)
        guard let row = rows.first else { return nil }
        let spans = try JSONDecoder().decode([[Double]].self, from: Data(try row.value("spans", as: String.self).utf8))
        var coverage: [[Double]] = []
        for span in spans {
            if let last = coverage.last, abs(last[1] - span[0]) < 1e-6 { coverage[coverage.count - 1][1] = span[1] } else { coverage.append(span) }
        }
        return FarmProxyState(
            id: try row.value("id"), sourcePath: try row.value("source_path"), quality: try row.value("quality"),
            status: try row.value("status"), segmentCount: try row.value("segment_count"),
            segmentsCompleted: try row.value("segments_completed"), coverage: coverage, proxyPath: try row.value("proxy_path"),
            proxySizeBytes: try row.value("proxy_size_bytes"), errorKind: try row.value("error_kind"), error: try row.value("error"))
    }
}
