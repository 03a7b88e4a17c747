import Foundation
import Fuzzing
import JSONRPC
import Testing

/// The deterministic half of the fuzzing (the other is the libFuzzer target, README "Fuzzing"): a fixed seed,
/// 100,000 hostile inputs through the whole input path of a connection. Each must be answered as the spec says
/// (`ProtocolFuzzer` checks every rule), and when an input ended on a frame boundary, a request sent after it must
/// still be read and answered (with its result, or -32600 after a `shutdown` in the input): the stream recovers
/// from whatever came before.
@Suite struct ProtocolFuzzTests {
    static let seed: UInt64 = 0xA0A_2026_1126
    static let inputCount = Int(ProcessInfo.processInfo.environment["AURA_FUZZ_INPUTS"] ?? "") ?? 100_000

    @Test func hundredThousandHostileInputsAreAnsweredAsTheSpecSays() async throws {
        let workers = 2
        let results = try await withThrowingTaskGroup(of: Summary.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    try await Self.onThread { Self.runShare(worker: worker, of: workers) }
                }
            }
            return try await group.reduce(into: Summary()) { $0.merge($1) }
        }
        for failure in results.failures.prefix(5) {
            Issue.record("input \(failure.index) (seed \(Self.seed)): \(failure.problem)\n\(failure.preview)")
        }
        #expect(results.failures.isEmpty, "\(results.failures.count) inputs broke a rule")
        #expect(results.inputs == Self.inputCount)
        // The generator reached every path it was written for.
        let onePercent = Self.inputCount / 100
        #expect(results.frames > Self.inputCount / 2)
        #expect(results.badHeaders > onePercent)
        #expect(results.oversized > onePercent)
        for code in [
            ResponseError.Code.parseError, ResponseError.Code.invalidRequest, ResponseError.Code.invalidParams,
            ResponseError.Code.methodNotFound,
        ] {
            #expect(results.codes[code, default: 0] > onePercent / 10, "error \(code) was answered \(results.codes[code, default: 0]) times")
        }
        #expect(results.sentinels > Self.inputCount / 4)
    }

    struct Failure: Sendable { let index: Int, problem: String, preview: String }

    struct Summary: Sendable {
        var inputs = 0, frames = 0, badHeaders = 0, oversized = 0, sentinels = 0
        var codes: [Int: Int] = [:]
        var failures: [Failure] = []

        mutating func merge(_ other: Summary) {
            inputs += other.inputs
            frames += other.frames
            badHeaders += other.badHeaders
            oversized += other.oversized
            sentinels += other.sentinels
            codes.merge(other.codes, uniquingKeysWith: +)
            failures += other.failures
        }
    }

    /// Input `index`: drawn from a generator seeded with the suite's seed and the index, so that any one input can be
    /// replayed alone (`AURA_FUZZ_REPLAY=index`).
    static func input(_ index: Int) -> ProtocolInputGenerator.Input {
        var generator = ProtocolInputGenerator(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        return generator.next()
    }

    /// Inputs `worker`, `worker + workers`, ...
    static func runShare(worker: Int, of workers: Int) -> Summary {
        let fuzzer = ProtocolFuzzer()
        var summary = Summary()
        for index in stride(from: worker, to: inputCount, by: workers) {
            var input = Self.input(index)
            let sentinelId = "sentinel-\(index)"
            if input.aligned {
                let body = Array(#"{"jsonrpc":"2.0","id":"\#(sentinelId)","method":"fuzz/echo","params":{"path":"ok"}}"#.utf8)
                input.bytes += Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
            }
            let outcome = fuzzer.run(input.bytes)
            summary.inputs += 1
            summary.frames += outcome.frames
            summary.badHeaders += outcome.badHeaders
            summary.oversized += outcome.oversized
            for response in outcome.responses {
                for element in Self.elements(of: response) {
                    if case .int(let code)? = element["error"]?["code"] { summary.codes[code, default: 0] += 1 }
                }
            }
            var problems = outcome.violations
            if input.aligned {
                let answered = outcome.responses.contains { $0["id"] == .string(sentinelId) }
                if answered { summary.sentinels += 1 } else { problems.append("the request after the input was not answered") }
            }
            if let problem = problems.first {
                let preview = String(decoding: input.bytes.prefix(400), as: UTF8.self).debugDescription
                summary.failures.append(Failure(index: index, problem: problem, preview: preview))
            }
        }
        return summary
    }

    static func elements(of response: JSONValue) -> [JSONValue] {
        if case .array(let elements) = response { return elements }
        return [response]
    }

    /// Runs blocking work on a thread of its own (the fuzzer blocks as the transport's reader does).
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}

@Suite struct ProtocolFuzzReplay {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["AURA_FUZZ_REPLAY"] != nil))
    func replay() async throws {
        let index = Int(ProcessInfo.processInfo.environment["AURA_FUZZ_REPLAY"]!)!
        var input = ProtocolFuzzTests.input(index)
        let body = Array(#"{"jsonrpc":"2.0","id":"sentinel","method":"fuzz/echo","params":{"path":"ok"}}"#.utf8)
        if input.aligned { input.bytes += Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body }
        let bytes = input.bytes
        let outcome = try await ProtocolFuzzTests.onThread { ProtocolFuzzer().run(bytes) }
        print("INPUT", String(decoding: bytes, as: UTF8.self).debugDescription)
        print("FRAMES", outcome.frames, outcome.badHeaders, outcome.oversized, outcome.violations)
        for response in outcome.responses { print("RESPONSE", response) }
    }
}
