/// How far a job is, as its work reports it.
public struct JobProgress: Sendable, Equatable {
    /// 0…100.
    public var percent: Double
    /// What the job is doing, for people ("Encoding 1280x720: frame 1575 of ~3750").
    public var message: String?
    /// Work items per second (frames for a transcode, seconds of audio for an analysis), when known.
    public var rate: Double?
    /// Seconds left, when known.
    public var etaSeconds: Double?
    /// For work made of segments (a proxy): how many there are, how many are done, and the time ranges (seconds,
    /// `[start, end]`, merged) the done ones cover. Nil for other work.
    public var segmentsCompleted: Int?
    public var segmentCount: Int?
    public var coverage: [[Double]]?

    public init(
        percent: Double = 0, message: String? = nil, rate: Double? = nil, etaSeconds: Double? = nil,
        segmentsCompleted: Int? = nil, segmentCount: Int? = nil, coverage: [[Double]]? = nil
    ) {
        self.percent = percent
        self.message = message
        self.rate = rate
        self.etaSeconds = etaSeconds
        self.segmentsCompleted = segmentsCompleted
        self.segmentCount = segmentCount
        self.coverage = coverage
    }
}

/// Where a job is in its life.
public enum JobStatus: String, Sendable, Equatable {
    case queued, running, completed, failed, cancelled
}

/// A read-only view of one job.
public struct JobSnapshot<Key: Hashable & Sendable>: Sendable, Equatable {
    public var id: String
    public var key: Key
    /// What the job works on, for people and logs (a source path).
    public var label: String
    /// Jobs of one key with another variant replace each other (a proxy with other sizing).
    public var variant: String
    public var priority: Int
    public var status: JobStatus
    public var progress: JobProgress
    /// True while the job is queued because another process is doing its work (`JobWork.claim` said so).
    public var waitingElsewhere: Bool

    public init(
        id: String, key: Key, label: String, variant: String, priority: Int, status: JobStatus, progress: JobProgress,
        waitingElsewhere: Bool = false
    ) {
        self.id = id
        self.key = key
        self.label = label
        self.variant = variant
        self.priority = priority
        self.status = status
        self.progress = progress
        self.waitingElsewhere = waitingElsewhere
    }
}

/// How a job ended.
public enum JobOutcome<Product: Sendable>: Sendable {
    case completed(Product)
    case failed(any Error)
    case cancelled
    /// Cancelled because a request for the same key with another variant replaced it with the job `by`.
    case replaced(by: String)
}

/// Receives one job's events, in order and never after `ended`: `began` once (with the job as it is when the
/// listener is attached), `progressed` any number of times, `ended` once. Called from the queue and from the job's
/// thread; implementations must be quick and thread-safe.
public struct JobListener<Key: Hashable & Sendable, Product: Sendable>: Sendable {
    public var began: @Sendable (JobSnapshot<Key>) -> Void
    public var progressed: @Sendable (JobSnapshot<Key>) -> Void
    public var ended: @Sendable (JobSnapshot<Key>, JobOutcome<Product>) -> Void

    public init(
        began: @escaping @Sendable (JobSnapshot<Key>) -> Void = { _ in },
        progressed: @escaping @Sendable (JobSnapshot<Key>) -> Void = { _ in },
        ended: @escaping @Sendable (JobSnapshot<Key>, JobOutcome<Product>) -> Void = { _, _ in }
    ) {
        self.began = began
        self.progressed = progressed
        self.ended = ended
    }
}

/// A right to do a job's work that must be given back when the job ends (a cross-process `WorkLock`).
public protocol JobClaim: Sendable {
    func release()
}

/// The error a job's work throws when it stops because it was cancelled.
public struct JobCancelled: Error, Sendable, Equatable {
    public init() {}
}

/// The error a job's work throws when it did what it could for now and gives its worker back: the job goes back to
/// waiting for its claim, as a job whose work another process holds does (`JobWork.claim`), and runs again once
/// claimed. A helper of another process's work throws it when nothing is left for it to take.
public struct JobYielded: Error, Sendable, Equatable {
    public init() {}
}

/// What a job does, supplied with the job.
///
/// Every closure runs off the queue's actor and off the Swift concurrency pool except `claim`, which must only
/// make quick system calls (it takes a lock without waiting).
public struct JobWork<Product: Sendable>: Sendable {
    /// Runs once before the job can start, on a blocking-work thread (record that the job is queued). A throw
    /// ends the job `failed` without running it.
    public var prepare: @Sendable (_ jobId: String) throws -> Void
    /// Takes the right to do the work now; nil when another process is doing it (the job stays queued, without
    /// using a worker, and is asked again shortly). The claim is released when the job ends.
    public var claim: @Sendable () throws -> (any JobClaim)?
    /// While the job waits for its claim: the progress of whoever does the work, shown as the job's own.
    public var progressElsewhere: @Sendable (_ jobId: String) -> JobProgress?
    /// Does the work on a thread of its own, holding the claim. Throws `JobCancelled` when it stopped because
    /// `context.isCancelled`, and `JobYielded` to give the worker back and wait for the claim again.
    public var run: @Sendable (JobContext) throws -> Product
    /// Records the end of a job that never ran (cancelled or failed while queued), before the end is announced.
    public var endedWithoutRunning: @Sendable (_ jobId: String, JobOutcome<Product>) -> Void

    public init(
        prepare: @escaping @Sendable (_ jobId: String) throws -> Void = { _ in },
        claim: @escaping @Sendable () throws -> (any JobClaim)? = { NoClaim() },
        progressElsewhere: @escaping @Sendable (_ jobId: String) -> JobProgress? = { _ in nil },
        run: @escaping @Sendable (JobContext) throws -> Product,
        endedWithoutRunning: @escaping @Sendable (_ jobId: String, JobOutcome<Product>) -> Void = { _, _ in }
    ) {
        self.prepare = prepare
        self.claim = claim
        self.progressElsewhere = progressElsewhere
        self.run = run
        self.endedWithoutRunning = endedWithoutRunning
    }
}

/// The claim of work that needs none.
public struct NoClaim: JobClaim {
    public init() {}
    public func release() {}
}

/// A claim given back by calling `release`: how a service hands the queue a lock of a layer that knows no jobs
/// (a `MediaCache.WorkLock`), which the closure keeps alive until the job ends.
public struct ReleasingClaim: JobClaim {
    private let releaseBody: @Sendable () -> Void

    public init(release: @escaping @Sendable () -> Void) {
        releaseBody = release
    }

    public func release() {
        releaseBody()
    }
}
