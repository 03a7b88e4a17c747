import Foundation
import Logging
import PostgresNIO
import Proxies

/// A farm's catalogue and work queue in PostgreSQL: the proxies ordered, their parts (segments and audio) with their
/// claims, and the workers. Every process of a farm (workers, editor servers, the CLI) uses one.
///
/// Claims are leases: a worker claims one part at a time (`FOR UPDATE SKIP LOCKED`, so claimers never wait on each
/// other), keeps its claims alive by `heartbeat`, and records a part only while it still holds it. A part whose lease
/// expired (its worker died, or lost the network) is claimable again, and another worker makes it. Completing the last
/// part of a proxy makes its completer the joiner, under a lease of its own.
///
/// Every call waits at most `timeout` for the server: PostgreSQL unreachable is `FarmCatalogueUnreachable`, naming the
/// host, and the pool keeps trying to reconnect in the background.
public final class FarmCatalogue: Sendable {
    public let location: FarmCatalogueLocation
    let client: PostgresClient
    let logger: Logger
    /// How long a call waits for the server before it fails as unreachable.
    public let timeout: Duration

    init(location: FarmCatalogueLocation, logger: Logger, timeout: Duration, connections: Int) {
        self.location = location
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        var configuration = location.clientConfiguration()
        configuration.options.maximumConnections = connections
        client = PostgresClient(configuration: configuration, backgroundLogger: quiet)
        self.logger = logger
        self.timeout = timeout
    }

    /// Connects to the catalogue at `location` (a pool of at most `connections`), migrates it, runs `body` with it, and
    /// closes it.
    public static func with<T: Sendable>(
        _ location: FarmCatalogueLocation, logger: Logger, timeout: Duration = .seconds(10), connections: Int = 4,
        _ body: @Sendable (FarmCatalogue) async throws -> T
    ) async throws -> T {
        let catalogue = FarmCatalogue(location: location, logger: logger, timeout: timeout, connections: connections)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await catalogue.client.run()
                return nil
            }
            defer { group.cancelAll() }
            try await catalogue.migrate()
            return try await body(catalogue)
        }
    }

    /// Applies missing migrations (safe with several processes at once).
    func migrate() async throws {
        let applied = try await timed { [client, logger] in try await FarmSchema.migrate(client, logger: logger) }
        for name in applied { logger.info("farm catalogue \(location) migrated: \(name)") }
    }

    /// Runs `operation`, failing as unreachable when the server does not answer within `limit` (default `timeout`) or
    /// refuses the connection.
    func timed<T: Sendable>(limit: Duration? = nil, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = limit ?? self.timeout
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask {
                do {
                    return try await operation()
                } catch let error as PSQLError {
                    // PSQLError's description hides everything; say what happened, without the statement's values.
                    let reason = error.serverInfo?[.message] ?? error.underlying.map { String(describing: $0) } ?? "\(error.code)"
                    if Self.isUnreachable(error) {
                        throw FarmCatalogueUnreachable(location: self.location.description, reason: reason)
                    }
                    throw FarmCatalogueFailure(location: self.location.description, reason: reason)
                }
            }
            group.addTask { [location] in
                try await Task.sleep(for: timeout)
                throw FarmCatalogueUnreachable(location: location.description, reason: "no answer within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    /// Whether `error` says the server is gone or cannot take us now (the connection failed, closed or was cut short;
    /// SQLSTATE classes 08, 57 and 53: connection exceptions, the server shutting down or starting, too many
    /// connections), rather than that a statement is wrong. A fast shutdown fails a statement in flight in more than
    /// one way (seen in CI: a generic `PSQLError` that `generate` reported as a failure), so every error of the
    /// connection counts, and only the server's own answers and the client's protocol errors do not.
    static func isUnreachable(_ error: PSQLError) -> Bool {
        switch error.code {
        case .server:
            // Connection exceptions, the server shutting down or starting, too many connections.
            let state = error.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("08") || state.hasPrefix("57") || state.hasPrefix("53")
        case .tooManyParameters, .invalidCommandTag, .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError,
            .sslUnsupported:
            return false
        default:
            // Everything else happens to the connection (closed, reset, refused, cut short while the server stops).
            return true
        }
    }

    /// Runs `body` in a transaction, within `timeout`.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await timed { [client, logger] in try await client.withTransaction(logger: logger) { try await body($0) } }
    }

    /// Runs one statement, within `timeout`, and collects its rows.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await timed { [client, logger] in
            try await client.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
        }
    }

    /// The channel on which workers announce changes (`{"proxy": id, "event": ...}`).
    public static let channel = "aura_farm"
}

/// The catalogue refused a statement (not a connection problem): the message is the server's.
public struct FarmCatalogueFailure: Error, Sendable, CustomStringConvertible {
    public var location: String
    public var reason: String
    public var description: String { "The farm catalogue at \(location) refused a request: \(reason)." }
}

/// The catalogue's server did not answer: local work goes on, and the connection is tried again.
public struct FarmCatalogueUnreachable: Error, Sendable, CustomStringConvertible {
    /// The catalogue, as `FarmCatalogueLocation.description` (no password).
    public var location: String
    public var reason: String
    public var description: String { "The farm catalogue at \(location) cannot be reached: \(reason)." }
}

extension PostgresRandomAccessRow {
    func value<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try self[column].decode(T.self)
    }
}
