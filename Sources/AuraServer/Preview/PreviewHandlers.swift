import Foundation
import JSONRPC
import Proxies

/// The quality toggle's handlers: `setQuality` and `resolve`.
extension AuraMediaServer {
    func registerPreviewMethods(in table: inout MethodTable) {
        table.register(SetQualityRequest.self) { [self] params, context in
            let (old, new) = previewState.withLock { state -> (PreviewState, PreviewState) in
                let old = state
                state = PreviewState(mode: params.mode, quality: params.quality ?? old.quality)
                return (old, state)
            }
            if old != new {
                context.client.send(PreviewModeChangedNotification.self, new)
            }
            return new
        }

        table.register(ResolveRequest.self) { [self] params, _ in
            try requireSourcePath(params.sourcePath)
            let state = previewState.withLock { $0 }
            let service = try await proxyService()
            let lookup = try await service.lookup(sourcePath: params.sourcePath, quality: state.quality)
            var result = ResolveResult(
                path: params.sourcePath, usingProxy: false, mode: state.mode, quality: state.quality,
                reason: "", proxyStatus: lookup.visibleRecord?.status.rawValue ?? "none")
            if case .active(let record, let job) = lookup {
                result.progressPercent = (job.progress.percent * 10).rounded() / 10
                if let playlist = await service.partialPlaylist(of: record) {
                    result.partialProxy = .init(playlistPath: playlist.playlistPath, coverage: [playlist.start, playlist.end])
                }
            }
            guard state.mode == .proxy else {
                result.reason = "proxy mode is off"
                return result
            }
            switch lookup {
            case .none:
                // A file that cannot be probed (not media, truncated) is not judged: its proxy is simply not there.
                if let reason = try? await service.notNeededReason(
                    sourcePath: params.sourcePath, quality: state.quality, scalePercent: currentSettings.scalePercent)
                {
                    result.proxyStatus = "notNeeded"
                    result.reason = "no proxy needed: \(reason)"
                } else {
                    result.reason = "no proxy yet"
                }
            case .active(_, let job):
                result.reason = job.status == .queued ? "proxy queued" : "proxy generating at \(Int(job.progress.percent))%"
            case .stale:
                result.reason = "proxy is stale: the source changed"
            case .record(let record):
                switch record.status {
                case .completed:
                    result.path = record.proxyPath
                    result.usingProxy = true
                    result.reason = "using the \(state.quality) proxy"
                    await service.markUsed(record, at: params.sourcePath)
                case .failed:
                    result.reason = "proxy generation failed: \(record.error ?? "unknown cause")"
                case .cancelled:
                    result.reason = "proxy generation was cancelled"
                default:
                    result.reason = "no proxy yet"
                }
            }
            return result
        }
    }
}
