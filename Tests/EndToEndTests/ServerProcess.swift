import Foundation
import JSONRPC
import TestSupport

/// A real `aura-media` process spawned over pipes, as an editor would spawn it.
///
/// Everything the server writes to stdout is parsed back into JSON values with the product's own
/// `FrameParser` (whose framing is tested separately); stderr is collected for log assertions.
final class ServerProcess: @unchecked Sendable {
    // @unchecked: mutable state is guarded by `lock`; the pipes are only written from the test's task.
    let process: Process
    private let stdinPipe: Pipe
    private let stdoutPipe: Pipe
    private let stderrPipe: Pipe
    private let lock = NSLock()
    private var received: [JSONValue] = []
    /// When each message of `received` arrived, stamped on the reader thread (so a busy test runner cannot skew it).
    private var arrivals: [ContinuousClock.Instant] = []
    private var stderrText = ""
    private var nextId = 1000
    /// Set by `hangUpOutput()`: the reader closes its end of the server's stdout after its next read.
    private var hangingUp = false
    let cacheDirectory: String
    let waveformCacheDirectory: String
    let frameCacheDirectory: String
    /// Where the server keeps settings.json.
    let configDirectory: String

    /// The built executable, next to the test bundle.
    static var executable: URL {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("aura-media")
        if FileManager.default.isExecutableFile(atPath: besideTests.path) { return besideTests }
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return packageRoot.appendingPathComponent(".build/debug/aura-media")
    }

    /// Every cache defaults to a fresh private directory, so tests never share (or touch the user's) caches.
    /// - Parameter fileSizeLimit: when set, the server runs under `RLIMIT_FSIZE` of that many bytes with SIGXFSZ
    ///   ignored: a write that would grow a file past it fails with EFBIG — a disk that fills, injected by the kernel
    ///   into the real binary, where mounting a small tmpfs is not permitted.
    init(
        arguments: [String] = [], cacheDirectory: String? = nil, waveformCacheDirectory: String? = nil,
        frameCacheDirectory: String? = nil, configDirectory: String? = nil, fileSizeLimit: Int? = nil
    ) throws {
        // Writing to a server a test killed must fail the write, not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        let configDirectory = configDirectory ?? MediaFixtures.temporaryDirectory(named: "config").path
        self.configDirectory = configDirectory
        let cacheDirectory = cacheDirectory ?? MediaFixtures.temporaryDirectory(named: "cache").path
        let waveformCacheDirectory = waveformCacheDirectory ?? MediaFixtures.temporaryDirectory(named: "waveforms").path
        let frameCacheDirectory = frameCacheDirectory ?? MediaFixtures.temporaryDirectory(named: "frames").path
        self.cacheDirectory = cacheDirectory
        self.waveformCacheDirectory = waveformCacheDirectory
        self.frameCacheDirectory = frameCacheDirectory
        (process, stdinPipe, stdoutPipe, stderrPipe) = try Spawn.start { () throws -> (Process, Pipe, Pipe, Pipe) in
            let process = Process()
            let pipes = (Pipe(), Pipe(), Pipe())
            let serve =
                [
                    "serve", "--cache-dir", cacheDirectory, "--waveform-cache-dir", waveformCacheDirectory,
                    "--frame-cache-dir", frameCacheDirectory, "--config-dir", configDirectory,
                ] + arguments
            if let fileSizeLimit {
                // An ignored signal stays ignored across exec; prlimit then execs the server with the limit set.
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments =
                    [
                        "-c", #"trap '' XFSZ; exec prlimit --fsize=\#(fileSizeLimit):\#(fileSizeLimit) "$0" "$@""#,
                        Self.executable.path,
                    ] + serve
            } else {
                process.executableURL = Self.executable
                process.arguments = serve
            }
            process.standardInput = pipes.0
            process.standardOutput = pipes.1
            process.standardError = pipes.2
            try process.run()
            return (process, pipes.0, pipes.1, pipes.2)
        }
        let stdoutHandle = stdoutPipe.fileHandleForReading
        let stderrHandle = stderrPipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            var parser = FrameParser()
            while true {
                let data = stdoutHandle.availableData
                if data.isEmpty { return }
                if lock.withLock({ hangingUp }) {
                    try? stdoutHandle.close()
                    return
                }
                parser.append(data)
                while let event = parser.nextEvent() {
                    guard case .frame(let body) = event else { continue }
                    let value =
                        (try? JSONDecoder().decode(JSONValue.self, from: body)) ?? .string("UNPARSEABLE: \(String(decoding: body, as: UTF8.self))")
                    let now = ContinuousClock.now
                    lock.withLock {
                        received.append(value)
                        arrivals.append(now)
                    }
                }
            }
        }
        Thread.detachNewThread { [self] in
            while true {
                let data = stderrHandle.availableData
                if data.isEmpty { return }
                lock.withLock { stderrText += String(decoding: data, as: UTF8.self) }
            }
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    var messages: [JSONValue] { lock.withLock { received } }
    var stderr: String { lock.withLock { stderrText } }

    // MARK: Sending

    func sendRaw(_ bytes: Data) {
        try? stdinPipe.fileHandleForWriting.write(contentsOf: bytes)
    }

    func sendRaw(_ text: String) { sendRaw(Data(text.utf8)) }

    /// Writes `bytes` from a thread of its own: a write larger than the pipe blocks until the server has read it,
    /// which must not hold one of the concurrency pool's few threads (every other test would wait).
    func sendRawInBackground(_ bytes: Data) {
        Thread.detachNewThread { [self] in sendRaw(bytes) }
    }

    /// One framed request, for a batch written with `sendRawInBackground`.
    static func frame(id: Int, method: String, params: [String: JSONValue]) -> Data {
        let body = try! JSONEncoder().encode(
            JSONValue.object([
                "jsonrpc": .string("2.0"), "id": .int(id), "method": .string(method),
                "params": .object(params),
            ]))
        return Data("Content-Length: \(body.count)\r\n\r\n".utf8) + body
    }

    func send(json: String) {
        sendRaw(FrameEncoder.frame(Data(json.utf8)))
    }

    func send(_ message: [String: JSONValue]) {
        var full = message
        full["jsonrpc"] = .string("2.0")
        let body = try! JSONEncoder().encode(JSONValue.object(full))
        sendRaw(FrameEncoder.frame(body))
    }

    func makeId() -> Int {
        lock.withLock {
            nextId += 1
            return nextId
        }
    }

    /// Whether `generate` requests that do not say `force` get `force: true`. The fixtures are small (most 320x240,
    /// under every preset's box), so without it the server would answer `notNeeded` where the tests are about making
    /// proxies; the tests of `notNeeded` turn it off.
    var forcesProxies: Bool {
        get { lock.withLock { forcing } }
        set { lock.withLock { forcing = newValue } }
    }
    private var forcing = true

    /// Sends a request and returns its id without waiting.
    @discardableResult
    func sendRequest(_ method: String, _ params: [String: JSONValue]? = nil, id: Int? = nil) -> Int {
        let id = id ?? makeId()
        var message: [String: JSONValue] = ["id": .int(id), "method": .string(method)]
        var params = params
        if method == "generate", forcesProxies, params?["force"] == nil, params?["sourcePath"] != nil { params?["force"] = .bool(true) }
        if let params { message["params"] = .object(params) }
        send(message)
        return id
    }

    func notify(_ method: String, _ params: [String: JSONValue]? = nil) {
        var message: [String: JSONValue] = ["method": .string(method)]
        if let params { message["params"] = .object(params) }
        send(message)
    }

    /// Sends a request and waits for its response (the whole response message).
    func request(_ method: String, _ params: [String: JSONValue]? = nil, timeout: Duration = .seconds(30)) async throws -> JSONValue {
        let id = sendRequest(method, params)
        return try await response(id, timeout: timeout)
    }

    /// Sends a request and returns its `result`, failing on an error response.
    func call(_ method: String, _ params: [String: JSONValue]? = nil, timeout: Duration = .seconds(30)) async throws -> JSONValue {
        let message = try await request(method, params, timeout: timeout)
        guard let result = message["result"] else { throw SessionError.errorResponse(message) }
        return result
    }

    func initialize(options: [String: JSONValue]? = nil) async throws -> JSONValue {
        var params: [String: JSONValue] = ["clientInfo": .object(["name": .string("EndToEndTests")])]
        if let options { params["initializationOptions"] = .object(options) }
        let result = try await call("initialize", params)
        notify("initialized", [:])
        return result
    }

    // MARK: Receiving

    func response(_ id: Int, timeout: Duration = .seconds(30)) async throws -> JSONValue {
        try await waitFor(timeout: timeout) { $0["id"] == .int(id) && ($0["result"] != nil || $0["error"] != nil) }
    }

    /// Waits for a message matching `predicate`. The deadline only bounds the wait: a message that arrived in
    /// time is found even if this task itself was not scheduled until later (a busy test runner).
    func waitFor(timeout: Duration = .seconds(30), _ predicate: (JSONValue) -> Bool) async throws -> JSONValue {
        let deadline = TestDeadline.after(timeout)
        while ContinuousClock.now < deadline {
            if let match = messages.first(where: predicate) { return match }
            try await Task.sleep(for: .milliseconds(5))
        }
        if let match = messages.first(where: predicate) { return match }
        throw SessionError.timeout(messages: messages, stderr: stderr)
    }

    /// When the first message matching `predicate` arrived (stamped by the reader thread), if it did.
    func arrival(of predicate: (JSONValue) -> Bool) -> ContinuousClock.Instant? {
        lock.withLock { received.firstIndex(where: predicate).map { arrivals[$0] } }
    }

    func notifications(_ method: String) -> [JSONValue] {
        messages.filter { $0["method"] == .string(method) }.compactMap { $0["params"] }
    }

    // MARK: Ending

    func closeInput() {
        try? stdinPipe.fileHandleForWriting.close()
    }

    /// Behaves like a client that vanished without closing the server's input: stops reading the server's output
    /// and closes it (at the next message the server writes), so the server's next writes fail with EPIPE.
    func hangUpOutput() {
        lock.withLock { hangingUp = true }
    }

    /// Sends a signal (SIGKILL: a crash the server cannot clean up after).
    func kill(_ signal: Int32 = SIGKILL) {
        Glibc.kill(process.processIdentifier, signal)
    }

    /// Waits for the process to exit and returns its status; nil if it is still running at the deadline.
    func waitForExit(timeout: Duration = .seconds(20)) async throws -> Int32? {
        let deadline = TestDeadline.after(timeout)
        while process.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return process.isRunning ? nil : process.terminationStatus
    }

    enum SessionError: Error, CustomStringConvertible {
        case timeout(messages: [JSONValue], stderr: String)
        case errorResponse(JSONValue)

        var description: String {
            switch self {
            case .timeout(let messages, let stderr): return "timed out; received \(messages); stderr:\n\(stderr)"
            case .errorResponse(let message): return "error response: \(message)"
            }
        }
    }
}
