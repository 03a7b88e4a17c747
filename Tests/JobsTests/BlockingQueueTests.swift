import Foundation
@testable import Jobs
import Locking
import Testing

@Suite(.timeLimit(.minutes(1)))
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
}
