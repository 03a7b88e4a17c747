import Foundation
import JSONRPC
import Logging

/// A dispatcher connected in memory (`InMemoryOutput`), with everything it sends parsed back into JSON values: the
/// transport's tests drive it with method tables of their own, the server's with the real one (`AuraServerTests`).
public final class DispatcherHarness: Sendable {
    public let dispatcher: Dispatcher
    private let received = Locked<[(value: JSONValue, arrival: ContinuousClock.Instant)]>([])
    public let exitCodes = Locked<[Int32]>([])
    public let shutdownCount = Locked(0)
    /// What the `requestFinished` hook was told: method, seconds, error code.
    public let finished = Locked<[(method: String, seconds: Double, errorCode: Int?)]>([])

    /// A harness around a fixed method table.
    /// - Parameter shutdown: what the dispatcher's shutdown hook does besides being counted (a server's shutdown).
    public convenience init(
        methods: MethodTable, maxRequestsInFlight: Int = Dispatcher.defaultMaxRequestsInFlight,
        shutdown: @escaping @Sendable () async -> Void = {}
    ) {
        self.init(maxRequestsInFlight: maxRequestsInFlight, shutdown: shutdown) { _ in methods }
    }

    /// A harness around the method table `makeMethods` builds with the connection's writer (which a server sends its
    /// notifications through, as `aura-media serve` wires it).
    public init(
        maxRequestsInFlight: Int = Dispatcher.defaultMaxRequestsInFlight,
        shutdown: @escaping @Sendable () async -> Void = {},
        makeMethods: (MessageWriter) -> MethodTable
    ) {
        let received = self.received
        let writer = MessageWriter(
            output: InMemoryOutput { body in
                guard let value = try? JSONParser.parse(body) else { return }
                let now = ContinuousClock.now
                received.withLock { $0.append((value, now)) }
            })
        let exitCodes = self.exitCodes
        let shutdownCount = self.shutdownCount
        let finished = self.finished
        dispatcher = Dispatcher(
            methods: makeMethods(writer), writer: writer,
            hooks: .init(
                shutdown: {
                    shutdownCount.withLock { $0 += 1 }
                    await shutdown()
                },
                exit: { code in exitCodes.withLock { $0.append(code) } },
                requestFinished: { method, seconds, code in finished.withLock { $0.append((method, seconds, code)) } }),
            logger: Logger(label: "test"), maxRequestsInFlight: maxRequestsInFlight)
    }

    /// Delivers messages in order on a thread of its own, as the transport's reader thread does: `handle` may
    /// block (it runs `initialize` to completion), which must never happen on the concurrency pool.
    private let reader = DispatchQueue(label: "harness.reader")

    /// Runs `body` on the reader after every message sent so far was handled (or is being handled).
    public func afterQueuedMessages(_ body: @escaping @Sendable () -> Void) {
        reader.async(execute: body)
    }

    /// Returns once the reader has handled every message sent so far (and run every `afterQueuedMessages` body).
    public func readerIdle() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in reader.async { done.resume() } }
    }

    /// Sends one message (a JSON text) as the reader would.
    public func send(_ json: String) {
        let body = Data(json.utf8)
        reader.async { [dispatcher] in dispatcher.handle(body: body) }
    }

    /// Ends the input the way the transport does: after every message sent so far has been handled.
    public func endOfInput() async {
        await readerIdle()
        await dispatcher.endOfInput()
    }

    public func request(_ id: Int, _ method: String, _ params: String? = nil) {
        send(#"{"jsonrpc":"2.0","id":\#(id),"method":"\#(method)""# + (params.map { #","params":\#($0)"# } ?? "") + "}")
    }

    public func notify(_ method: String, _ params: String? = nil) {
        send(#"{"jsonrpc":"2.0","method":"\#(method)""# + (params.map { #","params":\#($0)"# } ?? "") + "}")
    }

    public func initialize() async throws {
        request(0, "initialize", "{}")
        _ = try await response(0)
    }

    public var messages: [JSONValue] { received.withLock { $0.map(\.value) } }

    /// When the first message matching `predicate` arrived, stamped on the reading thread.
    public func arrival(of predicate: (JSONValue) -> Bool) -> ContinuousClock.Instant? {
        received.withLock { $0.first { predicate($0.value) }?.arrival }
    }

    /// Waits (up to `timeout`) until a message satisfies `predicate`, and returns it.
    /// Waits for a matching message. Generous by default: handlers run on the shared concurrency pool, which
    /// other suites may keep busy; the deadline only bounds a wait for something that never comes.
    public func waitFor(timeout: Duration = .seconds(60), _ predicate: @escaping (JSONValue) -> Bool) async throws -> JSONValue {
        let deadline = TestDeadline.after(timeout)
        while ContinuousClock.now < deadline {
            if let match = messages.first(where: predicate) { return match }
            try await Task.sleep(for: .milliseconds(2))
        }
        if let match = messages.first(where: predicate) { return match }
        throw HarnessError.timeout(messages)
    }

    public func response(_ id: Int, timeout: Duration = .seconds(60)) async throws -> JSONValue {
        try await waitFor(timeout: timeout) { $0["id"] == .int(id) && ($0["result"] != nil || $0["error"] != nil) }
    }

    /// Waits until the dispatcher has asked to exit, and returns the statuses it gave.
    public func waitForExitCodes(timeout: Duration = .seconds(60)) async throws -> [Int32] {
        let deadline = TestDeadline.after(timeout)
        while ContinuousClock.now < deadline {
            let codes = exitCodes.withLock { $0 }
            if !codes.isEmpty { return codes }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw HarnessError.timeout(messages)
    }

    /// Position of the first message matching `predicate`, for ordering checks.
    public func index(of predicate: (JSONValue) -> Bool) -> Int? { messages.firstIndex(where: predicate) }

    public enum HarnessError: Error { case timeout([JSONValue]) }
}

/// What tests read of a JSON value.
extension JSONValue {
    /// The code of an error response.
    public var errorCode: Int? { if case .int(let code)? = self["error"]?["code"] { return code } else { return nil } }
    /// The message of an error response ("" for anything else).
    public var errorMessage: String { if case .string(let message)? = self["error"]?["message"] { return message } else { return "" } }
    public var stringValue: String? { if case .string(let value) = self { return value } else { return nil } }
    public var intValue: Int? { if case .int(let value) = self { return value } else { return nil } }
    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }
    public var boolValue: Bool? { if case .bool(let value) = self { return value } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let value) = self { return value } else { return nil } }
}
