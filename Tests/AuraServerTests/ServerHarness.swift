import AuraServer
import Foundation
import JSONRPC
import Logging
import Settings
import TestSupport

/// The real server — every handler, every service — on a connection in memory: no process, no pipe, no framing.
/// Its caches live in a scratch folder of their own; nothing is saved to a settings file.
final class ServerHarness: Sendable {
    let connection: DispatcherHarness
    let directory: URL
    private let server = Locked<AuraMediaServer?>(nil)
    private let nextId = Locked(100)

    init() {
        let directory = TestFiles.scratch("server")
        self.directory = directory
        var settings = ServerSettings()
        settings.cacheDirectory = directory.appendingPathComponent("proxies").path
        settings.waveformCacheDirectory = directory.appendingPathComponent("waveforms").path
        settings.frameCacheDirectory = directory.appendingPathComponent("frames").path
        let server = self.server
        connection = DispatcherHarness(shutdown: { await server.withLock { $0 }?.shutdown() }) { writer in
            let made = AuraMediaServer(
                settings: settings, client: writer, maxMessageBytes: 1 << 20,
                logger: Logger(label: "aura.test"))
            server.withLock { $0 = made }
            return made.makeMethodTable()
        }
    }

    /// `initialize` (with `options` as its `initializationOptions`) and `initialized`; returns the result.
    @discardableResult
    func initialize(options: String = "{}") async throws -> JSONValue {
        let result = try await call("initialize", #"{"initializationOptions":\#(options)}"#)
        connection.notify("initialized", "{}")
        return result
    }

    /// Sends a request and waits for its response (a result or an error), returned whole.
    func send(_ method: String, _ params: String? = nil) async throws -> JSONValue {
        let id = nextId.withLock { id in
            id += 1
            return id
        }
        connection.request(id, method, params)
        return try await connection.response(id)
    }

    /// Sends a request and returns its result; an error answer throws.
    func call(_ method: String, _ params: String? = nil) async throws -> JSONValue {
        let response = try await send(method, params)
        guard let result = response["result"] else { throw Failure.errorAnswer(response) }
        return result
    }

    /// The notifications of `method` received so far.
    func notifications(_ method: String) -> [JSONValue] {
        connection.messages.filter { $0["method"] == .string(method) }
    }

    /// `shutdown` then `exit`, as a client ends a session; returns the exit status the dispatcher asked for.
    func close() async throws -> Int32? {
        _ = try await send("shutdown")
        connection.notify("exit")
        return try await connection.waitForExitCodes().first
    }

    enum Failure: Error { case errorAnswer(JSONValue) }
}

/// A JSON string literal for `text`.
func json(_ text: String) -> String {
    String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
}
