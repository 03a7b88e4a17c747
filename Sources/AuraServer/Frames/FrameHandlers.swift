import Foundation
import Frames
import JSONRPC
import MediaCache

/// The frame messages' handlers: `requestFrame` and `setPlayhead`, scrubbing pictures from the source or its
/// proxy, as the preview mode says.
extension AuraMediaServer {
    func registerFrameMethods(in table: inout MethodTable) {
        table.register(RequestFrameRequest.self) { [self] params, _ in
            try requireSourcePath(params.sourcePath)
            guard params.time.isFinite else { throw ResponseError.invalidParams("parameter 'time' must be a finite number") }
            let format = params.format ?? .jpeg
            let shape = FrameShape(
                width: params.width, height: params.height, format: format,
                quality: params.quality ?? FrameShape.defaultQuality)
            let started = ContinuousClock.now
            (try? await proxyService())?.notePlayhead(sourcePath: params.sourcePath, seconds: params.time)
            let file = await previewFile(for: params.sourcePath, at: params.time)
            try Task.checkCancellation()
            var image = try await frames.frame(
                FrameRequest(
                    path: file.path, time: params.time - file.startOffset, shape: shape,
                    accurate: params.accurate ?? true))
            image.time += file.startOffset
            let fromProxy = file.fromProxy
            recordFrame(started: started, hit: image.fromCache, sourcePath: params.sourcePath, withoutProxy: file.withoutProxy)
            if targetCheckDue() { Task { await checkTargets() } }
            var result = RequestFrameResult(
                time: (image.time * 1e6).rounded() / 1e6, width: image.width, height: image.height,
                format: format.rawValue, fromProxy: fromProxy, fromCache: image.fromCache)
            switch params.delivery ?? .inline {
            case .inline:
                result.data = Data(image.bytes).base64EncodedString()
            case .file:
                do {
                    result.path = try await frames.file(of: image).path
                } catch let rejected as CacheDirectory.Rejected {
                    warnOnce(about: rejected)
                    throw rejected
                }
            }
            return result
        }

        table.register(SetPlayheadNotification.self) { [self] params in
            // Checked here (a bad notification is logged and dropped); handled in order by `followPlayhead`.
            guard params.sourcePath.hasPrefix("/"), params.time.isFinite, params.time >= 0, params.rate.isFinite else {
                logger.warning("setPlayhead ignored: it needs an absolute sourcePath, a time >= 0 and a finite rate")
                return
            }
            var shape: FrameShape?
            if params.width != nil || params.height != nil || params.format != nil || params.quality != nil {
                shape = FrameShape(
                    width: params.width, height: params.height, format: params.format ?? .jpeg,
                    quality: params.quality ?? FrameShape.defaultQuality)
            }
            playheads.yield(PlayheadUpdate(params: params, shape: shape))
        }
    }

    /// Handles playhead positions one at a time, in the order they arrived (a new one replaces the preloading of
    /// the last for the same file).
    func followPlayhead(_ updates: AsyncStream<PlayheadUpdate>) async {
        for await update in updates {
            (try? await proxyService())?.notePlayhead(sourcePath: update.params.sourcePath, seconds: update.params.time)
            let file = await previewFile(for: update.params.sourcePath)
            await frames.setPlayhead(path: file.path, time: update.params.time, rate: update.params.rate, shape: update.shape)
        }
    }
}

/// A playhead position on its way to the preloader (positions are handled one at a time, in arrival order).
struct PlayheadUpdate: Sendable {
    var params: SetPlayheadNotification
    var shape: FrameShape?
}
