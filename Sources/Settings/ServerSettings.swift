import Foundation
import Media
import Proxies

/// The settings a client can change: through `initializationOptions`, `updateSettings`, or CLI flags.
///
/// Invariant: a `ServerSettings` value is always valid (limits positive, directory absolute); patches are
/// validated as a whole before any member is applied, so a bad patch changes nothing. A member that does not fit is a
/// `SettingsError` naming it (the protocol answers it as -32602).
public struct ServerSettings: Encodable, Sendable, Equatable {
    /// The proxy cache directory (also holds the catalogue database). Default `$TMPDIR/aura-proxy-cache`.
    public var cacheDirectory: String
    /// The proxy cache's size limit in bytes. Default 10 GiB.
    public var cacheLimitBytes: Int64
    /// How many proxies are generated at once. Default 1 (each job uses every core).
    public var maxConcurrentJobs: Int
    /// `off` or `auto` (try hardware H.264 encoders, fall back to libx264); `"off"` and `"auto"` on the wire.
    public var hardwareAcceleration: HardwareAcceleration
    /// The waveform cache directory. Default `$TMPDIR/aura-waveform-cache`.
    public var waveformCacheDirectory: String
    /// Where pictures delivered as files go. Default `$TMPDIR/aura-frame-cache`.
    public var frameCacheDirectory: String
    /// The frame cache's byte budget (encoded pictures in memory). Default 100 MiB, the guide's.
    public var frameCacheBytes: Int64
    /// Whether `importMedia` queues proxies in the background (the guide's "Enable Proxy Generation"). Default true.
    /// Explicit `generate` requests work either way.
    public var proxyGenerationEnabled: Bool
    /// The quality `generate`, `status`, `cancelGeneration` and `importMedia` use when a request names none.
    /// Default "Preview".
    public var defaultQuality: ProxyQuality
    /// The guide's "Proxy Quality slider": proxies at this percentage of the source's size (25…75) instead of the
    /// quality's box, for requests that give no `scalePercent`. Default nil (the box).
    public var scalePercent: Int?
    /// The telemetry's sliding window in seconds (5…3600). Default 60.
    public var telemetryWindowSeconds: Int

    public static let defaultCacheLimitBytes: Int64 = 10 << 30
    public static let defaultFrameCacheBytes: Int64 = 100 << 20

    /// The guide's location: `$TMPDIR/aura-proxy-cache`, `/tmp/aura-proxy-cache` without TMPDIR.
    public static var defaultCacheDirectory: String { temporaryDirectory(named: "aura-proxy-cache") }

    /// The guide's location: `$TMPDIR/aura-waveform-cache`, `/tmp/aura-waveform-cache` without TMPDIR.
    public static var defaultWaveformCacheDirectory: String { temporaryDirectory(named: "aura-waveform-cache") }

    /// The guide's location: `$TMPDIR/aura-frame-cache`, `/tmp/aura-frame-cache` without TMPDIR.
    public static var defaultFrameCacheDirectory: String { temporaryDirectory(named: "aura-frame-cache") }

    private static func temporaryDirectory(named name: String) -> String {
        let temporary = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return URL(fileURLWithPath: temporary).appendingPathComponent(name).path
    }

    public init(
        cacheDirectory: String = ServerSettings.defaultCacheDirectory,
        cacheLimitBytes: Int64 = ServerSettings.defaultCacheLimitBytes,
        maxConcurrentJobs: Int = 1, hardwareAcceleration: HardwareAcceleration = .off,
        waveformCacheDirectory: String = ServerSettings.defaultWaveformCacheDirectory,
        frameCacheDirectory: String = ServerSettings.defaultFrameCacheDirectory,
        frameCacheBytes: Int64 = ServerSettings.defaultFrameCacheBytes, proxyGenerationEnabled: Bool = true,
        defaultQuality: ProxyQuality = .default, scalePercent: Int? = nil, telemetryWindowSeconds: Int = 60
    ) {
        self.cacheDirectory = cacheDirectory
        self.cacheLimitBytes = cacheLimitBytes
        self.maxConcurrentJobs = maxConcurrentJobs
        self.hardwareAcceleration = hardwareAcceleration
        self.waveformCacheDirectory = waveformCacheDirectory
        self.frameCacheDirectory = frameCacheDirectory
        self.frameCacheBytes = frameCacheBytes
        self.proxyGenerationEnabled = proxyGenerationEnabled
        self.defaultQuality = defaultQuality
        self.scalePercent = scalePercent
        self.telemetryWindowSeconds = telemetryWindowSeconds
    }

    /// Every member, `scalePercent` as null when unset (clients see every setting): the patch that sets them all.
    public func encode(to encoder: any Encoder) throws {
        try Patch(
            cacheDirectory: cacheDirectory, cacheLimitBytes: cacheLimitBytes, maxConcurrentJobs: maxConcurrentJobs,
            hardwareAcceleration: hardwareAcceleration.rawValue, waveformCacheDirectory: waveformCacheDirectory,
            frameCacheDirectory: frameCacheDirectory, frameCacheBytes: frameCacheBytes,
            proxyGenerationEnabled: proxyGenerationEnabled, defaultQuality: defaultQuality.rawValue,
            scalePercent: .some(scalePercent), telemetryWindowSeconds: telemetryWindowSeconds
        ).encode(to: encoder)
    }

    /// A partial update: members left out keep their value; `scalePercent: null` clears that setting. Unknown
    /// members are refused (-32602 naming them), as are wrong types.
    public struct Patch: Codable, Sendable, Equatable {
        public var cacheDirectory: String?
        public var cacheLimitBytes: Int64?
        public var maxConcurrentJobs: Int?
        public var hardwareAcceleration: String?
        public var waveformCacheDirectory: String?
        public var frameCacheDirectory: String?
        public var frameCacheBytes: Int64?
        public var proxyGenerationEnabled: Bool?
        public var defaultQuality: String?
        /// nil: left alone; `.some(nil)`: cleared (the quality's box).
        public var scalePercent: Int??
        public var telemetryWindowSeconds: Int?

        public init(
            cacheDirectory: String? = nil, cacheLimitBytes: Int64? = nil, maxConcurrentJobs: Int? = nil,
            hardwareAcceleration: String? = nil, waveformCacheDirectory: String? = nil,
            frameCacheDirectory: String? = nil, frameCacheBytes: Int64? = nil, proxyGenerationEnabled: Bool? = nil,
            defaultQuality: String? = nil, scalePercent: Int?? = nil, telemetryWindowSeconds: Int? = nil
        ) {
            self.cacheDirectory = cacheDirectory
            self.cacheLimitBytes = cacheLimitBytes
            self.maxConcurrentJobs = maxConcurrentJobs
            self.hardwareAcceleration = hardwareAcceleration
            self.waveformCacheDirectory = waveformCacheDirectory
            self.frameCacheDirectory = frameCacheDirectory
            self.frameCacheBytes = frameCacheBytes
            self.proxyGenerationEnabled = proxyGenerationEnabled
            self.defaultQuality = defaultQuality
            self.scalePercent = scalePercent
            self.telemetryWindowSeconds = telemetryWindowSeconds
        }

        private struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        public init(from decoder: any Decoder) throws {
            let names = Set(CodingKeys.allNames)
            let prefix = decoder.codingPath.map(\.stringValue).joined(separator: ".")
            for key in try decoder.container(keyedBy: AnyKey.self).allKeys where !names.contains(key.stringValue) {
                let field = prefix.isEmpty ? key.stringValue : "\(prefix).\(key.stringValue)"
                throw SettingsError("parameter '\(field)' is not a setting (settings: \(CodingKeys.allNames.joined(separator: ", ")))")
            }
            let container = try decoder.container(keyedBy: CodingKeys.self)
            cacheDirectory = try container.decodeIfPresent(String.self, forKey: .cacheDirectory)
            cacheLimitBytes = try container.decodeIfPresent(Int64.self, forKey: .cacheLimitBytes)
            maxConcurrentJobs = try container.decodeIfPresent(Int.self, forKey: .maxConcurrentJobs)
            hardwareAcceleration = try container.decodeIfPresent(String.self, forKey: .hardwareAcceleration)
            waveformCacheDirectory = try container.decodeIfPresent(String.self, forKey: .waveformCacheDirectory)
            frameCacheDirectory = try container.decodeIfPresent(String.self, forKey: .frameCacheDirectory)
            frameCacheBytes = try container.decodeIfPresent(Int64.self, forKey: .frameCacheBytes)
            proxyGenerationEnabled = try container.decodeIfPresent(Bool.self, forKey: .proxyGenerationEnabled)
            defaultQuality = try container.decodeIfPresent(String.self, forKey: .defaultQuality)
            if container.contains(.scalePercent) {
                scalePercent = .some(try container.decodeNil(forKey: .scalePercent) ? nil : try container.decode(Int.self, forKey: .scalePercent))
            }
            telemetryWindowSeconds = try container.decodeIfPresent(Int.self, forKey: .telemetryWindowSeconds)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(cacheDirectory, forKey: .cacheDirectory)
            try container.encodeIfPresent(cacheLimitBytes, forKey: .cacheLimitBytes)
            try container.encodeIfPresent(maxConcurrentJobs, forKey: .maxConcurrentJobs)
            try container.encodeIfPresent(hardwareAcceleration, forKey: .hardwareAcceleration)
            try container.encodeIfPresent(waveformCacheDirectory, forKey: .waveformCacheDirectory)
            try container.encodeIfPresent(frameCacheDirectory, forKey: .frameCacheDirectory)
            try container.encodeIfPresent(frameCacheBytes, forKey: .frameCacheBytes)
            try container.encodeIfPresent(proxyGenerationEnabled, forKey: .proxyGenerationEnabled)
            try container.encodeIfPresent(defaultQuality, forKey: .defaultQuality)
            if let scalePercent { try container.encode(scalePercent, forKey: .scalePercent) }
            try container.encodeIfPresent(telemetryWindowSeconds, forKey: .telemetryWindowSeconds)
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case cacheDirectory, cacheLimitBytes, maxConcurrentJobs, hardwareAcceleration, waveformCacheDirectory,
                frameCacheDirectory, frameCacheBytes, proxyGenerationEnabled, defaultQuality, scalePercent,
                telemetryWindowSeconds
            static var allNames: [String] { allCases.map(\.rawValue) }
        }

        /// This patch with `later`'s members over it.
        public func merged(with later: Patch) -> Patch {
            var result = self
            if let value = later.cacheDirectory { result.cacheDirectory = value }
            if let value = later.cacheLimitBytes { result.cacheLimitBytes = value }
            if let value = later.maxConcurrentJobs { result.maxConcurrentJobs = value }
            if let value = later.hardwareAcceleration { result.hardwareAcceleration = value }
            if let value = later.waveformCacheDirectory { result.waveformCacheDirectory = value }
            if let value = later.frameCacheDirectory { result.frameCacheDirectory = value }
            if let value = later.frameCacheBytes { result.frameCacheBytes = value }
            if let value = later.proxyGenerationEnabled { result.proxyGenerationEnabled = value }
            if let value = later.defaultQuality { result.defaultQuality = value }
            if let value = later.scalePercent { result.scalePercent = .some(value) }
            if let value = later.telemetryWindowSeconds { result.telemetryWindowSeconds = value }
            return result
        }
    }

    /// This value with `patch` applied, or a -32602 error naming the first invalid member.
    public func applying(_ patch: Patch, field prefix: String = "settings") throws -> ServerSettings {
        var updated = self
        if let directory = patch.cacheDirectory {
            updated.cacheDirectory = try Self.absolute(directory, field: "\(prefix).cacheDirectory")
        }
        if let directory = patch.waveformCacheDirectory {
            updated.waveformCacheDirectory = try Self.absolute(directory, field: "\(prefix).waveformCacheDirectory")
        }
        if let directory = patch.frameCacheDirectory {
            updated.frameCacheDirectory = try Self.absolute(directory, field: "\(prefix).frameCacheDirectory")
        }
        if let bytes = patch.frameCacheBytes {
            guard (0...(64 << 30)).contains(bytes) else {
                throw SettingsError("parameter '\(prefix).frameCacheBytes' must be between 0 and 68719476736 (64 GiB)")
            }
            updated.frameCacheBytes = bytes
        }
        if let limit = patch.cacheLimitBytes {
            guard limit > 0 else {
                throw SettingsError("parameter '\(prefix).cacheLimitBytes' must be positive")
            }
            updated.cacheLimitBytes = limit
        }
        if let jobs = patch.maxConcurrentJobs {
            guard (1...16).contains(jobs) else {
                throw SettingsError("parameter '\(prefix).maxConcurrentJobs' must be between 1 and 16")
            }
            updated.maxConcurrentJobs = jobs
        }
        if let acceleration = patch.hardwareAcceleration {
            guard let acceleration = HardwareAcceleration(rawValue: acceleration) else {
                throw SettingsError("parameter '\(prefix).hardwareAcceleration' must be \"off\" or \"auto\", not \(acceleration.debugDescription)")
            }
            updated.hardwareAcceleration = acceleration
        }
        if let enabled = patch.proxyGenerationEnabled { updated.proxyGenerationEnabled = enabled }
        if let quality = patch.defaultQuality {
            guard let quality = ProxyQuality(rawValue: quality) else {
                throw SettingsError(
                    "parameter '\(prefix).defaultQuality' must be one of \"Draft\", \"Preview\", \"High\", not \(quality.debugDescription)")
            }
            updated.defaultQuality = quality
        }
        if let percent = patch.scalePercent {
            if let percent, !(25...75).contains(percent) {
                throw SettingsError("parameter '\(prefix).scalePercent' must be between 25 and 75, or null")
            }
            updated.scalePercent = percent
        }
        if let seconds = patch.telemetryWindowSeconds {
            guard (5...3600).contains(seconds) else {
                throw SettingsError("parameter '\(prefix).telemetryWindowSeconds' must be between 5 and 3600")
            }
            updated.telemetryWindowSeconds = seconds
        }
        return updated
    }

    private static func absolute(_ directory: String, field: String) throws -> String {
        guard directory.hasPrefix("/") else {
            throw SettingsError("parameter '\(field)' must be an absolute path, not \(directory.debugDescription)")
        }
        return URL(fileURLWithPath: directory).standardizedFileURL.path
    }
}
