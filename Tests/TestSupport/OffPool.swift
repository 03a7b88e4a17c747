import Foundation

/// Blocking work in tests — SQLite writes, `flock` waits, reading a pipe — runs here, on a thread of its own,
/// as the product runs it on `BlockingQueue`: never on the Swift concurrency pool, which has one thread per core
/// (two on CI) and is shared with every suite running beside it. Blocking a pool thread there stalls the suites
/// that transcode, and theirs stall this one (issue 17: a catalogue test waited past its time limit that way).
public enum OffPool {
    /// Runs `body` on a new thread and returns (or throws) its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let result = Locked<Result<T, any Error>?>(nil)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                let outcome = Result { try body() }
                result.withLock { $0 = outcome }
                done.resume()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        return try result.withLock { $0! }.get()
    }

    /// `run` for work that cannot throw.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        try! await run { () throws -> T in body() }
    }
}
