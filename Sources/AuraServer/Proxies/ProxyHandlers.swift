import Foundation
import JSONRPC
import Media
import Proxies

/// The proxy methods' handlers: `generate`, `status`, `cancelGeneration`.
extension AuraMediaServer {
    func registerProxyMethods(in table: inout MethodTable) {
        table.register(GenerateRequest.self) { [self] params, context in
            try requireSourcePath(params.sourcePath)
            if let percent = params.scalePercent, !(25...75).contains(percent) {
                throw ResponseError.invalidParams("parameter 'scalePercent' must be between 25 and 75")
            }
            let service = try await proxyService()
            let request = ProxyRequest(
                sourcePath: params.sourcePath, quality: params.quality ?? defaultQuality,
                scalePercent: params.scalePercent ?? currentSettings.scalePercent,
                priority: params.priority ?? 0, overwrite: params.overwrite ?? false,
                background: params.backgroundGeneration ?? true, force: params.force ?? false,
                startTime: params.startTime)
            if let startTime = params.startTime, !(startTime.isFinite && startTime >= 0) {
                throw ResponseError.invalidParams("parameter 'startTime' must be a number of seconds, 0 or more")
            }
            let ticket: ProxyTicket
            do {
                ticket = try await service.generate(request, listener: progressReporter.listener(for: context.workDoneToken))
            } catch ProxyServiceError.notNeeded(let reason) {
                return .notNeeded(sourcePath: params.sourcePath, quality: request.quality, reason: reason)
            }
            if ticket.status == .completed, let record = ticket.record {
                return GenerateResult(ticket, proxy: record)
            }
            if request.background {
                return GenerateResult(ticket, proxy: nil)
            }
            do {
                let record = try await service.waitForCompletion(jobId: ticket.jobId)
                var result = GenerateResult(ticket, proxy: record)
                result.status = .job(.completed)
                result.progressPercent = 100
                return result
            } catch MediaError.cancelled {
                throw ResponseError.cancelled
            } catch let error as MediaError {
                throw error.generationError(jobId: ticket.jobId)
            }
        }

        table.register(StatusRequest.self) { [self] params, _ in
            try requireSourcePath(params.sourcePath)
            let quality = params.quality ?? defaultQuality
            let service = try await proxyService()
            let lookup = try await service.lookup(sourcePath: params.sourcePath, quality: quality)
            guard var record = lookup.visibleRecord else {
                return .none(NoProxyResult(sourcePath: params.sourcePath, quality: quality))
            }
            if case .record(let current) = lookup, current.status == .completed {
                // Asking about a proxy is a use of it: it keeps it from eviction like `resolve` does.
                await service.markUsed(current, at: params.sourcePath)
                record.lastAccessedAt = Date()
            }
            return .record(ProxyRecordPayload(record))
        }

        table.register(CancelGenerationRequest.self) { [self] params, _ in
            let service = try await proxyService()
            switch (params.jobId, params.sourcePath) {
            case (let jobId?, nil):
                if let snapshot = await service.cancel(jobId: jobId) {
                    return CancelGenerationResult(jobId: snapshot.id, cancelled: snapshot.status == .cancelled, status: snapshot.proxyStatus)
                }
                guard let status = try await service.endedJobStatus(jobId: jobId) else { throw ProxyServiceError.jobNotFound(jobId) }
                return CancelGenerationResult(jobId: jobId, cancelled: false, status: status)
            case (nil, let sourcePath?):
                try requireSourcePath(sourcePath)
                let quality = params.quality ?? defaultQuality
                if let snapshot = try await service.cancel(sourcePath: sourcePath, quality: quality) {
                    return CancelGenerationResult(jobId: snapshot.id, cancelled: snapshot.status == .cancelled, status: snapshot.proxyStatus)
                }
                let lookup = try await service.lookup(sourcePath: sourcePath, quality: quality)
                guard let record = lookup.visibleRecord, let jobId = record.jobId else {
                    throw ProxyServiceError.noJobForSlot(sourcePath: sourcePath, quality: quality)
                }
                let status = try await service.endedJobStatus(jobId: jobId) ?? record.status
                return CancelGenerationResult(jobId: jobId, cancelled: false, status: status)
            default:
                throw ResponseError.invalidParams("exactly one of 'jobId' and 'sourcePath' is required")
            }
        }
    }
}
