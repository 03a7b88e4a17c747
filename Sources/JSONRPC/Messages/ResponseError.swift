/// The `error` member of a JSON-RPC response; also thrown by handlers to answer with a specific error.
///
/// `code` follows JSON-RPC 2.0 and LSP 3.17; servers define their own codes in -32000…-32099.
public struct ResponseError: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    /// The numeric error code.
    public var code: Int
    /// A human-readable sentence; for -32602 it names the offending parameter.
    public var message: String
    /// Structured details (for example `{"path": ..., "cause": ...}`).
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public var description: String { "\(code): \(message)" }
}

extension ResponseError {
    /// The error codes of JSON-RPC 2.0 and the LSP base protocol.
    public enum Code {
        /// The body is not JSON.
        public static let parseError = -32700
        /// The JSON is not a valid request object (or arrives after `shutdown`).
        public static let invalidRequest = -32600
        /// No such method.
        public static let methodNotFound = -32601
        /// The params do not fit the method.
        public static let invalidParams = -32602
        /// The server failed while handling a valid request.
        public static let internalError = -32603
        /// A request other than `initialize` arrived before `initialize`.
        public static let serverNotInitialized = -32002
        /// The request was cancelled by the client (`$/cancelRequest`).
        public static let requestCancelled = -32800
        /// The document or resource changed while the request ran.
        public static let contentModified = -32801
        /// The server cancelled the request (for example during shutdown).
        public static let serverCancelled = -32802
        /// The request was valid but failed (LSP's RequestFailed).
        public static let requestFailed = -32803
    }

    public static func parseError(_ message: String) -> ResponseError {
        ResponseError(code: Code.parseError, message: message)
    }
    public static func invalidRequest(_ message: String) -> ResponseError {
        ResponseError(code: Code.invalidRequest, message: message)
    }
    public static func methodNotFound(_ method: String) -> ResponseError {
        ResponseError(code: Code.methodNotFound, message: "method not found: \(method)")
    }
    public static func invalidParams(_ message: String) -> ResponseError {
        ResponseError(code: Code.invalidParams, message: message)
    }
    public static func internalError(_ message: String) -> ResponseError {
        ResponseError(code: Code.internalError, message: message)
    }
    public static let serverNotInitialized = ResponseError(
        code: Code.serverNotInitialized, message: "server not initialized: send 'initialize' first")
    public static let cancelled = ResponseError(code: Code.requestCancelled, message: "request cancelled")
    public static let serverCancelled = ResponseError(
        code: Code.serverCancelled, message: "request cancelled: the server is shutting down")
}
