import Foundation
import TestSupport
import Testing

@testable import JSONRPC

/// The methods the tests call, each a request type that is its params, as a server's are.
struct EchoRequest: RequestType, Codable {
    typealias Response = EchoRequest
    static let method = "echo"
    var text: String
    var count: Int?
}

struct SleepRequest: RequestType, Codable {
    typealias Response = SleepRequest
    static let method = "sleep"
    var text: String
    var count: Int?
}

struct StreamRequest: RequestType, ParamsIgnored {
    typealias Response = [Int]
    static let method = "stream"
}

struct PreEncodedRequest: RequestType, ParamsIgnored {
    typealias Response = EncodedJSON
    static let method = "preEncoded"
}

struct ShapeRequest: RequestType {
    enum Shape: String, EnumParam, Sendable { case round, square }
    typealias Response = String
    static let method = "shape"
    var shape: Shape
}

struct FailRequest: RequestType, ParamsIgnored {
    typealias Response = Int
    static let method = "fail"
}

struct CrashRequest: RequestType, ParamsIgnored {
    typealias Response = Int
    static let method = "crash"
}

/// A method table with the behaviours the tests need.
func testMethods() -> MethodTable {
    var table = MethodTable()
    table.register(EchoRequest.self) { params, _ in params }
    table.register(SleepRequest.self) { params, context in
        let progress = context.beginProgress(title: "sleeping")
        defer { progress?.end(message: "done") }
        for step in 0..<(params.count ?? 100) {
            try await Task.sleep(for: .milliseconds(20))
            progress?.report(percentage: step)
        }
        return params
    }
    table.register(StreamRequest.self) { _, context in
        for chunk in 0..<3 { context.sendPartialResult([chunk]) }
        return []
    }
    table.register(PreEncodedRequest.self) { _, context in
        context.sendPartialResult(EncodedJSON(Data(#"{"b":[1,2],"a":"x"}"#.utf8)))
        return EncodedJSON(Data(#"{"done":true,"n":[0.5,-1]}"#.utf8))
    }
    table.register(ShapeRequest.self) { params, _ in params.shape.rawValue }
    table.register(FailRequest.self) { _, _ in throw ResponseError(code: -32050, message: "custom failure") }
    table.register(CrashRequest.self) { _, _ in throw CocoaError(.fileNoSuchFile) }
    return table
}

@Suite struct DispatcherTests {
    @Test func requestsBeforeInitializeGetServerNotInitialized() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        harness.request(1, "echo", #"{"text":"x"}"#)
        #expect(try await harness.response(1).errorCode == -32002)
        try await harness.initialize()
        harness.request(2, "echo", #"{"text":"x"}"#)
        #expect(try await harness.response(2)["result"] == .object(["text": .string("x")]))
    }

    @Test func everyRequestRunReachesTheLatencyHookWithItsOutcome() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.request(1, "sleep", #"{"text":"z","count":3}"#)
        harness.request(2, "fail")
        harness.request(3, "nonexistent")
        harness.request(4, "echo", #"{"text":"x"}"#)
        for id in 1...4 { _ = try await harness.response(id) }
        let finished = harness.finished.withLock { $0 }
        #expect(finished.map(\.method).sorted() == ["echo", "fail", "sleep"], "unknown methods never ran")
        let sleep = try #require(finished.first { $0.method == "sleep" })
        #expect(sleep.seconds >= 0.06 && sleep.errorCode == nil, "three 20 ms steps: \(sleep.seconds)")
        #expect(finished.first { $0.method == "fail" }?.errorCode == -32050)
    }

    @Test func initializeTwiceIsRefused() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.request(1, "initialize", "{}")
        #expect(try await harness.response(1).errorCode == -32600)
    }

    @Test func invalidParamsNameTheField() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.request(1, "echo", "{}")
        harness.request(2, "echo", #"{"text":5}"#)
        harness.request(3, "echo", #"{"text":"a","count":"many"}"#)
        harness.request(4, "echo", #"[1,2]"#)
        harness.request(5, "echo", #"{"text":"a","count":1.5}"#)
        harness.request(6, "echo", #"{"text":null}"#)
        harness.request(7, "echo", #"{"text":"a","count":null}"#)
        let missing = try await harness.response(1)
        #expect(missing.errorCode == -32602)
        #expect(missing.errorMessage == "missing required parameter 'text'")
        let wrongType = try await harness.response(2)
        #expect(wrongType.errorCode == -32602)
        #expect(wrongType.errorMessage.contains("'text'"))
        #expect(try await harness.response(3).errorMessage.contains("'count'"))
        #expect(try await harness.response(4).errorMessage == "params must be an object, not array")
        #expect(try await harness.response(5).errorMessage == "parameter 'count' has the wrong type: expected integer")
        #expect(try await harness.response(6).errorMessage == "parameter 'text' must not be null")
        #expect(try await harness.response(7)["result"] == .object(["text": .string("a")]))
    }

    @Test func malformedMessagesGetTheRightCodes() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.send("{not json")
        let parse = try await harness.waitFor { $0.errorCode == -32700 }
        #expect(parse["id"] == .null)
        harness.send(#"{"id":7,"method":"echo"}"#)  // no "jsonrpc"
        #expect(try await harness.response(7).errorCode == -32600)
        harness.send(#"{"jsonrpc":"2.0","id":8,"method":42}"#)
        #expect(try await harness.response(8).errorCode == -32600)
        harness.send(#"{"jsonrpc":"2.0","id":9,"method":"echo","params":"text"}"#)
        #expect(try await harness.response(9).errorCode == -32600)
        harness.send(#"{"jsonrpc":"2.0","id":{"a":1},"method":"echo"}"#)
        let badId = try await harness.waitFor { $0.errorCode == -32600 && $0["id"] == .null }
        #expect(badId.errorMessage.contains("\"id\""))
        harness.request(10, "no/such/method")
        #expect(try await harness.response(10).errorCode == -32601)
        harness.request(11, "$/unknownRequest")
        #expect(try await harness.response(11).errorCode == -32601)
        harness.request(12, "fail")
        let failed = try await harness.response(12)
        #expect(failed.errorCode == -32050)
        #expect(failed.errorMessage == "custom failure")
        harness.request(13, "crash")
        #expect(try await harness.response(13).errorCode == -32603)
    }

    @Test func aSlowRequestDoesNotDelayAFastOne() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.request(1, "sleep", #"{"text":"slow","count":1000}"#)
        harness.request(2, "echo", #"{"text":"fast"}"#)
        _ = try await harness.response(2)
        #expect(harness.index { $0["id"] == .int(1) } == nil)
        harness.notify("$/cancelRequest", #"{"id":1}"#)
        #expect(try await harness.response(1).errorCode == -32800)
    }

    /// With `maxRequestsInFlight` requests running, the reader stops handing over input until one finishes.
    @Test func theReaderWaitsWhileTheMostRequestsAreInFlight() async throws {
        let harness = DispatcherHarness(methods: testMethods(), maxRequestsInFlight: 2)
        try await harness.initialize()
        harness.request(1, "sleep", #"{"text":"a","count":15}"#)
        harness.request(2, "sleep", #"{"text":"b","count":15}"#)
        harness.request(3, "echo", #"{"text":"third"}"#)
        let readerFree = Locked(false)
        harness.afterQueuedMessages { readerFree.withLock { $0 = true } }
        try await Task.sleep(for: .milliseconds(150))
        #expect(!readerFree.withLock { $0 }, "the reader should be waiting for a request slot")
        #expect(harness.index { $0["id"] == .int(3) } == nil)
        _ = try await harness.response(3)
        let third = try #require(harness.index { $0["id"] == .int(3) })
        let firstDone = try #require(harness.index { $0["id"] == .int(1) || $0["id"] == .int(2) })
        #expect(firstDone < third, "the third request ran only after one of the first two finished")
        await harness.readerIdle()  // the third's response is written on the reader, before it moves on
        #expect(readerFree.withLock { $0 })
        _ = try await harness.response(1)
        _ = try await harness.response(2)
        #expect(harness.dispatcher.inFlightCount == 0)
    }

    @Test func cancelRequestAnswersPromptlyAndOnce() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.request(1, "sleep", #"{"text":"slow","count":1000}"#)
        try await Task.sleep(for: .milliseconds(50))
        let start = ContinuousClock.now
        harness.notify("$/cancelRequest", #"{"id":1}"#)
        let response = try await harness.response(1)
        #expect(response.errorCode == -32800)
        let answeredAt = try #require(harness.arrival { $0["id"] == .int(1) })
        #expect(answeredAt - start < .seconds(2 * TestFiles.slowdown), "answered \(answeredAt - start) after $/cancelRequest")
        try await Task.sleep(for: .milliseconds(100))
        #expect(harness.messages.filter { $0["id"] == .int(1) }.count == 1)
        #expect(harness.dispatcher.inFlightCount == 0)
        // Cancelling an unknown id is ignored.
        harness.notify("$/cancelRequest", #"{"id":99}"#)
        harness.request(2, "echo", #"{"text":"still serving"}"#)
        #expect(try await harness.response(2)["result"] != nil)
    }

    @Test func workDoneProgressPrecedesTheResponse() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.request(1, "sleep", #"{"text":"p","count":3,"workDoneToken":"tok"}"#)
        _ = try await harness.response(1)
        let progress = harness.messages.filter { $0["method"] == .string("$/progress") }
        let kinds = progress.compactMap { message -> String? in
            guard message["params"]?["token"] == .string("tok"), case .string(let kind)? = message["params"]?["value"]?["kind"] else { return nil }
            return kind
        }
        #expect(kinds == ["begin", "report", "report", "report", "end"])
        #expect(progress.first?["params"]?["value"]?["title"] == .string("sleeping"))
        let endIndex = try #require(harness.index { $0["params"]?["value"]?["kind"] == .string("end") })
        let responseIndex = try #require(harness.index { $0["id"] == .int(1) })
        #expect(endIndex < responseIndex)
    }

    @Test func partialResultsStreamBeforeTheFinalResponse() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.request(1, "stream", #"{"partialResultToken":42}"#)
        let response = try await harness.response(1)
        #expect(response["result"] == .array([]))
        let partials = harness.messages.filter { $0["params"]?["token"] == .int(42) }.map { $0["params"]?["value"] }
        #expect(partials == [.array([.int(0)]), .array([.int(1)]), .array([.int(2)])])
    }

    @Test func enumParamsNameTheAcceptedValues() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.request(1, "shape", #"{"shape":"square"}"#)
        harness.request(2, "shape", #"{"shape":"oval"}"#)
        harness.request(3, "shape", #"{"shape":3}"#)
        #expect(try await harness.response(1)["result"] == .string("square"))
        let wrong = try await harness.response(2)
        #expect(wrong.errorCode == -32602)
        #expect(wrong.errorMessage == #"parameter 'shape' is invalid: expected one of "round", "square", not "oval""#)
        #expect(try await harness.response(3).errorCode == -32602)
    }

    @Test func preEncodedResultsAndPartialResultsGoOutAsWritten() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.request(1, "preEncoded", #"{"partialResultToken":"win\"dows"}"#)
        let response = try await harness.response(1)
        #expect(response["result"] == .object(["done": .bool(true), "n": .array([.double(0.5), .int(-1)])]))
        let partial = try #require(harness.messages.first { $0["method"] == .string("$/progress") })
        #expect(partial["params"]?["token"] == .string("win\"dows"))
        #expect(partial["params"]?["value"] == .object(["a": .string("x"), "b": .array([.int(1), .int(2)])]))
        // Inside another Encodable it is an ordinary value.
        let wrapped = try JSONEncoder().encode(["v": EncodedJSON(Data("[1,true]".utf8))])
        #expect(try JSONParser.parse(wrapped) == .object(["v": .array([.int(1), .bool(true)])]))
    }

    @Test func batchesAreAnsweredElementByElement() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.send(
            #"[{"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":"a"}},{"jsonrpc":"2.0","method":"$/nothing"},{"jsonrpc":"2.0","id":2,"method":"nope"},5]"#
        )
        let batch = try await harness.waitFor { if case .array = $0 { return true } else { return false } }
        guard case .array(let responses) = batch else { return }
        #expect(responses.count == 3)
        #expect(responses.contains { $0["id"] == .int(1) && $0["result"]?["text"] == .string("a") })
        #expect(responses.contains { $0["id"] == .int(2) && $0.errorCode == -32601 })
        #expect(responses.contains { $0["id"] == .null && $0.errorCode == -32600 })
        harness.send("[]")
        let empty = try await harness.waitFor { $0.errorCode == -32600 && $0.errorMessage.contains("empty batch") }
        #expect(empty["id"] == .null)
    }

    @Test func duplicateIdsInFlightAreRefused() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.request(1, "sleep", #"{"text":"a","count":20}"#)
        harness.request(1, "echo", #"{"text":"b"}"#)
        let refused = try await harness.waitFor { $0["id"] == .int(1) && $0.errorCode == -32600 }
        #expect(refused.errorMessage.contains("already in use"))
        let finished = try await harness.waitFor { $0["id"] == .int(1) && $0["result"] != nil }
        #expect(finished["result"]?["text"] == .string("a"))
    }

    @Test func shutdownCancelsWorkAndRefusesLaterRequests() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.request(1, "sleep", #"{"text":"long","count":1000}"#)
        harness.request(2, "shutdown")
        #expect(try await harness.response(2)["result"] == .null)
        #expect(try await harness.response(1).errorCode == -32802)
        #expect(harness.shutdownCount.withLock { $0 } == 1)
        harness.request(3, "echo", #"{"text":"late"}"#)
        #expect(try await harness.response(3).errorCode == -32600)
        harness.notify("exit")
        #expect(try await harness.waitForExitCodes() == [0])
    }

    @Test func exitWithoutShutdownExitsWithOne() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.notify("exit")
        #expect(try await harness.waitForExitCodes() == [1])
    }

    @Test func endOfInputShutsDownAndExitsCleanly() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        try await harness.initialize()
        harness.request(1, "sleep", #"{"text":"long","count":1000}"#)
        await harness.endOfInput()
        #expect(harness.shutdownCount.withLock { $0 } == 1)
        #expect(harness.exitCodes.withLock { $0 } == [0])
        #expect(try await harness.response(1).errorCode == -32802)
    }

    @Test func oversizedFramesAreAnsweredWithInvalidRequest() async throws {
        let harness = DispatcherHarness(methods: testMethods())
        harness.dispatcher.refuseOversizedFrame(length: 100, limit: 10)
        let refused = try await harness.waitFor { $0.errorCode == -32600 }
        #expect(refused.errorMessage.contains("100 bytes"))
    }
}
