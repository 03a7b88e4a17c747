import Foundation

/// A queue of background jobs, generic over what a job makes: proxies, waveform analyses, preloaded frames.
///
/// - Priorities: higher first; equal priorities first come, first served. At most `maxConcurrent` jobs run at
///   once, each on a thread of its own (never on the Swift concurrency pool).
/// - One job per key: a request for a key that has a queued or running job **joins** it (raising its priority,
///   never lowering it); one with another `variant` **replaces** it (the old job ends `.replaced(by:)`).
/// - Cancellation: `cancel` ends a queued job at once and asks a running one to stop; a job nobody wants any
///   more (its last waiter gave up and no request wanted it in the background) is cancelled too.
/// - Cross-process work: a job starts only once `JobWork.claim` grants it; until then it stays queued without a
///   worker, shows the progress of whoever holds the work, and is asked again every `waitPoll`. A running job
///   that throws `JobYielded` (it helped another process and found nothing more to take) gives its worker back
///   and waits the same way.
/// - Listeners are handed in with the request (`Request.listener`): they get `began` before `submit` returns, so
///   no event of the job is ever missed.
///
/// An actor: the queue, the running set and the waiters are its state. Everything that may block (a job's
/// `prepare`, its work, `progressElsewhere`, `endedWithoutRunning`) runs off it.
public actor JobQueue<Key: Hashable & Sendable, Product: Sendable> {
    /// A request for work.
    public struct Request: Sendable {
        public var key: Key
        /// What the job works on, for people (a source path).
        public var label: String
        public var variant: String
        public var priority: Int
        /// Whether the job should run even when nobody waits for its result.
        public var background: Bool
        /// Gets this job's events from now on (a progress token's reporter).
        public var listener: JobListener<Key, Product>?
        public var work: JobWork<Product>

        public init(
            key: Key, label: String, variant: String = "", priority: Int = 0, background: Bool = true,
            listener: JobListener<Key, Product>? = nil, work: JobWork<Product>
        ) {
            self.key = key
            self.label = label
            self.variant = variant
            self.priority = priority
            self.background = background
            self.listener = listener
            self.work = work
        }
    }

    /// The answer to `submit`.
    public struct Ticket: Sendable {
        public var snapshot: JobSnapshot<Key>
        /// True when the request joined a job that was already queued or running.
        public var joined: Bool
    }

    /// Errors of the queue itself.
    public enum QueueError: Error, Sendable, Equatable {
        case jobNotFound(String)
        /// The job was cancelled because a request with another variant took its key.
        case replaced(jobId: String, by: String)
        case shutDown
    }

    private let idPrefix: String
    private let observer: JobListener<Key, Product>?
    private let waitPoll: Duration
    private var maxConcurrent: Int

    /// Queued (preparing included) and running jobs, by id and by key.
    private var jobs: [String: Job<Key, Product>] = [:]
    private var byKey: [Key: String] = [:]
    /// Runnable jobs, in start order.
    private var queue: [Job<Key, Product>] = []
    private var running: [String: any JobClaim] = [:]
    private var waiters: [String: [UUID: CheckedContinuation<Product, Error>]] = [:]
    private var endWaiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    /// How the most recent `keptOutcomes` jobs ended (older ones are forgotten: products can be large).
    private var outcomes: [String: JobOutcome<Product>] = [:]
    private var outcomeOrder: [String] = []
    private let keptOutcomes: Int
    private var sequence = 0
    private var isShutDown = false
    private var pollTask: Task<Void, Never>?

    /// - Parameters:
    ///   - idPrefix: job ids are `<prefix>-` and 12 hex digits ("job-3f9a1c…").
    ///   - observer: gets every job's events (a CLI progress display, telemetry).
    ///   - keptOutcomes: how many ended jobs' outcomes (products included) stay known to `result` and `outcome`.
    public init(
        idPrefix: String = "job", maxConcurrent: Int, observer: JobListener<Key, Product>? = nil,
        waitPoll: Duration = .milliseconds(250), keptOutcomes: Int = 256
    ) {
        self.idPrefix = idPrefix
        self.keptOutcomes = max(1, keptOutcomes)
        self.maxConcurrent = max(1, maxConcurrent)
        self.observer = observer
        self.waitPoll = waitPoll
    }

    // MARK: - Submitting

    /// Queues a job for `request.key`, joins the one already there, or replaces it when the variant differs.
    /// Returns once the job is queued (its `prepare` done). Throws `prepare`'s error, or `.shutDown`.
    public func submit(_ request: Request) async throws -> Ticket {
        guard !isShutDown else { throw QueueError.shutDown }
        var replacing: Job<Key, Product>?
        if let id = byKey[request.key], let existing = jobs[id], !existing.context.isCancelled {
            if existing.variant == request.variant {
                if existing.raisePriority(to: request.priority), existing.status == .queued { sortQueue() }
                if request.background { existing.markWantedInBackground() }
                if let listener = request.listener { existing.attach(listener) }
                return Ticket(snapshot: existing.snapshot, joined: true)
            }
            replacing = existing
        }
        sequence += 1
        let job = Job(
            id: "\(idPrefix)-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12),
            request: request, sequence: sequence)
        jobs[job.id] = job
        byKey[request.key] = job.id
        if let observer { job.attach(observer) }
        if let listener = request.listener { job.attach(listener) }
        if let replacing, replacing.replace(by: job.id) {
            await stop(replacing)
        }
        do {
            try await BlockingQueue.run { [id = job.id] in try job.work.prepare(id) }
        } catch {
            detach(job)
            announce(job, .failed(error))
            throw error
        }
        if job.context.isCancelled || isShutDown {
            _ = job.context.cancel()
            detach(job)
            await endWithoutRunning(job, .cancelled)
        } else {
            queue.append(job)
            sortQueue()
            startJobsIfPossible()
        }
        return Ticket(snapshot: job.snapshot, joined: false)
    }

    /// Waits for a job's product. Throws the job's error when it failed, `JobCancelled` when it was cancelled,
    /// `.replaced` when it was replaced. When the waiting task is cancelled and nobody else wants the job (no
    /// other waiter, no background request), the job is cancelled too.
    public func result(of id: String) async throws -> Product {
        guard jobs[id] != nil else {
            guard let outcome = outcomes[id] else { throw QueueError.jobNotFound(id) }
            return try Self.result(of: outcome, id: id).get()
        }
        let waiterId = UUID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if Task.isCancelled || jobs[id] == nil {
                    continuation.resume(with: outcomes[id].map { Self.result(of: $0, id: id) } ?? .failure(CancellationError()))
                    // Cancelled before it could wait: the cancellation handler found no waiter to remove, so the
                    // job may be left without anyone who wants it. Decided now, before any later waiter arrives.
                    if let job = unwantedJob(id), job.context.cancel() { Task { await self.stop(job) } }
                    return
                }
                waiters[id, default: [:]][waiterId] = continuation
            }
        } onCancel: {
            Task { await self.abandonWait(id: id, waiterId: waiterId) }
        }
    }

    private func abandonWait(id: String, waiterId: UUID) async {
        guard let continuation = waiters[id]?.removeValue(forKey: waiterId) else { return }
        continuation.resume(throwing: CancellationError())
        if let job = unwantedJob(id) { await cancel(job) }
    }

    /// An active job nobody waits for any more and no request wanted in the background.
    private func unwantedJob(_ id: String) -> Job<Key, Product>? {
        guard let job = jobs[id], !job.wantedInBackground, waiters[id, default: [:]].isEmpty else { return nil }
        return job
    }

    // MARK: - Cancelling

    /// Cancels a queued or running job: a queued one ends at once, a running one stops at its next check. Returns
    /// the job's snapshot with whether the cancellation was accepted (a job that is installing its result can no
    /// longer be cancelled); nil when no such job is active.
    @discardableResult
    public func cancel(id: String) async -> (snapshot: JobSnapshot<Key>, accepted: Bool)? {
        guard let job = jobs[id] else { return nil }
        let accepted = await cancel(job)
        return (job.snapshot, accepted)
    }

    /// Cancels the active job for `key`, if any.
    @discardableResult
    public func cancel(key: Key) async -> (snapshot: JobSnapshot<Key>, accepted: Bool)? {
        guard let id = byKey[key] else { return nil }
        return await cancel(id: id)
    }

    @discardableResult
    private func cancel(_ job: Job<Key, Product>) async -> Bool {
        guard job.context.cancel() else { return false }
        await stop(job)
        return true
    }

    /// Ends a cancelled job: at once when it is queued; a running one notices its flag.
    private func stop(_ job: Job<Key, Product>) async {
        guard let index = queue.firstIndex(where: { $0 === job }) else { return }
        queue.remove(at: index)
        detach(job)
        await endWithoutRunning(job, job.replacedBy.map { .replaced(by: $0) } ?? .cancelled)
        startJobsIfPossible()
    }

    // MARK: - Running

    /// Starts queued jobs, highest priority first, while workers are free. A job whose claim is held elsewhere
    /// stays queued without a worker (the jobs behind it go ahead) and is asked again after `waitPoll`.
    private func startJobsIfPossible() {
        guard !isShutDown else { return }
        var index = 0
        while running.count < maxConcurrent && index < queue.count {
            let job = queue[index]
            let claim: (any JobClaim)?
            do {
                claim = try job.work.claim()
            } catch {
                queue.remove(at: index)
                detach(job)
                Task { await endWithoutRunning(job, .failed(error)) }
                continue
            }
            guard let claim else {
                if !job.isWaitingElsewhere { job.markWaitingElsewhere(progress: nil) }
                index += 1
                continue
            }
            queue.remove(at: index)
            start(job, claim: claim)
        }
        if queue.contains(where: \.isWaitingElsewhere) { schedulePoll() }
    }

    private func start(_ job: Job<Key, Product>, claim: any JobClaim) {
        running[job.id] = claim
        job.markRunning()
        // Linux keeps 15 characters of a thread's name: enough for the kind of job, which debuggers show.
        let name = "aura-\(idPrefix)"
        let thread = Thread { [weak self] in
            ThreadName.setCurrent(name)
            let result = Result { try job.work.run(job.context) }
            Task { await self?.ran(job, result: result) }
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    private func ran(_ job: Job<Key, Product>, result: Result<Product, Error>) {
        running.removeValue(forKey: job.id)?.release()
        if case .failure(let error) = result, error is JobYielded, !job.context.isCancelled, !isShutDown {
            job.markQueuedAgain()
            queue.append(job)
            sortQueue()
            startJobsIfPossible()
            return
        }
        let outcome: JobOutcome<Product>
        switch result {
        case .success(let product):
            outcome = .completed(product)
        case .failure(let error):
            if let newId = job.replacedBy {
                outcome = .replaced(by: newId)
            } else if error is JobCancelled || error is CancellationError || error is JobYielded {
                outcome = .cancelled
            } else {
                outcome = .failed(error)
            }
        }
        detach(job)
        announce(job, outcome)
        startJobsIfPossible()
    }

    private func schedulePoll() {
        guard pollTask == nil else { return }
        pollTask = Task { [weak self, waitPoll] in
            try? await Task.sleep(for: waitPoll)
            await self?.poll()
        }
    }

    /// Shows the progress of whoever holds the waiting jobs' work, then tries to start them again.
    private func poll() async {
        pollTask = nil
        let waiting = queue.filter(\.isWaitingElsewhere)
        if !waiting.isEmpty, let progresses = try? await BlockingQueue.run({ waiting.map { $0.work.progressElsewhere($0.id) } }) {
            for (job, progress) in zip(waiting, progresses) where queue.contains(where: { $0 === job }) {
                job.markWaitingElsewhere(progress: progress)
            }
        }
        startJobsIfPossible()
    }

    private func sortQueue() {
        queue.sort { ($0.priority, -$0.sequence) > ($1.priority, -$1.sequence) }
    }

    // MARK: - Ending

    /// Removes a job from the active set (its key is free for new jobs from now on).
    private func detach(_ job: Job<Key, Product>) {
        jobs.removeValue(forKey: job.id)
        if byKey[job.key] == job.id { byKey.removeValue(forKey: job.key) }
    }

    private func endWithoutRunning(_ job: Job<Key, Product>, _ outcome: JobOutcome<Product>) async {
        _ = try? await BlockingQueue.run { [id = job.id] in job.work.endedWithoutRunning(id, outcome) }
        announce(job, outcome)
    }

    /// Records the outcome, wakes the waiters and tells the listeners.
    private func announce(_ job: Job<Key, Product>, _ outcome: JobOutcome<Product>) {
        outcomes[job.id] = outcome
        outcomeOrder.append(job.id)
        if outcomeOrder.count > keptOutcomes * 2 {
            // Forget the oldest in batches (amortised O(1)).
            for id in outcomeOrder.prefix(outcomeOrder.count - keptOutcomes) { outcomes.removeValue(forKey: id) }
            outcomeOrder.removeFirst(outcomeOrder.count - keptOutcomes)
        }
        for (_, continuation) in waiters.removeValue(forKey: job.id) ?? [:] {
            continuation.resume(with: Self.result(of: outcome, id: job.id))
        }
        job.end(outcome)
        for continuation in endWaiters.removeValue(forKey: job.id) ?? [] { continuation.resume() }
    }

    private static func result(of outcome: JobOutcome<Product>, id: String) -> Result<Product, Error> {
        switch outcome {
        case .completed(let product): return .success(product)
        case .failed(let error): return .failure(error)
        case .cancelled: return .failure(JobCancelled())
        case .replaced(let newId): return .failure(QueueError.replaced(jobId: id, by: newId))
        }
    }

    // MARK: - Queries and settings

    /// The active job for `key`.
    public func activeJob(for key: Key) -> JobSnapshot<Key>? {
        byKey[key].flatMap { jobs[$0]?.snapshot }
    }

    /// An active job's snapshot.
    public func snapshot(of id: String) -> JobSnapshot<Key>? {
        jobs[id]?.snapshot
    }

    /// How a recent job ended; nil while it is active, or when it is unknown or forgotten.
    public func outcome(of id: String) -> JobOutcome<Product>? {
        outcomes[id]
    }

    /// Keys with a queued or running job.
    public var activeKeys: Set<Key> { Set(byKey.keys) }

    /// Jobs waiting to run (including those waiting for another process) and running.
    public var counts: (queued: Int, running: Int) { (jobs.count - running.count, running.count) }

    /// Changes how many jobs run at once; a higher number starts queued jobs at once, a lower one lets running
    /// jobs finish.
    public func setMaxConcurrent(_ count: Int) {
        maxConcurrent = max(1, count)
        startJobsIfPossible()
    }

    /// Cancels every job and waits until running ones have stopped. Later submissions are refused.
    public func shutdown() async {
        isShutDown = true
        pollTask?.cancel()
        pollTask = nil
        // Every job is told at once, before anything is awaited.
        let active = Array(jobs.values)
        for job in active { _ = job.context.cancel() }
        for job in queue { await stop(job) }
        for job in active where jobs[job.id] != nil {
            await withCheckedContinuation { continuation in endWaiters[job.id, default: []].append(continuation) }
        }
    }
}
