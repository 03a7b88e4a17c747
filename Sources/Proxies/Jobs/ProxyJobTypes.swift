import FileErrors
import Foundation
import Jobs
import Media
import MediaCache

/// What the caller asks for when it requests a proxy.
public struct ProxyRequest: Sendable, Equatable {
    public var sourcePath: String
    public var quality: ProxyQuality
    /// When set (25…75), the proxy is this percentage of the source's display size instead of the quality's box.
    public var scalePercent: Int?
    /// Higher runs first; equal priorities run in arrival order.
    public var priority: Int
    /// Regenerate even when a fresh proxy exists.
    public var overwrite: Bool
    /// Whether the request is a background one (its job then runs even if nobody waits for it).
    public var background: Bool
    /// Make the proxy even when the source is no larger than the quality's box (otherwise: `notNeeded`).
    public var force: Bool
    /// The time (seconds of the source's timeline) the user looks at, when the request says: its segment is made
    /// first, until the source's playhead (`ProxyService.notePlayhead`) says otherwise.
    public var startTime: Double?

    public init(
        sourcePath: String, quality: ProxyQuality = .default, scalePercent: Int? = nil, priority: Int = 0,
        overwrite: Bool = false, background: Bool = true, force: Bool = false, startTime: Double? = nil
    ) {
        self.startTime = startTime
        self.sourcePath = sourcePath
        self.quality = quality
        self.scalePercent = scalePercent
        self.priority = priority
        self.overwrite = overwrite
        self.background = background
        self.force = force
    }
}

/// A proxy job as the generic job queue shows it: its key is the slot, its label the source path.
public typealias ProxyJobSnapshot = JobSnapshot<ProxySlot>
/// How a proxy job ended; a failure is read as a `MediaError` by `MediaError(describing:path:)`.
public typealias ProxyJobOutcome = JobOutcome<ProxyRecord>
/// Receives one proxy job's events from the moment a request for it is accepted: `began` before `generate` returns
/// (with the job as it stands then), `progressed`, then `ended` once. A request's progress token reports through
/// one of these.
public typealias ProxyJobListener = JobListener<ProxySlot, ProxyRecord>

extension JobSnapshot where Key == ProxySlot {
    /// The source the job makes a proxy of.
    public var sourcePath: String { label }
    public var quality: ProxyQuality { key.quality }
    /// The job's status in the catalogue's words (`generating` while it runs).
    public var proxyStatus: ProxyStatus { ProxyStatus(status) }
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

extension MediaError {
    /// `error` as a `MediaError`, keeping its meaning: a media error as it is, a cache file error as the case of the
    /// same name, a cancellation as `.cancelled`, a refused cache directory as an input/output failure on that
    /// directory; any other error (a catalogue database error) as an input/output failure on `path`, the file the
    /// failing work was about, with the error's description as the reason.
    public init(describing error: any Error, path: String) {
        switch error {
        case let error as MediaError: self = error
        case let error as FileError: self.init(error)
        case is CancellationError, is JobCancelled: self = .cancelled
        case let rejected as CacheDirectory.Rejected: self = .ioFailure(path: rejected.path, reason: rejected.reason)
        default: self = .ioFailure(path: path, reason: "\(error)")
        }
    }
}

extension JobListener where Key == ProxySlot, Product == ProxyRecord {
    init(observer: ProxyJobObserver) {
        self.init(
            began: { observer.jobQueued($0) }, progressed: { observer.jobProgressed($0) },
            ended: { observer.jobFinished($0, outcome: $1) })
    }
}
