import Foundation

/// How `aura-media bridge` listens and whom it lets in.
public struct BridgeConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (printed at start).
    public var port: Int
    /// Required as `?token=` or `Authorization: Bearer`; generated when not given.
    public var token: String
    /// Origins allowed to connect (a request without `Origin`, from a program rather than a page, is let through
    /// on its token). Empty: only the bridge's own origin.
    public var allowedOrigins: [String]
    /// Static files served at `/` (the web demo).
    public var webDirectory: String?
    /// The largest message accepted from a client, in bytes.
    public var maxMessageBytes: Int
    public var maxConnections: Int
    /// How each connection's server is started: the same binary, `serve` with the bridge's settings flags.
    public var serverExecutable: String
    public var serverArguments: [String]
    /// How long a server gets to exit after `shutdown`/`exit` before it is killed.
    public var shutdownGraceSeconds: Double

    public init(
        host: String = "127.0.0.1", port: Int = 8765, token: String? = nil, allowedOrigins: [String] = [],
        webDirectory: String? = nil, maxMessageBytes: Int = 16 << 20, maxConnections: Int = 8,
        serverExecutable: String, serverArguments: [String], shutdownGraceSeconds: Double = 5
    ) {
        self.host = host
        self.port = port
        self.token = token ?? Self.generateToken()
        self.allowedOrigins = allowedOrigins
        self.webDirectory = webDirectory
        self.maxMessageBytes = maxMessageBytes
        self.maxConnections = maxConnections
        self.serverExecutable = serverExecutable
        self.serverArguments = serverArguments
        self.shutdownGraceSeconds = shutdownGraceSeconds
    }

    /// 32 random hex digits from the system's generator.
    public static func generateToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}
