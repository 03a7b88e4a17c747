import Foundation
import JSONRPC
import Locking
import Media
import Proxies
import Telemetry

/// Turns proxy jobs' events into `$/progress` on the tokens of the requests that asked for them, and the proxy
/// service's warnings and notices into `window/logMessage`.
///
/// A request's listener is handed in with the request (`listener(for:)`), so its `begin` goes out when the
/// request is accepted and no event of the job is missed. A request without a `workDoneToken` follows the job on
/// the job id token, which carries one stream per job however many such requests join it.
final class ProxyProgressReporter: ProxyJobObserver {
    private let client: any NotificationSink
    private let telemetry: Telemetry
    /// Told when a job ended (the server then judges the telemetry targets).
    private let jobEnded: @Sendable () -> Void
    /// Jobs whose job-id token has a stream.
    private let jobTokens = Mutex<Set<String>>([])

    init(client: any NotificationSink, telemetry: Telemetry, jobEnded: @escaping @Sendable () -> Void) {
        self.client = client
        self.telemetry = telemetry
        self.jobEnded = jobEnded
    }

    /// The listener for one `generate` request: progress on `token`, or on the job id when it is nil.
    func listener(for token: ProgressToken?) -> ProxyJobListener {
        let progress = Mutex<WorkDoneProgress?>(nil)
        let client = self.client
        return ProxyJobListener(
            began: { [self] job in
                if token == nil {
                    guard jobTokens.withLock({ $0.insert(job.id).inserted }) else { return }  // Another request's stream.
                }
                let title = "Generating \(job.quality) proxy for \(URL(fileURLWithPath: job.sourcePath).lastPathComponent)"
                progress.withLock {
                    $0 = WorkDoneProgress(
                        token: token ?? .string(job.id), sink: client, title: title, cancellable: true,
                        message: job.proxyStatus.rawValue, percentage: Int(job.progress.percent))
                }
            },
            progressed: { job in
                guard let reporter = progress.withLock({ $0 }) else { return }
                var details: [String: JSONValue] = [:]
                // Always present (0 until the first frames are encoded), so clients can show a speed without checks.
                details["framesPerSecond"] = .double(((job.progress.rate ?? 0) * 10).rounded() / 10)
                if let eta = job.progress.etaSeconds { details["etaSeconds"] = .double((eta * 10).rounded() / 10) }
                if let count = job.progress.segmentCount {
                    details["segmentCount"] = .int(count)
                    details["segmentsCompleted"] = .int(job.progress.segmentsCompleted ?? 0)
                    details["coverage"] = .array((job.progress.coverage ?? []).map { .array($0.map(JSONValue.double)) })
                }
                reporter.report(message: job.progress.message ?? job.proxyStatus.rawValue, percentage: Int(job.progress.percent), details: details)
            },
            ended: { [self] job, outcome in
                guard let reporter = progress.withLock({ $0 }) else { return }
                if token == nil { jobTokens.withLock { _ = $0.remove(job.id) } }
                Self.end(reporter, job: job, outcome: outcome)
            })
    }

    // The service-wide events: only warnings and notices reach the client this way.
    func jobQueued(_ job: ProxyJobSnapshot) {}
    func jobProgressed(_ job: ProxyJobSnapshot) {}
    func jobFinished(_ job: ProxyJobSnapshot, outcome: ProxyJobOutcome) {
        switch outcome {
        case .completed(let record):
            // Speeds only for proxies encoded by the job (a reused one has none).
            let fps = job.progress.rate
            let factor = fps.flatMap { fps in record.frameRate.flatMap { $0 > 0 ? fps / $0 : nil } }
            telemetry.recordProxyJob(.completed, framesPerSecond: fps, realtimeFactor: factor)
        case .failed:
            telemetry.recordProxyJob(.failed, framesPerSecond: nil, realtimeFactor: nil)
        case .cancelled:
            telemetry.recordProxyJob(.cancelled, framesPerSecond: nil, realtimeFactor: nil)
        case .replaced:
            return
        }
        jobEnded()
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

    private static func end(_ progress: WorkDoneProgress, job: ProxyJobSnapshot, outcome: ProxyJobOutcome) {
        switch outcome {
        case .completed(let record):
            progress.end(
                message: "completed: \(record.width)x\(record.height), \(record.proxySizeBytes) bytes",
                details: ["outcome": .string("completed"), "jobId": .string(job.id)])
        case .failed(let cause):
            let error = MediaError(describing: cause, path: job.sourcePath)
            progress.end(
                message: "failed: \(error.description)",
                details: ["outcome": .string("failed"), "error": errorObject(error.generationError(jobId: job.id)), "jobId": .string(job.id)])
        case .cancelled:
            progress.end(
                message: "cancelled",
                details: ["outcome": .string("cancelled"), "error": errorObject(.cancelled), "jobId": .string(job.id)])
        case .replaced(let newJobId):
            let error = ProxyServiceError.replaced(jobId: job.id, by: newJobId).responseError
            progress.end(
                message: "cancelled: replaced by \(newJobId)",
                details: ["outcome": .string("cancelled"), "error": errorObject(error), "jobId": .string(job.id)])
        }
    }
}
