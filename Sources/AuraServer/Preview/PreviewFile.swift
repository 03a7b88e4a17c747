import Foundation
import Proxies

extension AuraMediaServer {
    /// The file to preview a source from: its proxy of the current quality when the preview mode is proxy and
    /// that proxy is complete and fresh, else the source itself, and then why (nil when proxy mode is off, or when the
    /// source needs no proxy at this quality: it is its own).
    func previewFile(for sourcePath: String) async -> (path: String, fromProxy: Bool, withoutProxy: String?) {
        let state = previewState.withLock { $0 }
        guard state.mode == .proxy else { return (sourcePath, false, nil) }
        let quality = state.quality
        guard let service = try? await proxyService() else { return (sourcePath, false, "the proxy cache is unusable") }
        let record: ProxyRecord
        switch try? await service.previewLookup(sourcePath: sourcePath, quality: state.quality) {
        case .record(let found) where found.status == .completed:
            record = found
        case .record(let found):
            return (sourcePath, false, "its \(quality) proxy \(found.status == .failed ? "failed" : "was cancelled")")
        case .active:
            return (sourcePath, false, "its \(quality) proxy is still being generated")
        case .stale:
            return (sourcePath, false, "its \(quality) proxy is stale (the source changed)")
        case .some(.none):
            let notNeeded = try? await service.notNeededReason(
                sourcePath: sourcePath, quality: quality, scalePercent: currentSettings.scalePercent)
            return (sourcePath, false, notNeeded == nil ? "it has no \(quality) proxy" : nil)
        case nil:
            return (sourcePath, false, "it has no \(quality) proxy")
        }
        if proxyUses.withLock({ uses in
            // Scrubbing is a use of the proxy (it keeps it from eviction), recorded at most every 30 s.
            let now = Date()
            guard now.timeIntervalSince(uses[record.proxyPath] ?? .distantPast) > 30 else { return false }
            uses[record.proxyPath] = now
            return true
        }) {
            await service.markUsed(record, at: sourcePath)
        }
        return (record.proxyPath, true, nil)
    }
}
