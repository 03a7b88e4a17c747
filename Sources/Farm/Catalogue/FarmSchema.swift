import Logging
import PostgresNIO

/// The farm catalogue's schema, versioned like the SQLite catalogue's: each migration has a name, is applied once,
/// in order, and is never edited once it has landed (add one instead).
///
/// Two processes migrating at once are safe: each migrates inside one transaction that first takes a transaction-level
/// advisory lock (`lockKey`), so the second waits, then finds the migrations applied.
enum FarmSchema {
    static let lockKey: Int64 = 0x4155_5241_4641_524D  // "AURAFARM"

    static let migrations: [(name: String, sql: [String])] = [
        (
            "v1-queue",
            [
                """
                CREATE TABLE farm_proxies (
                    id bigserial PRIMARY KEY,
                    fingerprint text NOT NULL,
                    quality text NOT NULL,
                    scale_percent integer,
                    settings_key text NOT NULL,
                    source_path text NOT NULL,
                    work text NOT NULL,
                    status text NOT NULL,
                    priority integer NOT NULL DEFAULT 0,
                    playhead double precision,
                    segment_count integer NOT NULL,
                    segments_completed integer NOT NULL DEFAULT 0,
                    join_worker text,
                    join_lease_until timestamptz,
                    proxy_path text,
                    proxy_size_bytes bigint,
                    result text,
                    error_kind text,
                    error text,
                    submitted_by text,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    completed_at timestamptz,
                    UNIQUE (fingerprint, quality, settings_key)
                )
                """,
                """
                CREATE TABLE farm_segments (
                    proxy_id bigint NOT NULL REFERENCES farm_proxies (id) ON DELETE CASCADE,
                    part integer NOT NULL,
                    is_audio boolean NOT NULL,
                    start_seconds double precision NOT NULL,
                    end_seconds double precision NOT NULL,
                    state text NOT NULL DEFAULT 'queued',
                    worker_id text,
                    lease_until timestamptz,
                    attempts integer NOT NULL DEFAULT 0,
                    file_name text,
                    size_bytes bigint,
                    checksum text,
                    frame_count bigint,
                    facts text,
                    made_by text,
                    last_error text,
                    claimed_at timestamptz,
                    done_at timestamptz,
                    PRIMARY KEY (proxy_id, part)
                )
                """,
                // What claims read: the unfinished parts, by proxy; the proxies being made, in claim order.
                "CREATE INDEX farm_segments_unfinished ON farm_segments (proxy_id, state, lease_until) WHERE state <> 'done'",
                "CREATE INDEX farm_segments_done_at ON farm_segments (done_at) WHERE state = 'done'",
                "CREATE INDEX farm_segments_holder ON farm_segments (worker_id) WHERE state = 'claimed'",
                "CREATE INDEX farm_proxies_status ON farm_proxies (status, priority DESC, id)",
                // The totals `stats` reads, kept by a trigger as proxies are ordered, change state and are deleted (the
                // frequent writes, a part's count, do not fire it): stats costs one small read however large the farm.
                """
                CREATE TABLE farm_totals (
                    status text NOT NULL,
                    quality text NOT NULL,
                    proxies bigint NOT NULL DEFAULT 0,
                    size_bytes bigint NOT NULL DEFAULT 0,
                    PRIMARY KEY (status, quality)
                )
                """,
                """
                CREATE FUNCTION farm_totals_track() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP IN ('UPDATE', 'DELETE') THEN
                        UPDATE farm_totals SET proxies = proxies - 1, size_bytes = size_bytes - COALESCE(OLD.proxy_size_bytes, 0)
                        WHERE status = OLD.status AND quality = OLD.quality;
                    END IF;
                    IF TG_OP IN ('INSERT', 'UPDATE') THEN
                        INSERT INTO farm_totals (status, quality, proxies, size_bytes)
                        VALUES (NEW.status, NEW.quality, 1, COALESCE(NEW.proxy_size_bytes, 0))
                        ON CONFLICT (status, quality) DO UPDATE SET proxies = farm_totals.proxies + 1,
                            size_bytes = farm_totals.size_bytes + EXCLUDED.size_bytes;
                    END IF;
                    RETURN NULL;
                END
                $$
                """,
                """
                CREATE TRIGGER farm_totals_track AFTER INSERT OR DELETE OR UPDATE OF status, quality, proxy_size_bytes ON farm_proxies
                FOR EACH ROW EXECUTE FUNCTION farm_totals_track()
                """,
                """
                CREATE TABLE farm_workers (
                    id text PRIMARY KEY,
                    host text NOT NULL,
                    pid integer NOT NULL,
                    jobs integer NOT NULL,
                    version text NOT NULL,
                    state text NOT NULL,
                    segments_made integer NOT NULL DEFAULT 0,
                    started_at timestamptz NOT NULL DEFAULT now(),
                    heartbeat_at timestamptz NOT NULL DEFAULT now()
                )
                """,
            ]
        )
    ]

    /// Applies the migrations this version knows and the catalogue lacks. Returns the names applied.
    static func migrate(_ client: PostgresClient, logger: Logger) async throws -> [String] {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS farm_schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger)
            var applied = Set<String>()
            for try await name in try await connection.query("SELECT name FROM farm_schema_migrations", logger: logger).decode(String.self) {
                applied.insert(name)
            }
            var done: [String] = []
            for migration in migrations where !applied.contains(migration.name) {
                for statement in migration.sql { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await connection.query("INSERT INTO farm_schema_migrations (name) VALUES (\(migration.name))", logger: logger)
                done.append(migration.name)
            }
            return done
        }
    }
}
