import Foundation
import JSONRPC
import Locking
import Logging

/// Drives the whole input path of a connection — frame parser, JSON parser, message classification, dispatch,
/// params decoding, response encoding — with arbitrary bytes, and checks what comes back against the spec's
/// rules (`protocol/spec.md` §3–§4):
///
/// - every frame is answered exactly as the spec says: a body that is not JSON with one -32700 error, a request
///   or an invalid message with one response, a batch with one array, a notification or a response with nothing,
///   an oversized frame with one -32600 error;
/// - every message sent is a JSON-RPC 2.0 response: `"jsonrpc":"2.0"`, an `id` (null only for -32700 and
///   -32600), exactly one of `result` and `error`, an error with an integer code the spec lists and a message;
/// - nothing crashes, and every request finishes within seconds (no hang, nothing left in flight).
///
/// The libFuzzer target (`Sources/aura-fuzz`) and the deterministic test (`Tests/FuzzTests`) both run inputs
/// through `run(_:)`.
public final class ProtocolFuzzer: Sendable {
    /// What one input did.
    public struct Outcome: Sendable {
        /// Frames, header problems and oversized frames the parser reported.
        public var frames = 0, badHeaders = 0, oversized = 0
        /// Messages the server sent (a batch's array counts once).
        public var responses: [JSONValue] = []
        /// Broken rules, in words; empty when the input was handled as the spec says.
        public var violations: [String] = []
    }

    /// The error codes a response may carry: JSON-RPC's, LSP's, and none of the server-defined ones (the fuzz
    /// methods raise none).
    static let knownCodes: Set<Int> = [
        ResponseError.Code.parseError, ResponseError.Code.invalidRequest, ResponseError.Code.methodNotFound,
        ResponseError.Code.invalidParams, ResponseError.Code.internalError, ResponseError.Code.serverNotInitialized,
        ResponseError.Code.requestCancelled, ResponseError.Code.serverCancelled,
    ]

    /// The frame size limit the fuzzer's parser uses: small, so that inputs reach the oversized path cheaply.
    public let maxContentLength: Int
    /// How long one input may take to be answered before it counts as a hang.
    public let timeout: Duration

    public init(maxContentLength: Int = 4096, timeout: Duration = .seconds(20)) {
        self.maxContentLength = maxContentLength
        self.timeout = timeout
    }

    /// Feeds `input` to a fresh, initialized connection as the transport's reader does (in pieces of a size taken
    /// from the input, so that splits vary), then waits until everything it asked for was answered. Blocks: call
    /// it from a thread of its own, never from the concurrency pool (the reader thread blocks as the transport's
    /// does).
    public func run(_ input: [UInt8]) -> Outcome {
        let received = Mutex<[JSONValue]>([])
        let unparsable = Mutex(0)
        let output = InMemoryOutput { body in
            guard let value = try? JSONParser.parse(body) else {
                unparsable.withLock { $0 += 1 }
                return
            }
            received.withLock { $0.append(value) }
        }
        var logger = Logger(label: "aura.fuzz")
        logger.logLevel = .critical
        let dispatcher = Dispatcher(
            methods: FuzzMethods.table(), writer: MessageWriter(output: output),
            hooks: .init(shutdown: {}, exit: { _ in }), logger: logger)
        dispatcher.handle(body: Data(#"{"jsonrpc":"2.0","id":"fuzz-initialize","method":"initialize","params":{}}"#.utf8))

        var outcome = Outcome()
        var expected = 1  // the initialize response
        var parser = FrameParser(maxContentLength: maxContentLength, maxHeaderBytes: 1024)
        let pieceSize = [1, 3, 64, 4096][input.count % 4]
        var offset = 0
        while offset < input.count {
            let end = min(input.count, offset + pieceSize)
            parser.append(input[offset..<end])
            offset = end
            while let event = parser.nextEvent() {
                switch event {
                case .frame(let body):
                    outcome.frames += 1
                    expected += Self.expectedResponses(to: body)
                    dispatcher.handle(body: body)
                case .badHeader:
                    outcome.badHeaders += 1
                case .oversized(let length, let limit):
                    outcome.oversized += 1
                    if length <= limit { outcome.violations.append("oversized frame of \(length) bytes within the limit \(limit)") }
                    expected += 1
                    dispatcher.refuseOversizedFrame(length: length, limit: limit)
                }
            }
        }
        if parser.bufferedByteCount > max(maxContentLength, 1024) + 64 {
            outcome.violations.append("the parser holds \(parser.bufferedByteCount) bytes, above its limits")
        }

        let deadline = ContinuousClock.now + timeout
        while (received.withLock { $0.count } + unparsable.withLock { $0 }) < expected || dispatcher.inFlightCount > 0 {
            if ContinuousClock.now > deadline {
                outcome.violations.append(
                    "hang: \(received.withLock { $0.count }) of \(expected) responses after \(timeout), \(dispatcher.inFlightCount) requests in flight"
                )
                break
            }
            usleep(200)
        }
        outcome.responses = received.withLock { $0 }
        if unparsable.withLock({ $0 }) > 0 { outcome.violations.append("\(unparsable.withLock { $0 }) messages sent were not JSON") }
        if outcome.responses.count > expected {
            outcome.violations.append("\(outcome.responses.count) messages sent for \(expected) expected")
        }
        for response in outcome.responses {
            if case .array(let elements) = response {
                if elements.isEmpty { outcome.violations.append("an empty batch response was sent") }
                for element in elements { outcome.violations += Self.problems(with: element) }
            } else {
                outcome.violations += Self.problems(with: response)
            }
        }
        return outcome
    }

    /// How many messages the server must send for one frame's body, by the spec's rules.
    static func expectedResponses(to body: Data) -> Int {
        guard let value = try? JSONParser.parse(body) else { return 1 }  // -32700
        guard case .array(let elements) = value else { return answers(IncomingMessage(value)) ? 1 : 0 }
        if elements.isEmpty { return 1 }  // -32600
        return elements.contains { answers(IncomingMessage($0)) } ? 1 : 0
    }

    private static func answers(_ message: IncomingMessage) -> Bool {
        switch message {
        case .request, .invalid: return true
        case .notification, .response: return false
        }
    }

    /// What is wrong with one response object (nothing: empty).
    static func problems(with response: JSONValue) -> [String] {
        guard case .object(let members) = response else { return ["a response that is not an object: \(response)"] }
        var problems: [String] = []
        if members["jsonrpc"] != .string("2.0") { problems.append("a response without \"jsonrpc\":\"2.0\"") }
        guard let id = members["id"] else { return problems + ["a response without an id"] }
        switch id {
        case .string, .int, .null: break
        default: problems.append("a response whose id is \(id)")
        }
        switch (members["result"], members["error"]) {
        case (nil, nil): problems.append("a response with neither result nor error")
        case (.some, .some): problems.append("a response with both result and error")
        case (.some, nil):
            if id == .null { problems.append("a result with a null id") }
        case (nil, .some(let error)):
            guard case .object(let fields) = error, case .int(let intCode)? = fields["code"], case .string? = fields["message"] else {
                problems.append("a malformed error: \(error)")
                break
            }
            if !knownCodes.contains(intCode) { problems.append("an error code the spec does not list: \(intCode)") }
            if id == .null && intCode != ResponseError.Code.parseError && intCode != ResponseError.Code.invalidRequest {
                problems.append("error \(intCode) with a null id")
            }
        }
        if members.keys.contains(where: { !["jsonrpc", "id", "result", "error"].contains($0) }) {
            problems.append("a response with extra members: \(members.keys.sorted())")
        }
        return problems
    }
}

extension ProtocolFuzzer {
    /// A fuzzer's raw input as a byte stream: input that starts like a header is the stream itself; anything else is
    /// taken as one message body and framed, so the fuzzer explores the JSON parser and the params decoders without
    /// first having to learn the framing.
    public static func stream(fromFuzzInput input: [UInt8]) -> [UInt8] {
        let prefix = Array("content-".utf8)
        if input.count >= prefix.count && zip(input, prefix).allSatisfy({ ($0 | 0x20) == $1 }) { return input }
        return Array("Content-Length: \(input.count)\r\n\r\n".utf8) + input
    }
}
