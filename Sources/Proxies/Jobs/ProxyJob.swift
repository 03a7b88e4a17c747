import Foundation
import Media
import MediaCache
import Synchronization

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

/// Receives job events; the server turns them into `$/progress` and `window/logMessage`.
/// Called from job threads and from the service: implementations must be quick and thread-safe.
public protocol ProxyJobObserver: Sendable {
    func jobQueued(_ job: ProxyJobSnapshot)
    func jobProgressed(_ job: ProxyJobSnapshot)
    func jobFinished(_ job: ProxyJobSnapshot, outcome: ProxyJobOutcome)
    func warning(_ message: String)
    /// Something the user may like to know (an eviction).
    func notice(_ message: String)
}

/// One proxy generation, queued or running. Its mutable state is behind a mutex because the transcoding
/// thread reports progress while the service reads it for `status` and `stats`.
final class ProxyJob: Sendable {
    let id: String
    let slot: ProxySlot
    let sourcePath: String
    let fingerprint: SourceFingerprint
    let scalePercent: Int?
    /// Order of arrival, for first-come-first-served within a priority.
    let sequence: Int
    let enqueuedAt: Date
    /// For `overwrite`: the job whose proxy (finished or in the making) the request wants replaced. A proxy made
    /// by that job is not reused; one made by any later job (another process's) is.
    let supersedesJobId: String?
    let overwrite: Bool
    /// The source's duration as probed, for the planned record.
    let sourceDurationSeconds: Double

    private struct State {
        var priority: Int
        var status: ProxyStatus = .queued
        var progress: TranscodeProgress?
        /// While another process generates the slot: its progress, shown as this job's.
        var elsewhere: (percent: Double, message: String)?
        var cancelled = false
        var replacedBy: String?
        /// Whether someone wants the proxy even if no caller waits (a background request joined).
        var wantedInBackground: Bool
    }
    private let state: Mutex<State>

    init(id: String, slot: ProxySlot, sourcePath: String, fingerprint: SourceFingerprint, scalePercent: Int?,
         priority: Int, sequence: Int, background: Bool, overwrite: Bool, supersedesJobId: String?,
         sourceDurationSeconds: Double) {
        self.id = id
        self.slot = slot
        self.sourcePath = sourcePath
        self.fingerprint = fingerprint
        self.scalePercent = scalePercent
        self.sequence = sequence
        self.overwrite = overwrite
        self.supersedesJobId = supersedesJobId
        self.sourceDurationSeconds = sourceDurationSeconds
        enqueuedAt = Date()
        state = Mutex(State(priority: priority, wantedInBackground: background))
    }

    var priority: Int { state.withLock { $0.priority } }
    var status: ProxyStatus { state.withLock { $0.status } }
    var isCancelled: Bool { state.withLock { $0.cancelled } }
    var wantedInBackground: Bool { state.withLock { $0.wantedInBackground } }

    /// Raises (never lowers) the priority; returns whether it changed.
    func raisePriority(to priority: Int) -> Bool {
        state.withLock { state in
            guard priority > state.priority else { return false }
            state.priority = priority
            return true
        }
    }

    func markWantedInBackground() { state.withLock { $0.wantedInBackground = true } }
    func setStatus(_ status: ProxyStatus) {
        state.withLock { state in
            state.status = status
            if status != .queued { state.elsewhere = nil }
        }
    }
    func cancel() { state.withLock { $0.cancelled = true } }
    /// Cancels the job because `newJobID` takes its slot.
    func replace(by newJobID: String) { state.withLock { $0.cancelled = true; $0.replacedBy = newJobID } }
    var replacedBy: String? { state.withLock { $0.replacedBy } }
    func record(_ progress: TranscodeProgress) { state.withLock { $0.progress = progress; $0.elsewhere = nil } }

    /// Notes the progress of another process that generates the slot; returns whether it changed.
    func recordElsewhere(percent: Double, message: String) -> Bool {
        state.withLock { state in
            if let current = state.elsewhere, current.percent == percent, current.message == message { return false }
            state.elsewhere = (percent, message)
            return true
        }
    }

    /// Whether the job waits for another process that holds its slot.
    var isWaitingElsewhere: Bool { state.withLock { $0.elsewhere != nil } }

    var snapshot: ProxyJobSnapshot {
        state.withLock { state in
            ProxyJobSnapshot(
                id: id, sourcePath: sourcePath, quality: slot.quality, priority: state.priority, status: state.status,
                progressPercent: state.progress?.percent ?? state.elsewhere?.percent ?? 0,
                framesPerSecond: state.progress?.framesPerSecond,
                etaSeconds: state.progress?.etaSeconds, message: state.progress?.message ?? state.elsewhere?.message)
        }
    }
}
