import Foundation
import JSONRPC
import Proxies

/// The quality toggle: `setQuality` and `resolve`.
///
/// Proxy mode is the guide's "Fast Mode" (blue "Proxy Active" badge): previews use proxies of the chosen
/// quality when they exist. Source mode is "High Quality" (green "Source Quality" badge): previews use the
/// originals. Final renders always use sources; the toggle never starts, cancels or deletes jobs.
struct PreviewState: Codable, Sendable, Equatable {
    enum Mode: String, EnumParam, Encodable, Sendable { case proxy, source }
    struct Badge: Codable, Sendable, Equatable {
        var label: String
        var color: String
    }
    var mode: Mode
    var quality: String
    var badge: Badge

    init(mode: Mode, quality: ProxyPreset) {
        self.mode = mode
        self.quality = quality.rawValue
        badge = mode == .proxy ? Badge(label: "Proxy Active", color: "blue") : Badge(label: "Source Quality", color: "green")
    }

    static let initial = PreviewState(mode: .proxy, quality: .default)
    var preset: ProxyPreset { ProxyPreset(rawValue: quality) ?? .default }
}

struct SetQualityParams: Decodable, Sendable {
    var mode: PreviewState.Mode
    var quality: QualityParam?
}

struct ResolveParams: Decodable, Sendable {
    var sourcePath: String
}

struct ResolveResult: Encodable, Sendable {
    var path: String
    var usingProxy: Bool
    var mode: String
    var quality: String
    var reason: String
    var proxyStatus: String
    var progressPercent: Double?
}

extension AuraMediaServer {
    func registerPreviewMethods(in table: inout MethodTable) {
        table.register(SetQualityRequest.self) { [self] params, context in
            let (old, new) = previewState.withLock { state -> (PreviewState, PreviewState) in
                let old = state
                state = PreviewState(mode: params.mode, quality: params.quality?.preset ?? old.preset)
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
            let lookup = try await service.lookup(sourcePath: params.sourcePath, preset: state.preset)
            var result = ResolveResult(path: params.sourcePath, usingProxy: false, mode: state.mode.rawValue, quality: state.quality,
                                       reason: "", proxyStatus: lookup.visibleRecord?.status.rawValue ?? "none")
            if case .active(_, let job) = lookup { result.progressPercent = (job.progressPercent * 10).rounded() / 10 }
            guard state.mode == .proxy else {
                result.reason = "proxy mode is off"
                return result
            }
            switch lookup {
            case .none:
                result.reason = "no proxy yet"
            case .active(_, let job):
                result.reason = job.status == .queued ? "proxy queued" : "proxy generating at \(Int(job.progressPercent))%"
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
