import Locking

/// A running job's side of the queue: whether it was cancelled, where it reports progress, and its point of no
/// return. Handed to `JobWork.run`; safe to use from the job's thread (and from any other).
public final class JobContext: Sendable {
    /// The job's id.
    public let id: String
    private let state = Mutex(State())

    private struct State {
        var cancelled = false
        var committed = false
        var reporter: (@Sendable (JobProgress) -> Void)?
    }

    init(id: String) {
        self.id = id
    }

    /// Where `report` goes (the job, held weakly by the caller's closure).
    func connect(_ reporter: @escaping @Sendable (JobProgress) -> Void) {
        state.withLock { $0.reporter = reporter }
    }

    /// Whether the job was cancelled: the work checks it between units and throws `JobCancelled`.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Reports progress to the job's listeners (percentages are the work's to keep monotonic).
    public func report(_ progress: JobProgress) {
        state.withLock { $0.reporter }?(progress)
    }

    /// Runs `body` as the job's point of no return (installing its result): throws `JobCancelled` instead when the
    /// job was cancelled, and refuses any cancellation from then on. So a job whose cancellation was accepted
    /// never ends completed, and one that committed never ends cancelled.
    public func commit<T>(_ body: () throws -> T) throws -> T {
        let proceed = state.withLock { state -> Bool in
            guard !state.cancelled else { return false }
            state.committed = true
            return true
        }
        guard proceed else { throw JobCancelled() }
        return try body()
    }

    /// Cancels the job unless it has committed; returns whether the cancellation was accepted.
    func cancel() -> Bool {
        state.withLock { state in
            guard !state.committed else { return false }
            state.cancelled = true
            return true
        }
    }
}
