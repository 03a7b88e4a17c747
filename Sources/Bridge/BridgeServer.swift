import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Locking
import Logging
import NIOCore
import NIOHTTP1

/// `aura-media bridge`: the protocol over WebSocket for browsers and Electron renderers.
///
/// `/rpc` upgrades to a WebSocket after the token, origin and connection checks (401, 403, 503 before the
/// upgrade); each text message is one JSON-RPC message in either direction; each connection gets its own server
/// process. Static files of the web demo are served at `/`.
public enum BridgeServer {
    /// Runs until the process is stopped. `ready` gets the bound URL of the WebSocket endpoint (with the token).
    public static func run(
        _ configuration: BridgeConfiguration, logger: Logger,
        ready: @escaping @Sendable (String) -> Void
    ) async throws {
        // Plain HTTP: the web demo's files, and 401/403/404 answers for what is not them.
        let router = Router()
        if let web = configuration.webDirectory {
            router.middlewares.add(FileMiddleware(web, searchForIndexHtml: true))
        }
        let connections = Mutex(0)
        let boundOrigin = Mutex("http://\(configuration.host):\(configuration.port)")
        router.get("/rpc") { request, _ -> Response in
            // Without upgrade headers: the same checks, answered as plain HTTP.
            switch admission(
                path: request.uri.description, authorization: request.headers[.authorization],
                origin: request.headers[.origin], configuration: configuration,
                ownOrigin: boundOrigin.withLock { $0 }, connections: connections.withLock { $0 })
            {
            case .admit:
                return Response(
                    status: .badRequest, headers: [.contentType: "text/plain"],
                    body: .init(byteBuffer: ByteBuffer(string: "a WebSocket upgrade is expected here\n")))
            case .refuse(let status, let message):
                return Response(
                    status: HTTPResponse.Status(code: status), headers: [.contentType: "text/plain"],
                    body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
            }
        }
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(configuration: .init(ws: .init(maxFrameSize: configuration.maxMessageBytes))) {
                request, channel, _ in
                let verdict = admission(
                    path: request.path ?? "", authorization: request.headerFields[.authorization],
                    origin: request.headerFields[.origin], configuration: configuration,
                    ownOrigin: boundOrigin.withLock { $0 }, connections: connections.withLock { $0 })
                switch verdict {
                case .refuse(let status, let message):
                    // Answered before any upgrade, with the status the client needs (the WebSocket library would
                    // answer every refused upgrade 400): written here, then the connection is closed.
                    try await refuse(channel, status: status, message: message)
                    return .dontUpgrade
                case .admit:
                    return .upgrade([:]) { inbound, outbound, _ in
                        let admitted = connections.withLock { count -> Bool in
                            guard count < configuration.maxConnections else { return false }
                            count += 1
                            return true
                        }
                        guard admitted else {
                            try await outbound.close(
                                .policyViolation,
                                reason: "the bridge serves at most \(configuration.maxConnections) connections")
                            return
                        }
                        defer { connections.withLock { $0 -= 1 } }
                        try await serve(inbound: inbound, outbound: outbound, configuration: configuration, logger: logger)
                    }
                }
            },
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "aura-media-bridge"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                boundOrigin.withLock { $0 = "http://\(configuration.host):\(port)" }
                ready("ws://\(configuration.host):\(port)/rpc?token=\(configuration.token)")
            },
            logger: logger)
        try await app.runService()
    }

    enum Admission: Equatable {
        case admit
        case refuse(status: Int, message: String)
    }

    /// The path, the token (query or bearer header), the origin and the connection cap, before any upgrade.
    static func admission(
        path: String, authorization: String?, origin: String?, configuration: BridgeConfiguration,
        ownOrigin: String, connections: Int
    ) -> Admission {
        let components = URLComponents(string: path)
        guard components?.path == "/rpc" else { return .refuse(status: 404, message: "the endpoint is /rpc") }
        let query = components?.queryItems?.first { $0.name == "token" }?.value
        let bearer = authorization.flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst("Bearer ".count)) : nil }
        guard let given = query ?? bearer, constantTimeEqual(given, configuration.token) else {
            return .refuse(status: 401, message: "a token is required: ?token= or Authorization: Bearer")
        }
        if let origin {
            let allowed = configuration.allowedOrigins.isEmpty ? [ownOrigin] : configuration.allowedOrigins
            guard allowed.contains(origin) || allowed.contains("*") else {
                return .refuse(status: 403, message: "origin \(origin) is not allowed")
            }
        }
        guard connections < configuration.maxConnections else {
            return .refuse(status: 503, message: "the bridge serves at most \(configuration.maxConnections) connections")
        }
        return .admit
    }

    /// Writes a plain HTTP answer on a connection that asked for an upgrade, and closes it.
    private static func refuse(_ channel: any Channel, status: Int, message: String) async throws {
        let body = ByteBuffer(string: message + "\n")
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers)
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(body)), promise: nil)
        try await channel.writeAndFlush(HTTPServerResponsePart.end(nil)).get()
        try? await channel.close()
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// One connection: a child server, messages both ways, the child ended when the socket closes and the socket
    /// closed (with the reason) when the child ends.
    static func serve(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
        configuration: BridgeConfiguration, logger: Logger
    ) async throws {
        let child: BridgeChild
        do {
            child = try BridgeChild(
                executable: configuration.serverExecutable, arguments: configuration.serverArguments,
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
