import Foundation
import JSONRPC
import Proxies
import Synchronization

/// Turns proxy job events into `$/progress` on each job's tokens and warnings into `window/logMessage`.
///
/// A job's tokens are the workDoneTokens of the requests that asked for it, or the jobId itself when a
/// request gave none. Tokens are attached after the service answers, so a job that ended in between is
/// remembered briefly and a late token still gets its `begin` and `end`.
final class ProxyProgressReporter: ProxyJobObserver {
    private struct State {
        var progress: [String: [ProgressToken: WorkDoneProgress]] = [:]
        /// Recent outcomes, for tokens attached after the job ended (bounded).
        var ended: [(jobID: String, snapshot: ProxyJobSnapshot, outcome: ProxyJobOutcome)] = []
    }
    private let client: any NotificationSink
    private let state = Mutex(State())

    init(client: any NotificationSink) {
        self.client = client
    }

    /// Starts reporting a job's progress on `token` (sends `begin`).
    func attach(token: ProgressToken, to job: ProxyJobSnapshot) {
        let late: (ProxyJobSnapshot, ProxyJobOutcome)? = state.withLock { state in
            if state.progress[job.id]?[token] != nil { return nil }
            if let ended = state.ended.last(where: { $0.jobID == job.id }) { return (ended.snapshot, ended.outcome) }
            let title = "Generating \(job.quality.rawValue) proxy for \(URL(fileURLWithPath: job.sourcePath).lastPathComponent)"
            state.progress[job.id, default: [:]][token] = WorkDoneProgress(
                token: token, sink: client, title: title, cancellable: true, message: job.status.rawValue,
                percentage: Int(job.progressPercent))
            return nil
        }
        if let (snapshot, outcome) = late {
            let progress = WorkDoneProgress(token: token, sink: client, title: "Proxy job \(job.id)", cancellable: false)
            Self.end(progress, snapshot: snapshot, outcome: outcome)
        }
    }

    func jobQueued(_ job: ProxyJobSnapshot) {}

    func jobProgressed(_ job: ProxyJobSnapshot) {
        let reporters = state.withLock { Array(($0.progress[job.id] ?? [:]).values) }
        var details: [String: JSONValue] = [:]
        // Always present (0 until the first frames are encoded), so clients can show a speed without checks.
        details["framesPerSecond"] = .double(((job.framesPerSecond ?? 0) * 10).rounded() / 10)
        if let eta = job.etaSeconds { details["etaSeconds"] = .double((eta * 10).rounded() / 10) }
        for reporter in reporters {
            reporter.report(message: job.message ?? job.status.rawValue, percentage: Int(job.progressPercent), details: details)
        }
    }

    func jobFinished(_ job: ProxyJobSnapshot, outcome: ProxyJobOutcome) {
        let reporters = state.withLock { state -> [WorkDoneProgress] in
            state.ended.append((job.id, job, outcome))
            if state.ended.count > 64 { state.ended.removeFirst(state.ended.count - 64) }
            return Array((state.progress.removeValue(forKey: job.id) ?? [:]).values)
        }
        for reporter in reporters { Self.end(reporter, snapshot: job, outcome: outcome) }
    }

    func warning(_ message: String) {
        client.logMessage(.warning, message)
    }

    func notice(_ message: String) {
        client.logMessage(.info, message)
    }

    private static func errorObject(_ error: ResponseError) -> JSONValue {
        var members: [String: JSONValue] = ["code": .int(error.code), "message": .string(error.message)]
        if let data = error.data { members["data"] = data }
        return .object(members)
    }

    private static func end(_ progress: WorkDoneProgress, snapshot: ProxyJobSnapshot, outcome: ProxyJobOutcome) {
        switch outcome {
        case .completed(let record):
            progress.end(message: "completed: \(record.width)x\(record.height), \(record.proxySizeBytes) bytes",
                         details: ["outcome": .string("completed"), "jobId": .string(snapshot.id)])
        case .failed(let error):
            progress.end(message: "failed: \(error.description)",
                         details: ["outcome": .string("failed"), "error": errorObject(error.generationError(jobId: snapshot.id)), "jobId": .string(snapshot.id)])
        case .cancelled:
            progress.end(message: "cancelled",
                         details: ["outcome": .string("cancelled"), "error": errorObject(.cancelled), "jobId": .string(snapshot.id)])
        case .replaced(let newJobID):
            let error = ProxyServiceError.replaced(jobId: snapshot.id, by: newJobID).responseError
            progress.end(message: "cancelled: replaced by \(newJobID)",
                         details: ["outcome": .string("cancelled"), "error": errorObject(error), "jobId": .string(snapshot.id)])
        }
    }
}
