import Foundation
import Jobs
import Media
import MediaCache

/// What the caller asks for when it requests a proxy.
public struct ProxyRequest: Sendable, Equatable {
    public var sourcePath: String
    public var preset: ProxyPreset
    /// When set (25…75), the proxy is this percentage of the source's display size instead of the preset box.
    public var scalePercent: Int?
    /// Higher runs first; equal priorities run in arrival order.
    public var priority: Int
    /// Regenerate even when a fresh proxy exists.
    public var overwrite: Bool
    /// Whether the request is a background one (its job then runs even if nobody waits for it).
    public var background: Bool

    public init(sourcePath: String, preset: ProxyPreset = .default, scalePercent: Int? = nil, priority: Int = 0,
                overwrite: Bool = false, background: Bool = true) {
        self.sourcePath = sourcePath
        self.preset = preset
        self.scalePercent = scalePercent
        self.priority = priority
        self.overwrite = overwrite
        self.background = background
    }
}

/// How a job ended.
public enum ProxyJobOutcome: Sendable {
    case completed(ProxyRecord)
    case failed(MediaError)
    case cancelled
    /// Cancelled because a request with other sizing replaced it with the job `by`.
    case replaced(by: String)
}

/// A read-only view of a job, for progress reporting and status answers.
public struct ProxyJobSnapshot: Sendable, Equatable {
    public var id: String
    public var sourcePath: String
    public var quality: ProxyPreset
    public var priority: Int
    public var status: ProxyStatus
    public var progressPercent: Double
    public var framesPerSecond: Double?
    public var etaSeconds: Double?
    public var message: String?

    public init(id: String, sourcePath: String, quality: ProxyPreset, priority: Int, status: ProxyStatus,
                progressPercent: Double, framesPerSecond: Double? = nil, etaSeconds: Double? = nil, message: String? = nil) {
        self.id = id
        self.sourcePath = sourcePath
        self.quality = quality
        self.priority = priority
        self.status = status
        self.progressPercent = progressPercent
        self.framesPerSecond = framesPerSecond
        self.etaSeconds = etaSeconds
        self.message = message
    }
}

/// Receives the events of every job of a service (a CLI progress display), and its warnings and notices.
/// Called from job threads and from the service: implementations must be quick and thread-safe.
public protocol ProxyJobObserver: Sendable {
    func jobQueued(_ job: ProxyJobSnapshot)
    func jobProgressed(_ job: ProxyJobSnapshot)
    func jobFinished(_ job: ProxyJobSnapshot, outcome: ProxyJobOutcome)
    func warning(_ message: String)
    /// Something the user may like to know (an eviction).
    func notice(_ message: String)
}

/// Receives one job's events from the moment a request for it is accepted: `began` before `generate` returns
/// (with the job as it stands then), `progressed`, then `ended` once. A request's progress token reports through
/// one of these.
public struct ProxyJobListener: Sendable {
    public var began: @Sendable (ProxyJobSnapshot) -> Void
    public var progressed: @Sendable (ProxyJobSnapshot) -> Void
    public var ended: @Sendable (ProxyJobSnapshot, ProxyJobOutcome) -> Void

    public init(began: @escaping @Sendable (ProxyJobSnapshot) -> Void,
                progressed: @escaping @Sendable (ProxyJobSnapshot) -> Void,
                ended: @escaping @Sendable (ProxyJobSnapshot, ProxyJobOutcome) -> Void) {
        self.began = began
        self.progressed = progressed
        self.ended = ended
    }
}

extension ProxyJobSnapshot {
    /// The proxies' view of a queue job.
    init(_ job: JobSnapshot<ProxySlot>) {
        let status: ProxyStatus
        switch job.status {
        case .queued: status = .queued
        case .running: status = .generating
        case .completed: status = .completed
        case .failed: status = .failed
        case .cancelled: status = .cancelled
        }
        self.init(id: job.id, sourcePath: job.label, quality: job.key.quality, priority: job.priority, status: status,
                  progressPercent: job.progress.percent, framesPerSecond: job.progress.rate,
                  etaSeconds: job.progress.etaSeconds, message: job.progress.message)
    }
}

extension ProxyJobOutcome {
    /// The proxies' view of a queue outcome: every failure is a `MediaError`.
    init(_ outcome: JobOutcome<ProxyRecord>) {
        switch outcome {
        case .completed(let record): self = .completed(record)
        case .failed(let error): self = .failed(MediaError(describing: error))
        case .cancelled: self = .cancelled
        case .replaced(let newID): self = .replaced(by: newID)
        }
    }
}

extension MediaError {
    /// `error` as a `MediaError` (other errors become input/output failures, with their description).
    init(describing error: any Error) {
        if let error = error as? MediaError { self = error } else { self = .ioFailure(path: "", reason: "\(error)") }
    }
}

extension JobListener where Key == ProxySlot, Product == ProxyRecord {
    init(_ listener: ProxyJobListener) {
        self.init(began: { listener.began(ProxyJobSnapshot($0)) },
                  progressed: { listener.progressed(ProxyJobSnapshot($0)) },
                  ended: { listener.ended(ProxyJobSnapshot($0), ProxyJobOutcome($1)) })
    }

    init(observer: ProxyJobObserver) {
        self.init(began: { observer.jobQueued(ProxyJobSnapshot($0)) },
                  progressed: { observer.jobProgressed(ProxyJobSnapshot($0)) },
                  ended: { observer.jobFinished(ProxyJobSnapshot($0), outcome: ProxyJobOutcome($1)) })
    }
}
