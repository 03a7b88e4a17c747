import Dispatch

/// Runs blocking work — libav calls, file reads — on a Dispatch queue instead of the Swift concurrency pool.
///
/// Why: the pool has one thread per core (two on this project's machines); a probe stuck on a slow disk must
/// never occupy a thread that answering `stats` or `$/cancelRequest` needs. A C call cannot be interrupted,
/// so a cancelled caller still waits for `body` to return: no work outlives its request.
public enum BlockingQueue {
    private static let queue = DispatchQueue(label: "aura.blocking-work", qos: .userInitiated, attributes: .concurrent)

    /// Runs `body` on the blocking-work queue and returns (or throws) its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
