import Foundation
import Locking
import Testing

@testable import Jobs

@Suite(.timeLimit(.minutes(10)))
struct BlockingQueueTests {
    /// Four items that keep a core busy until told to stop, then a quick one: the quick one runs at once, on a
    /// thread of its own, instead of waiting for a busy one to end (which it never would here).
    @Test func aQuickItemDoesNotWaitBehindBusyOnes() async throws {
        final class Flag: Sendable { let value = Mutex(false) }
        let stop = Flag()
        let busy = (0..<4).map { _ in
            Task {
                try await BlockingQueue.run {
                    var spins = 0
                    while !stop.value.withLock({ $0 }) { spins &+= 1 }
                    return spins
                }
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        let quick = try await BlockingQueue.run { "done" }
        #expect(quick == "done")
        stop.value.withLock { $0 = true }
        for item in busy { _ = try await item.value }
    }

    @Test func resultsAndErrorsComeBackToTheCaller() async throws {
        struct Failure: Error {}
        #expect(try await BlockingQueue.run { 6 * 7 } == 42)
        await #expect(throws: Failure.self) { try await BlockingQueue.run { throw Failure() } }
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<200 { group.addTask { try await BlockingQueue.run { index } } }
            return try await group.reduce(0, +)
        }
        #expect(values == (0..<200).reduce(0, +))
    }

    /// Objects built on the blocking thread and read by an actor that is busy with other callers: every field read
    /// is the one written. Under ThreadSanitizer (`scripts/sanitize.sh thread JobsTests`) this is also the check
    /// that the hand-over is visible to it: when an item ends before its caller has suspended, the runtime's own
    /// hand-over is not, and each field read was reported as a race until `run` passed results through a lock.
    @Test func objectsBuiltOnTheBlockingThreadReachABusyActorWhole() async throws {
        final class Built: Sendable {
            let number: Int
            let digits: [Int]
            let name: String
            init(_ number: Int) {
                self.number = number
                digits = String(number).compactMap(\.wholeNumberValue)
                name = "built-\(number)"
            }
        }
        actor Reader {
            var checked = 0
            var other = 0
            func make(_ number: Int) async throws -> Bool {
                let built = try await BlockingQueue.run { Built(number) }
                checked += 1
                return built.number == number && built.digits == String(number).compactMap(\.wholeNumberValue)
                    && built.name == "built-\(number)"
            }
            func poke() { other += 1 }
        }
        let reader = Reader()
        let whole = try await withThrowingTaskGroup(of: Bool.self) { group in
            for number in 0..<100 {
                group.addTask { try await reader.make(number) }
                group.addTask {
                    await reader.poke()
                    return true
                }
            }
            return try await group.allSatisfy { $0 }
        }
        #expect(whole)
        #expect(await reader.checked == 100)
    }
}
