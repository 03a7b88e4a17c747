import Locking

/// One job of a `JobQueue`: its identity, its work, and its mutable state behind a mutex (the job's thread
/// reports progress while the queue reads and changes priority and status).
///
/// Events reach listeners without any lock held, on the thread that caused them (progress on the job's own
/// thread, so a listener sees exactly where the work is). A listener is attached on the queue's actor and only
/// then starts getting progress, so its `began` always comes first; `ended` is sent on the actor after the work
/// returned, so nothing follows it.
final class Job<Key: Hashable & Sendable, Product: Sendable>: Sendable {
    let id: String
    let key: Key
    let label: String
    let variant: String
    /// Order of arrival, for first come, first served within a priority.
    let sequence: Int
    let work: JobWork<Product>
    let context: JobContext

    private struct Attached {
        var listener: JobListener<Key, Product>
        /// False until its `began` was sent: progress skips it until then.
        var ready: Bool
    }

    private struct State {
        var priority: Int
        var status: JobStatus = .queued
        var progress = JobProgress()
        var waitingElsewhere = false
        var wantedInBackground: Bool
        var replacedBy: String?
        var listeners: [Int: Attached] = [:]
        var nextListener = 0
        var ended = false

        func snapshot(of job: Job) -> JobSnapshot<Key> {
            JobSnapshot(
                id: job.id, key: job.key, label: job.label, variant: job.variant, priority: priority,
                status: status, progress: progress, waitingElsewhere: waitingElsewhere)
        }
    }
    private let state: Mutex<State>

    init(id: String, request: JobQueue<Key, Product>.Request, sequence: Int) {
        self.id = id
        key = request.key
        label = request.label
        variant = request.variant
        self.sequence = sequence
        work = request.work
        state = Mutex(State(priority: request.priority, wantedInBackground: request.background))
        context = JobContext(id: id)
        context.connect { [weak self] progress in self?.record(progress) }
    }

    var priority: Int { state.withLock { $0.priority } }
    var status: JobStatus { state.withLock { $0.status } }
    var wantedInBackground: Bool { state.withLock { $0.wantedInBackground } }
    var replacedBy: String? { state.withLock { $0.replacedBy } }
    var isWaitingElsewhere: Bool { state.withLock { $0.waitingElsewhere } }
    var snapshot: JobSnapshot<Key> { state.withLock { $0.snapshot(of: self) } }

    /// Raises (never lowers) the priority; returns whether it changed.
    func raisePriority(to priority: Int) -> Bool {
        state.withLock { state in
            guard priority > state.priority else { return false }
            state.priority = priority
            return true
        }
    }

    func markWantedInBackground() { state.withLock { $0.wantedInBackground = true } }

    /// Cancels the job because `newId` takes its key. Returns whether the cancellation was accepted.
    func replace(by newId: String) -> Bool {
        guard context.cancel() else { return false }
        state.withLock { $0.replacedBy = newId }
        return true
    }

    /// Attaches a listener and tells it how the job stands (`began`). Called on the queue's actor.
    func attach(_ listener: JobListener<Key, Product>) {
        let attached: (Int, JobSnapshot<Key>)? = state.withLock { state in
            guard !state.ended else { return nil }
            let handle = state.nextListener
            state.nextListener += 1
            state.listeners[handle] = Attached(listener: listener, ready: false)
            return (handle, state.snapshot(of: self))
        }
        guard let (handle, current) = attached else { return }
        listener.began(current)
        state.withLock { $0.listeners[handle]?.ready = true }
    }

    /// Records the work's progress and tells the listeners.
    func record(_ progress: JobProgress) {
        update { $0.progress = progress }
    }

    /// The job started running (its claim is taken).
    func markRunning() {
        update { state in
            state.status = .running
            state.waitingElsewhere = false
        }
    }

    /// The job gave its worker back (`JobYielded`) and is queued again, waiting for its claim.
    func markQueuedAgain() {
        update { state in
            state.status = .queued
            state.waitingElsewhere = true
        }
    }

    /// The job waits for another process; `progress`, when known, is that process's.
    func markWaitingElsewhere(progress: JobProgress?) {
        update { state in
            state.waitingElsewhere = true
            if let progress { state.progress = progress }
        }
    }

    /// Changes the state and sends `progressed` when the snapshot changed.
    private func update(_ change: (inout State) -> Void) {
        let delivery: (JobSnapshot<Key>, [JobListener<Key, Product>])? = state.withLock { state in
            guard !state.ended else { return nil }
            let before = state.snapshot(of: self)
            change(&state)
            let after = state.snapshot(of: self)
            guard before != after else { return nil }
            return (after, state.listeners.sorted { $0.key < $1.key }.filter(\.value.ready).map(\.value.listener))
        }
        if let (snapshot, listeners) = delivery {
            for listener in listeners { listener.progressed(snapshot) }
        }
    }

    /// Ends the job: sets its final status and sends `ended`, once. Called on the queue's actor.
    func end(_ outcome: JobOutcome<Product>) {
        let delivery: (JobSnapshot<Key>, [JobListener<Key, Product>])? = state.withLock { state in
            guard !state.ended else { return nil }
            state.ended = true
            state.waitingElsewhere = false
            switch outcome {
            case .completed: state.status = .completed
            case .failed: state.status = .failed
            case .cancelled, .replaced: state.status = .cancelled
            }
            let listeners = state.listeners.sorted { $0.key < $1.key }.map(\.value.listener)
            state.listeners = [:]
            return (state.snapshot(of: self), listeners)
        }
        if let (snapshot, listeners) = delivery {
            for listener in listeners { listener.ended(snapshot, outcome) }
        }
    }
}
