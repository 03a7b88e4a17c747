import Foundation
import PostgresNIO

/// Where a farm's catalogue is: a `postgres://user@host:port/database` URL, with the password kept out of it.
///
/// The password comes from `PGPASSWORD`, else from a password file (`PGPASSFILE`, else `~/.pgpass`, in libpq's
/// `host:port:database:user:password` form), never from the URL: a URL that carries one is refused, since URLs end up
/// in logs, process lists and settings files. `description` names the user, host, port and database only.
///
/// TLS: `?sslmode=disable` (the default for a loopback host), `prefer` (the default otherwise) or `require`.
public struct FarmCatalogueLocation: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var tls: TLSMode
    /// Kept out of `description`.
    var password: String?

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Parses `url`; `environment` supplies `PGPASSWORD`, `PGPASSFILE` and `HOME`.
    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
            throw Invalid(description: "the catalogue must be a postgres://user@host:port/database URL")
        }
        guard components.password == nil else {
            throw Invalid(
                description: "the catalogue URL must not carry a password: set PGPASSWORD or use a password file (PGPASSFILE, ~/.pgpass)")
        }
        guard let host = components.host, !host.isEmpty else { throw Invalid(description: "the catalogue URL names no host") }
        self.host = host
        port = components.port ?? 5432
        user = components.user ?? environment["USER"] ?? "postgres"
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? user : path
        let mode = components.queryItems?.first { $0.name == "sslmode" }?.value
        if let mode {
            guard let parsed = TLSMode(rawValue: mode) else {
                throw Invalid(description: "sslmode must be disable, prefer or require, not \(mode)")
            }
            tls = parsed
        } else {
            tls = ["127.0.0.1", "localhost", "::1"].contains(host) ? .disable : .prefer
        }
        password =
            environment["PGPASSWORD"] ?? Self.passwordFromFile(environment: environment, host: host, port: port, database: database, user: user)
    }

    /// The password found, for tests of where it comes from.
    public var passwordForTests: String? { password }

    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// The first matching line of the password file (`*` matches anything; `\:` and `\\` are escapes).
    static func passwordFromFile(environment: [String: String], host: String, port: Int, database: String, user: String) -> String? {
        let path = environment["PGPASSFILE"] ?? environment["HOME"].map { $0 + "/.pgpass" }
        guard let path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            var fields: [String] = []
            var field = ""
            var escaped = false
            for character in line {
                if escaped {
                    field.append(character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == ":" && fields.count < 4 {
                    fields.append(field)
                    field = ""
                } else {
                    field.append(character)
                }
            }
            fields.append(field)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// The client configuration for postgres-nio.
    func clientConfiguration() -> PostgresClient.Configuration {
        let tlsSetting: PostgresClient.Configuration.TLS
        switch tls {
        case .disable: tlsSetting = .disable
        case .prefer: tlsSetting = .prefer(.makeClientConfiguration())
        case .require: tlsSetting = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tlsSetting)
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }
}
