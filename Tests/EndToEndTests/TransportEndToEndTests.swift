import Foundation
import JSONRPC
import TestSupport
import Testing

/// The base protocol, against the real binary over pipes.
@Suite(.timeLimit(.minutes(10)))
struct TransportEndToEndTests {
    @Test func handshakeReportsServerInfoAndCapabilities() async throws {
        let server = try ServerProcess()
        let early = try await server.request("ping")
        #expect(early.errorCode == -32002)
        let result = try await server.initialize()
        #expect(result["serverInfo"]?["name"] == .string("aura-media"))
        let methods = result["capabilities"]?["methods"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(methods.contains("probe") && methods.contains("ping") && methods.contains("initialize"))
        let presets = result["capabilities"]?["proxyPresets"]?.arrayValue ?? []
        #expect(presets.compactMap { $0["name"]?.stringValue } == ["Draft", "Preview", "High"])
        #expect(result["settings"]?["cacheDirectory"]?.stringValue == server.cacheDirectory)
        #expect(try await server.call("ping", ["echo": .string("hi")])["echo"] == .string("hi"))
    }

    @Test func framesSplitAtEveryByteAndPackedTogetherAreAllAnswered() async throws {
        let server = try ServerProcess()
        _ = try await server.initialize()
        let one = FrameEncoder.frame(Data(#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"echo":"split"}}"#.utf8))
        for byte in one {
            server.sendRaw(Data([byte]))
        }
        #expect(try await server.response(1)["result"]?["echo"] == .string("split"))
        var packed = Data()
        for id in 2..<202 {
            packed.append(FrameEncoder.frame(Data(#"{"jsonrpc":"2.0","id":\#(id),"method":"ping"}"#.utf8)))
        }
        server.sendRaw(packed)
        for id in 2..<202 {
            #expect(try await server.response(id)["result"] != nil)
        }
    }

    @Test func badInputIsAnsweredAndTheServerKeepsServing() async throws {
        let server = try ServerProcess()
        _ = try await server.initialize()
        server.send(json: "{this is not json")
        let parseError = try await server.waitFor { $0.errorCode == -32700 }
        #expect(parseError["id"] == .null)
        server.send(json: #"{"id":5,"method":"ping"}"#)
        #expect(try await server.response(5).errorCode == -32600)
        #expect(try await server.request("no/such/method").errorCode == -32601)
        let wrongParams = try await server.request("probe", ["path": .int(3)])
        #expect(wrongParams.errorCode == -32602)
        #expect(wrongParams.errorMessage.contains("'path'"))
        let missingParams = try await server.request("probe", [:])
        #expect(missingParams.errorMessage == "missing required parameter 'path'")
        // A header block without Content-Length is skipped; the next frame is found.
        server.sendRaw("Content-Type: application/json\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}")
        server.send(json: #"{"jsonrpc":"2.0","id":7,"method":"ping"}"#)
        #expect(try await server.response(7)["result"] != nil)
        #expect(!server.messages.contains { $0["id"] == .int(6) })
        #expect(server.stderr.contains("skipping a header block"))
        // Unknown $/ notifications are ignored silently; the old charset spelling is accepted.
        server.notify("$/setTrace", ["value": .string("verbose")])
        server.sendRaw(
            "Content-Type: application/vscode-jsonrpc; charset=utf8\r\nContent-Length: 40\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}")
        #expect(try await server.response(8)["result"] != nil)
    }

    @Test func oversizedMessagesAreRefusedWithoutStoppingTheServer() async throws {
        let server = try ServerProcess(arguments: ["--max-message-bytes", "4096"])
        _ = try await server.initialize()
        let big = String(repeating: "x", count: 10_000)
        server.send(json: #"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"echo":"\#(big)"}}"#)
        let refused = try await server.waitFor { $0.errorCode == -32600 }
        #expect(refused["id"] == .null)
        #expect(refused.errorMessage.contains("exceeds the limit of 4096 bytes"))
        #expect(try await server.call("ping", ["echo": .string("after")])["echo"] == .string("after"))
        // A length far beyond memory is refused at once, without allocating it.
        server.sendRaw("Content-Length: 999999999999\r\n\r\n")
        let huge = try await server.waitFor { $0.errorMessage.contains("999999999999") }
        #expect(huge.errorCode == -32600)
        server.closeInput()
        #expect(try await server.waitForExit() == 0)
    }

    @Test func slowRequestsDoNotDelayFastOnesAndCancellationIsPrompt() async throws {
        let server = try ServerProcess()
        _ = try await server.initialize()
        let slow = server.sendRequest("ping", ["delayMilliseconds": .int(30_000), "workDoneToken": .string("slow")])
        let fast = try await server.request("ping", ["echo": .int(1)])
        #expect(fast["result"] != nil)
        #expect(!server.messages.contains { $0["id"] == .int(slow) && $0["result"] != nil })
        _ = try await server.waitFor { $0["params"]?["token"] == .string("slow") && $0["params"]?["value"]?["kind"] == .string("begin") }
        let start = ContinuousClock.now
        server.notify("$/cancelRequest", ["id": .int(slow)])
        let cancelled = try await server.response(slow)
        #expect(cancelled.errorCode == -32800)
        let answeredAt = try #require(server.arrival { $0["id"] == .int(slow) })
        #expect(
            answeredAt - start < .seconds(2 * TestFiles.slowdown), "the cancelled request was answered \(answeredAt - start) after $/cancelRequest")
    }

    @Test func workDoneProgressRunsBeginReportEnd() async throws {
        let server = try ServerProcess()
        _ = try await server.initialize()
        let id = server.sendRequest("ping", ["delayMilliseconds": .int(200), "workDoneToken": .int(77)])
        _ = try await server.response(id)
        let values = server.notifications("$/progress").filter { $0["token"] == .int(77) }.compactMap { $0["value"] }
        #expect(values.first?["kind"] == .string("begin"))
        #expect(values.last?["kind"] == .string("end"))
        let percentages = values.compactMap { $0["percentage"]?.intValue }
        #expect(percentages == percentages.sorted())
        #expect(percentages.last == 100)
    }

    @Test func batchesGetOneArrayOfResponses() async throws {
        let server = try ServerProcess()
        _ = try await server.initialize()
        server.send(
            json:
                #"[{"jsonrpc":"2.0","id":1,"method":"ping","params":{"echo":1}},{"jsonrpc":"2.0","id":2,"method":"nope"},{"jsonrpc":"2.0","method":"$/ignored"}]"#
        )
        let batch = try await server.waitFor { $0.arrayValue != nil }
        let responses = batch.arrayValue ?? []
        #expect(responses.count == 2)
        #expect(responses.contains { $0["id"] == .int(1) && $0["result"]?["echo"] == .int(1) })
        #expect(responses.contains { $0["id"] == .int(2) && $0.errorCode == -32601 })
    }

    @Test func shutdownThenExitExitsWithZero() async throws {
        let server = try ServerProcess()
        _ = try await server.initialize()
        let result = try await server.request("shutdown")
        #expect(result["result"] == .null)
        #expect(try await server.request("ping").errorCode == -32600)
        server.notify("exit")
        #expect(try await server.waitForExit() == 0)
    }

    @Test func exitWithoutShutdownExitsWithOne() async throws {
        let server = try ServerProcess()
        _ = try await server.initialize()
        server.notify("exit")
        #expect(try await server.waitForExit() == 1)
    }

    @Test func endOfInputShutsDownCleanlyEvenWithWorkInFlight() async throws {
        let server = try ServerProcess()
        _ = try await server.initialize()
        let slow = server.sendRequest("ping", ["delayMilliseconds": .int(60_000)])
        _ = try await server.waitFor(timeout: .seconds(5)) { _ in server.messages.count >= 1 }
        server.closeInput()
        #expect(try await server.waitForExit(timeout: .seconds(10)) == 0)
        #expect(try await server.response(slow, timeout: .seconds(1)).errorCode == -32802)
    }
}
