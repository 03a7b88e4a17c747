import Proxies

/// What importing one file did: the guide's "proxies are generated automatically in the background when you import
/// media". Shared by `importMedia` and `aura-media import`.
public struct ImportItem: Encodable, Sendable {
    public enum Status: String, Encodable, Sendable {
        /// Probed; its proxy and/or waveform are queued, or were ready already.
        case imported
        /// Nothing to do: missing, not media, a still image, a folder without media.
        case skipped
        /// Probing or queueing failed (`error` says why).
        case failed
    }

    /// What happened to one product (proxy or waveform).
    public enum Action: String, Encodable, Sendable {
        /// A background job was queued (`proxyJobId` names the proxy's).
        case queued
        /// A job for it was queued or running already; the import joined it.
        case alreadyQueued
        /// Ready and fresh: nothing to do.
        case fresh
        /// Proxy generation is off (`proxyGenerationEnabled: false`).
        case disabled
        /// The file has no video (proxy) or no audio (waveform).
        case notApplicable
        /// The video is no larger than the quality's box: the source is its own proxy (`reason` says so).
        case notNeeded
    }

    public var path: String
    public var status: Status
    /// "video" (with or without audio), "audio" (audio only), "image" (a still image); absent when not media.
    public var kind: String?
    public var proxy: Action?
    public var proxyJobId: String?
    /// The quality queued (or found fresh).
    public var quality: ProxyQuality?
    public var waveform: Action?
    /// How many audio streams the file has: each one's waveform is analysed (`waveform` says whether any was queued).
    public var audioStreams: Int?
    /// Why nothing (or not everything) was queued, in words: "missing", "not media", "audio only: waveform only",
    /// "proxy already fresh"…
    public var reason: String?
    /// Why a failed item failed: the error a request for the file would have met (a `MediaError`, a
    /// `ProxyServiceError`…). Not encoded here: the protocol layer writes it as the JSON-RPC error object that request
    /// would have got.
    public var error: (any Error & Sendable)?

    public init(
        path: String, status: Status, kind: String? = nil, proxy: Action? = nil, proxyJobId: String? = nil,
        quality: ProxyQuality? = nil, waveform: Action? = nil, reason: String? = nil, error: (any Error & Sendable)? = nil
    ) {
        self.path = path
        self.status = status
        self.kind = kind
        self.proxy = proxy
        self.proxyJobId = proxyJobId
        self.quality = quality
        self.waveform = waveform
        self.reason = reason
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case path, status, kind, proxy, proxyJobId, quality, waveform, audioStreams, reason
    }
}
