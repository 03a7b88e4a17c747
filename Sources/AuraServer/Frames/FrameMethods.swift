import Foundation
import Frames
import JSONRPC
import Media
import Proxies
import Locking

/// `requestFrame` and `setPlayhead`: scrubbing pictures from the source or its proxy, as the preview mode says.
struct RequestFrameParams: Decodable, Sendable {
    enum Delivery: String, EnumParam, Sendable {
        /// Base64 in the response's `data`.
        case inline
        /// A file in the frame cache directory, named in `path`.
        case file
    }

    var sourcePath: String
    var time: Double
    var width: Int?
    var height: Int?
    var format: ImageFormat?
    var quality: Int?
    var accurate: Bool?
    var delivery: Delivery?
}

extension ImageFormat: EnumParam {}

struct RequestFrameResult: Encodable, Sendable {
    /// Presentation time of the picture returned (seconds on the file's timeline).
    var time: Double
    var width: Int
    var height: Int
    var format: String
    /// Whether the picture was read from the proxy (else from the source).
    var fromProxy: Bool
    /// Whether it came from the frame cache without decoding.
    var fromCache: Bool
    /// Base64 of the image (inline delivery).
    var data: String?
    /// The image's file (file delivery); valid until the frame cache evicts it.
    var path: String?
}

struct SetPlayheadParams: Decodable, Sendable {
    var sourcePath: String
    var time: Double
    /// 0 paused, 1 playing, negative in reverse, other values shuttle speeds.
    var rate: Double
    var width: Int?
    var height: Int?
    var format: ImageFormat?
    var quality: Int?
}

/// A playhead position on its way to the preloader (positions are handled one at a time, in arrival order).
struct PlayheadUpdate: Sendable {
    var params: SetPlayheadParams
    var shape: FrameShape?
}

extension FrameError: ResponseErrorConvertible {
    public var responseError: ResponseError { ResponseError.invalidParams(description) }
}

extension AuraMediaServer {
    func registerFrameMethods(in table: inout MethodTable) {
        table.register(RequestFrameRequest.self) { [self] params, _ in
            try requireSourcePath(params.sourcePath)
            guard params.time.isFinite else { throw ResponseError.invalidParams("parameter 'time' must be a finite number") }
            let format = params.format ?? .jpeg
            let shape = FrameShape(width: params.width, height: params.height, format: format,
                                   quality: params.quality ?? FrameShape.defaultQuality)
            let started = ContinuousClock.now
            let (path, fromProxy, withoutProxy) = await previewFile(for: params.sourcePath)
            try Task.checkCancellation()
            let image = try await frames.frame(FrameRequest(path: path, time: params.time, shape: shape,
                                                            accurate: params.accurate ?? true))
            recordFrame(started: started, hit: image.fromCache, sourcePath: params.sourcePath, withoutProxy: withoutProxy)
            if targetCheckDue() { Task { await checkTargets() } }
            var result = RequestFrameResult(time: (image.time * 1e6).rounded() / 1e6, width: image.width, height: image.height,
                                            format: format.rawValue, fromProxy: fromProxy, fromCache: image.fromCache)
            switch params.delivery ?? .inline {
            case .inline:
                result.data = Data(image.bytes).base64EncodedString()
            case .file:
                let settings = currentSettings
                let store = try await frameFiles.service(for: settings.frameCacheDirectory, settings: settings)
                result.path = try await frames.file(of: image, in: store).path
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
                shape = FrameShape(width: params.width, height: params.height, format: params.format ?? .jpeg,
                                   quality: params.quality ?? FrameShape.defaultQuality)
            }
            playheads.yield(PlayheadUpdate(params: params, shape: shape))
        }
    }

    /// Handles playhead positions one at a time, in the order they arrived (a new one replaces the preloading of
    /// the last for the same file).
    func followPlayhead(_ updates: AsyncStream<PlayheadUpdate>) async {
        for await update in updates {
            let (path, _, _) = await previewFile(for: update.params.sourcePath)
            await frames.setPlayhead(path: path, time: update.params.time, rate: update.params.rate, shape: update.shape)
        }
    }

    /// The file to preview a source from: its proxy of the current quality when the preview mode is proxy and
    /// that proxy is complete and fresh, else the source itself, and then why (nil when proxy mode is off).
    func previewFile(for sourcePath: String) async -> (path: String, fromProxy: Bool, withoutProxy: String?) {
        let state = previewState.withLock { $0 }
        guard state.mode == .proxy else { return (sourcePath, false, nil) }
        let quality = state.preset.rawValue
        guard let service = try? await proxyService() else { return (sourcePath, false, "the proxy cache is unusable") }
        let record: ProxyRecord
        switch try? await service.lookup(sourcePath: sourcePath, preset: state.preset) {
        case .record(let found) where found.status == .completed:
            record = found
        case .record(let found):
            return (sourcePath, false, "its \(quality) proxy \(found.status == .failed ? "failed" : "was cancelled")")
        case .active:
            return (sourcePath, false, "its \(quality) proxy is still being generated")
        case .stale:
            return (sourcePath, false, "its \(quality) proxy is stale (the source changed)")
        case .some(.none), nil:
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
