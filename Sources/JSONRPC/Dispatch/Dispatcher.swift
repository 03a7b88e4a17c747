import Foundation
import Locking
import Logging

/// Routes incoming messages to handlers and answers every request exactly once.
///
/// Rules it enforces (the base protocol of `protocol/spec.md`):
/// - Lifecycle: before `initialize` every request but `initialize` gets -32002 (notifications other than
///   `exit` are dropped); `initialize` runs to completion before the next message is read, so a client may
///   pipeline requests behind it; after `shutdown`, requests get -32600; `exit` ends the process with 0 after
///   `shutdown`, 1 otherwise.
/// - Concurrency: each request runs in its own `Task`; responses go out in completion order, each with its id.
///   Two requests in flight with the same id are refused (-32600) so a cancellation can never hit the wrong one.
/// - Cancellation: `$/cancelRequest {id}` answers the request -32800 at once and cancels its task; the
///   handler's eventual result is dropped. Shutdown cancels everything in flight with -32802.
/// - `$/`-notifications that are not known are ignored; unknown requests get -32601.
/// - Back-pressure: at most `maxRequestsInFlight` requests run at once, and the reader pauses (`waitForRoom`)
///   while the client is behind reading responses; a client that stops reading stops being read.
/// - Batches (JSON arrays) are answered with an array holding one response per request in the batch, sent
///   once all of them have finished; an empty batch is one -32600 error; a batch of notifications gets nothing.
public final class Dispatcher: Sendable {
    /// The one request a server must register (with its own `RequestType`: params and result are the server's).
    /// It runs to completion before the next message is read, and everything else is refused before it.
    public static let initializeMethod = "initialize"

    /// What the dispatcher needs from the program around it.
    public struct Hooks: Sendable {
        /// Called once, on `shutdown` or at the end of input, after in-flight requests were cancelled:
        /// stop services, cancel background work, remove temporary files.
        public var shutdown: @Sendable () async -> Void
        /// Ends the process with the given status (tests substitute a recorder).
        public var exit: @Sendable (Int32) -> Void
        /// Called when a registered request method has run (answered or failed, cancellation included), with its
        /// name, how long it ran and the error code it ended with: latency metrics.
        public var requestFinished: @Sendable (_ method: String, _ seconds: Double, _ errorCode: Int?) -> Void

        public init(
            shutdown: @escaping @Sendable () async -> Void, exit: @escaping @Sendable (Int32) -> Void,
            requestFinished: @escaping @Sendable (String, Double, Int?) -> Void = { _, _, _ in }
        ) {
            self.shutdown = shutdown
            self.exit = exit
            self.requestFinished = requestFinished
        }
    }

    /// Where the session is in its lifecycle.
    public enum Lifecycle: Sendable, Equatable {
        case uninitialized, running, shuttingDown
    }

    private struct InFlight {
        var task: Task<Void, Never>?
        let respond: @Sendable (Data) -> Void
    }

    private struct State {
        var lifecycle = Lifecycle.uninitialized
        var inFlight: [RequestID: InFlight] = [:]
        var shutdownTask: Task<Void, Never>?
    }

    private let methods: MethodTable
    private let writer: MessageWriter
    private let hooks: Hooks
    private let logger: Logger
    private let state = Mutex(State())
    /// One permit per request allowed in flight; the reader takes one before starting a request (waiting when
    /// none is left) and whoever removes the request from `inFlight` gives it back.
    private let requestPermits: DispatchSemaphore

    /// The default bound on requests in flight: far above what an editor has outstanding, low enough that a
    /// flood of slow requests cannot grow the server without bound.
    public static let defaultMaxRequestsInFlight = 4096

    public init(
        methods: MethodTable, writer: MessageWriter, hooks: Hooks, logger: Logger,
        maxRequestsInFlight: Int = Dispatcher.defaultMaxRequestsInFlight
    ) {
        self.methods = methods
        self.writer = writer
        self.hooks = hooks
        self.logger = logger
        requestPermits = DispatchSemaphore(value: maxRequestsInFlight)
    }

    /// The current lifecycle state.
    public var lifecycle: Lifecycle { state.withLock { $0.lifecycle } }

    /// The number of requests still running.
    public var inFlightCount: Int { state.withLock { $0.inFlight.count } }

    // MARK: - Input

    /// Blocks the input reader while the client is behind reading what the server wrote (see `OutputQueue`).
    /// Called by the reader before it handles each frame.
    public func waitForRoom() {
        writer.output.waitForRoom()
    }

    /// Handles one frame's body. Called by the reader, in arrival order.
    public func handle(body: Data) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(body)
        } catch {
            logger.warning("dropping a frame whose body is not JSON (\(body.count) bytes): \(error)")
            writer.sendError(id: nil, .parseError("parse error: the body is not valid JSON (\(error))"))
            return
        }
        if case .array(let elements) = value {
            handleBatch(elements)
        } else {
            handle(IncomingMessage(value), respond: { [writer] in writer.write(body: $0) })
        }
    }

    /// Answers a frame the parser refused (oversized body) so the client learns why it got no response.
    public func refuseOversizedFrame(length: Int, limit: Int) {
        logger.warning("refusing a \(length)-byte message (limit \(limit) bytes); its body is skipped")
        writer.sendError(id: nil, .invalidRequest("message of \(length) bytes exceeds the limit of \(limit) bytes"))
    }

    /// The input ended (the client closed stdin or died): shut down cleanly, then exit with 0.
    public func endOfInput() async {
        logger.info("end of input: shutting down")
        await beginShutdown().value
        hooks.exit(0)
    }

    /// The client stopped taking our output (a write failed: EPIPE), though it may never close our input: nobody
    /// will hear about the work in flight, so shut down as at the end of input (cancel it, remove partial files),
    /// then exit with 0.
    public func outputClosed(reason: String) async {
        logger.warning("the client stopped reading the protocol output (\(reason)): shutting down")
        await beginShutdown().value
        hooks.exit(0)
    }

    private func handleBatch(_ elements: [JSONValue]) {
        guard !elements.isEmpty else {
            writer.sendError(id: nil, .invalidRequest("invalid request: an empty batch"))
            return
        }
        let messages = elements.map(IncomingMessage.init)
        let expected = messages.reduce(0) { count, message in
            switch message {
            case .request, .invalid: return count + 1
            case .notification, .response: return count
            }
        }
        guard expected > 0 else {
            messages.forEach { handle($0, respond: { _ in }) }
            return
        }
        let collector = BatchCollector(expected: expected) { [writer] bodies in
            var array = Data("[".utf8)
            for (index, body) in bodies.enumerated() {
                if index > 0 { array.append(UInt8(ascii: ",")) }
                array.append(body)
            }
            array.append(UInt8(ascii: "]"))
            writer.write(body: array)
        }
        for message in messages {
            handle(message, respond: { collector.add($0) })
        }
    }

    private func handle(_ message: IncomingMessage, respond: @escaping @Sendable (Data) -> Void) {
        switch message {
        case .invalid(let id, let reason):
            respond(writer.errorResponseJSON(id: id, .invalidRequest("invalid request: \(reason)")))
        case .response(let id, _, let error):
            logger.warning(
                "ignoring a response from the client (id \(id?.description ?? "null")\(error.map { ", error \($0)" } ?? ""))): the server sends no requests"
            )
        case .notification(let method, let params):
            handleNotification(method, params: params)
        case .request(let id, let method, let params):
            handleRequest(id: id, method: method, params: params, respond: respond)
        }
    }

    // MARK: - Notifications

    private func handleNotification(_ method: String, params: JSONValue?) {
        switch method {
        case ExitNotification.method:
            let code: Int32 = state.withLock { $0.lifecycle == .shuttingDown } ? 0 : 1
            let pending = state.withLock { $0.shutdownTask }
            logger.info("exit notification: exiting with \(code)")
            if let pending {
                // Let shutdown's cleanup finish (it normally has, since clients wait for its response).
                let done = DispatchSemaphore(value: 0)
                Task {
                    await pending.value
                    done.signal()
                }
                _ = done.wait(timeout: .now() + 10)
            }
            hooks.exit(code)
        case CancelRequestNotification.method:
            guard let rawId = params?["id"], let id = RequestID(rawId) else {
                logger.warning("$/cancelRequest without a usable id: ignored")
                return
            }
            cancel(id, with: .cancelled)
        default:
            guard lifecycle == .running else {
                logger.debug("dropping notification \(method) outside the running state")
                return
            }
            if let handler = methods.notifications[method] {
                do {
                    try handler(params)
                } catch {
                    logger.warning("notification \(method) failed: \(error)")
                }
            } else if method.hasPrefix("$/") {
                logger.debug("ignoring optional notification \(method)")
            } else {
                logger.warning("ignoring unknown notification \(method)")
            }
        }
    }

    // MARK: - Requests

    private func handleRequest(
        id: RequestID, method: String, params: JSONValue?,
        respond: @escaping @Sendable (Data) -> Void
    ) {
        let lifecycle = self.lifecycle
        switch (lifecycle, method) {
        case (.shuttingDown, _):
            respond(writer.errorResponseJSON(id: id, .invalidRequest("the server is shutting down: no requests are accepted after 'shutdown'")))
            return
        case (.uninitialized, Self.initializeMethod):
            runInitialize(id: id, params: params, respond: respond)
            return
        case (.uninitialized, _):
            respond(writer.errorResponseJSON(id: id, .serverNotInitialized))
            return
        case (.running, Self.initializeMethod):
            respond(writer.errorResponseJSON(id: id, .invalidRequest("the server is already initialized")))
            return
        case (.running, ShutdownRequest.method):
            let shutdown = beginShutdown()
            Task { [writer] in
                await shutdown.value
                respond(writer.resultResponseJSON(id: id, resultJSON: Data("null".utf8)))
            }
            return
        case (.running, _):
            break
        }
        guard let handler = methods.requests[method] else {
            respond(writer.errorResponseJSON(id: id, .methodNotFound(method)))
            return
        }
        if state.withLock({ $0.inFlight[id] != nil }) {
            respond(writer.errorResponseJSON(id: id, .invalidRequest("request id \(id) is already in use by a request in flight")))
            return
        }
        // Runs on the reader: when `maxRequestsInFlight` requests are running, input waits for one to finish.
        requestPermits.wait()
        let duplicate = state.withLock { state -> Bool in
            if state.inFlight[id] != nil { return true }
            state.inFlight[id] = InFlight(task: nil, respond: respond)
            return false
        }
        if duplicate {
            requestPermits.signal()
            respond(writer.errorResponseJSON(id: id, .invalidRequest("request id \(id) is already in use by a request in flight")))
            return
        }
        let context = makeContext(id: id, method: method, params: params)
        let task = Task { [self] in
            let result = await run(handler, params: params, context: context)
            finish(id) { $0.respond(responseBody(id: id, result)) }
        }
        let alreadyCancelled = state.withLock { state -> Bool in
            guard state.inFlight[id] != nil else { return true }
            state.inFlight[id]?.task = task
            return false
        }
        if alreadyCancelled { task.cancel() }
    }

    /// `initialize` runs before the reader continues, so that requests pipelined behind it see its effects.
    private func runInitialize(id: RequestID, params: JSONValue?, respond: @escaping @Sendable (Data) -> Void) {
        guard let handler = methods.requests[Self.initializeMethod] else {
            state.withLock { $0.lifecycle = .running }
            respond(writer.resultResponseJSON(id: id, resultJSON: Data("{}".utf8)))
            return
        }
        let context = makeContext(id: id, method: Self.initializeMethod, params: params)
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Data, ResponseError>?>(nil)
        Task { [self] in
            let result = await run(handler, params: params, context: context)
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        guard let result = outcome.withLock({ $0 }) else { return }
        if case .success = result { state.withLock { $0.lifecycle = .running } }
        respond(responseBody(id: id, result))
    }

    private func run(
        _ handler: MethodTable.RequestHandler, params: JSONValue?,
        context: RequestContext
    ) async -> Result<Data, ResponseError> {
        let started = ContinuousClock.now
        let result = await execute(handler, params: params, context: context)
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        if case .failure(let error) = result {
            hooks.requestFinished(context.method, seconds, error.code)
        } else {
            hooks.requestFinished(context.method, seconds, nil)
        }
        return result
    }

    private func execute(
        _ handler: MethodTable.RequestHandler, params: JSONValue?,
        context: RequestContext
    ) async -> Result<Data, ResponseError> {
        do {
            return .success(try await handler(params, context))
        } catch let error as ResponseErrorConvertible {
            return .failure(error.responseError)
        } catch is CancellationError {
            return .failure(.cancelled)
        } catch {
            logger.error("\(context.method) failed: \(error)")
            return .failure(.internalError("internal error in \(context.method): \(error)"))
        }
    }

    private func responseBody(id: RequestID, _ result: Result<Data, ResponseError>) -> Data {
        switch result {
        case .success(let resultJSON): return writer.resultResponseJSON(id: id, resultJSON: resultJSON)
        case .failure(let error): return writer.errorResponseJSON(id: id, error)
        }
    }

    private func makeContext(id: RequestID, method: String, params: JSONValue?) -> RequestContext {
        RequestContext(
            id: id, method: method,
            workDoneToken: params?["workDoneToken"].flatMap(ProgressToken.init),
            partialResultToken: params?["partialResultToken"].flatMap(ProgressToken.init),
            client: writer)
    }

    /// Takes the request out of the in-flight table and, if this caller got it (only one may respond), runs `body`
    /// with it before the request's permit is given back: the response is queued before the reader may start the
    /// next request, so responses keep the order in which permits were freed.
    @discardableResult
    private func finish(_ id: RequestID, _ body: (InFlight) -> Void) -> Bool {
        guard let entry = state.withLock({ $0.inFlight.removeValue(forKey: id) }) else { return false }
        body(entry)
        requestPermits.signal()
        return true
    }

    private func cancel(_ id: RequestID, with error: ResponseError) {
        let cancelled = finish(id) { entry in
            entry.respond(writer.errorResponseJSON(id: id, error))
            entry.task?.cancel()
        }
        if !cancelled { logger.debug("$/cancelRequest for \(id), which is not in flight: ignored") }
    }

    /// Moves to `shuttingDown` (once), cancels everything in flight and runs the shutdown hook.
    private func beginShutdown() -> Task<Void, Never> {
        state.withLock { state -> Task<Void, Never> in
            if let existing = state.shutdownTask { return existing }
            state.lifecycle = .shuttingDown
            let inFlight = state.inFlight
            state.inFlight.removeAll()
            for _ in inFlight { requestPermits.signal() }
            let task = Task { [writer, hooks] in
                for (id, entry) in inFlight {
                    entry.respond(writer.errorResponseJSON(id: id, .serverCancelled))
                    entry.task?.cancel()
                }
                await hooks.shutdown()
            }
            state.shutdownTask = task
            return task
        }
    }
}

/// Gathers the responses of one batch and sends them together once all have arrived.
final class BatchCollector: Sendable {
    private let expected: Int
    private let bodies = Mutex<[Data]>([])
    private let send: @Sendable ([Data]) -> Void

    init(expected: Int, send: @escaping @Sendable ([Data]) -> Void) {
        self.expected = expected
        self.send = send
    }

    func add(_ body: Data) {
        let complete: [Data]? = bodies.withLock { bodies in
            bodies.append(body)
            return bodies.count == expected ? bodies : nil
        }
        if let complete { send(complete) }
    }
}
