import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import Synchronization

/// `aura-media bridge`: the protocol over WebSocket for browsers and Electron renderers.
///
/// `/rpc` upgrades to a WebSocket after the token and origin checks (401 and 403 before the upgrade); each text
/// message is one JSON-RPC message in either direction; each connection gets its own server process. Static files
/// of the web demo are served at `/`.
public enum BridgeServer {
    /// Runs until the process is stopped. `ready` gets the bound URL of the WebSocket endpoint (with the token).
    public static func run(_ configuration: BridgeConfiguration, logger: Logger,
                           ready: @escaping @Sendable (String) -> Void) async throws {
        let router = Router(context: BasicWebSocketRequestContext.self)
        if let web = configuration.webDirectory {
            router.middlewares.add(FileMiddleware(web, searchForIndexHtml: true))
        }
        let connections = Mutex(0)
        let boundOrigin = Mutex("http://\(configuration.host):\(configuration.port)")
        router.ws("/rpc") { request, _ in
            try check(request, configuration: configuration, ownOrigin: boundOrigin.withLock { $0 })
            guard connections.withLock({ $0 }) < configuration.maxConnections else {
                throw HTTPError(.serviceUnavailable, message: "the bridge serves at most \(configuration.maxConnections) connections")
            }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, _ in
            // Counted once really connected (a plain GET also passes the check above); two upgrades racing past
            // the check are caught here.
            let admitted = connections.withLock { count -> Bool in
                guard count < configuration.maxConnections else { return false }
                count += 1
                return true
            }
            guard admitted else {
                try await outbound.close(.policyViolation, reason: "the bridge serves at most \(configuration.maxConnections) connections")
                return
            }
            defer { connections.withLock { $0 -= 1 } }
            try await serve(inbound: inbound, outbound: outbound, configuration: configuration, logger: logger)
        }
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router,
                                           configuration: .init(ws: .init(maxFrameSize: configuration.maxMessageBytes))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "aura-media-bridge"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                boundOrigin.withLock { $0 = "http://\(configuration.host):\(port)" }
                ready("ws://\(configuration.host):\(port)/rpc?token=\(configuration.token)")
            },
            logger: logger)
        try await app.runService()
    }

    /// The token (query or bearer header) and the origin, before any upgrade.
    static func check(_ request: Request, configuration: BridgeConfiguration, ownOrigin: String) throws {
        let query = request.uri.queryParameters.get("token")
        let header = request.headers[.authorization].flatMap { value -> String? in
            value.hasPrefix("Bearer ") ? String(value.dropFirst("Bearer ".count)) : nil
        }
        guard let given = query ?? header, constantTimeEqual(given, configuration.token) else {
            throw HTTPError(.unauthorized, message: "a token is required: ?token= or Authorization: Bearer")
        }
        if let origin = request.headers[.origin] {
            let allowed = configuration.allowedOrigins.isEmpty ? [ownOrigin] : configuration.allowedOrigins
            guard allowed.contains(origin) || allowed.contains("*") else {
                throw HTTPError(.forbidden, message: "origin \(origin) is not allowed")
            }
        }
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// One connection: a child server, messages both ways, the child ended when the socket closes and the socket
    /// closed (with the reason) when the child ends.
    static func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
                      configuration: BridgeConfiguration, logger: Logger) async throws {
        let child: BridgeChild
        do {
            child = try BridgeChild(executable: configuration.serverExecutable, arguments: configuration.serverArguments,
                                    logger: logger)
        } catch {
            try await outbound.close(.unexpectedServerError, reason: "cannot start aura-media: \(error)")
            return
        }
        logger.info("connection: started aura-media \(child.id)")
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Child → socket; when the child's output ends, the socket is closed with the reason.
            group.addTask {
                for await body in child.messages() {
                    try await outbound.write(.text(String(decoding: body, as: UTF8.self)))
                }
                let how = await child.waitForExit()
                logger.info("connection: \(how)")
                try? await outbound.close(.normalClosure, reason: String(how.prefix(120)))
            }
            // Socket → child, until the client closes or vanishes.
            do {
                for try await message in inbound.messages(maxSize: configuration.maxMessageBytes) {
                    switch message {
                    case .text(let text):
                        if !child.send(Data(text.utf8)) { break }
                    case .binary:
                        try await outbound.close(.dataInconsistentWithMessage, reason: "one JSON-RPC message per text frame")
                    }
                }
            } catch {
                logger.info("connection: \(error)")
            }
            await child.end(grace: configuration.shutdownGraceSeconds)
            logger.info("connection closed: aura-media \(child.id) ended")
            try await group.waitForAll()
        }
    }
}
