import Dispatch
import Synchronization

/// Runs blocking work (libav calls, file I/O) on a Dispatch queue instead of the Swift concurrency pool.
///
/// Why: the pool has one thread per core (two here); a probe stuck on a slow disk, or a transcode, must never
/// occupy a thread that `stats` or `$/cancelRequest` handling needs. The work itself polls the cancellation
/// flag it is given, because a C call cannot be interrupted from outside.
enum BlockingWork {
    private static let queue = DispatchQueue(label: "aura.blocking-work", qos: .userInitiated, attributes: .concurrent)

    /// Runs `body` on the blocking-work queue and returns its result. If the calling task is cancelled, the
    /// flag passed to `body` turns true; the call still waits for `body` to return, so no work outlives it.
    static func run<T: Sendable>(_ body: @escaping @Sendable (_ isCancelled: @Sendable () -> Bool) throws -> T) async throws -> T {
        let flag = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                queue.async {
                    continuation.resume(with: Result { try body { flag.isSet } })
                }
            }
        } onCancel: {
            flag.set()
        }
    }
}

/// A flag set once from any thread and read from any other.
final class CancellationFlag: Sendable {
    private let storage = Atomic<Bool>(false)
    func set() { storage.store(true, ordering: .relaxed) }
    var isSet: Bool { storage.load(ordering: .relaxed) }
}
