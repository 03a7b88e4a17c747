import Foundation
import Proxies

extension AuraMediaServer {
    /// The file to preview a source from: its proxy of the current quality when the preview mode is proxy and
    /// that proxy is complete and fresh, else the source itself, and then why (nil when proxy mode is off, or when the
    /// source needs no proxy at this quality: it is its own).
    ///
    /// With `time`, a proxy still being made answers for a time its finished segments cover: the segment's file, and
    /// the time that file starts at (`startOffset`, which the reader subtracts: a file's own timeline starts at its
    /// first frame).
    func previewFile(for sourcePath: String, at time: Double? = nil) async -> PreviewFile {
        let state = previewState.withLock { $0 }
        guard state.mode == .proxy else { return PreviewFile(path: sourcePath, fromProxy: false, withoutProxy: nil) }
        let quality = state.quality
        guard let service = try? await proxyService() else {
            return PreviewFile(path: sourcePath, fromProxy: false, withoutProxy: "the proxy cache is unusable")
        }
        let record: ProxyRecord
        switch try? await service.previewLookup(sourcePath: sourcePath, quality: state.quality) {
        case .record(let found) where found.status == .completed:
            record = found
        case .record(let found):
            let ending = found.status == .failed ? "failed" : "was cancelled"
            return PreviewFile(path: sourcePath, fromProxy: false, withoutProxy: "its \(quality) proxy \(ending)")
        case .active(let found, _):
            if let time, let segment = await service.segmentFile(of: found, at: time) {
                return PreviewFile(path: segment.path, fromProxy: true, withoutProxy: nil, startOffset: segment.startSeconds)
            }
            return PreviewFile(path: sourcePath, fromProxy: false, withoutProxy: "its \(quality) proxy is still being generated")
        case .stale:
            return PreviewFile(path: sourcePath, fromProxy: false, withoutProxy: "its \(quality) proxy is stale (the source changed)")
        case .some(.none):
            let notNeeded = try? await service.notNeededReason(
                sourcePath: sourcePath, quality: quality, scalePercent: currentSettings.scalePercent)
            return PreviewFile(path: sourcePath, fromProxy: false, withoutProxy: notNeeded == nil ? "it has no \(quality) proxy" : nil)
        case nil:
            return PreviewFile(path: sourcePath, fromProxy: false, withoutProxy: "it has no \(quality) proxy")
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
        return PreviewFile(path: record.proxyPath, fromProxy: true, withoutProxy: nil)
    }
}

/// The file to preview a source from (`previewFile`).
struct PreviewFile: Sendable {
    var path: String
    /// Whether it is the source's proxy (or a finished segment of it).
    var fromProxy: Bool
    /// Why the source itself is used, when it should not be (nil: proxy mode is off, or the source needs none).
    var withoutProxy: String?
    /// The time the file starts at on the source's timeline (a segment's start; 0 for a whole file).
    var startOffset: Double = 0
}
