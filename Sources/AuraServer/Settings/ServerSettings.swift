import Foundation
import JSONRPC

/// The settings a client can change: through `initializationOptions`, `updateSettings`, or CLI flags.
///
/// Invariant: a `ServerSettings` value is always valid (limits positive, directory absolute); patches are
/// validated as a whole before any member is applied, so a bad patch changes nothing.
public struct ServerSettings: Codable, Sendable, Equatable {
    /// The proxy cache directory (also holds the catalogue database). Default `$TMPDIR/aura-proxy-cache`.
    public var cacheDirectory: String
    /// The proxy cache's size limit in bytes. Default 10 GiB.
    public var cacheLimitBytes: Int64
    /// How many proxies are generated at once. Default 1 (each job uses every core).
    public var maxConcurrentJobs: Int
    /// `"off"` or `"auto"` (try hardware H.264 encoders, fall back to libx264).
    public var hardwareAcceleration: String
    /// The waveform cache directory. Default `$TMPDIR/aura-waveform-cache`.
    public var waveformCacheDirectory: String
    /// Where pictures delivered as files go. Default `$TMPDIR/aura-frame-cache`.
    public var frameCacheDirectory: String
    /// The frame cache's byte budget (encoded pictures in memory). Default 100 MiB, the guide's.
    public var frameCacheBytes: Int64

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

    public init(cacheDirectory: String = ServerSettings.defaultCacheDirectory,
                cacheLimitBytes: Int64 = ServerSettings.defaultCacheLimitBytes,
                maxConcurrentJobs: Int = 1, hardwareAcceleration: String = "off",
                waveformCacheDirectory: String = ServerSettings.defaultWaveformCacheDirectory,
                frameCacheDirectory: String = ServerSettings.defaultFrameCacheDirectory,
                frameCacheBytes: Int64 = ServerSettings.defaultFrameCacheBytes) {
        self.cacheDirectory = cacheDirectory
        self.cacheLimitBytes = cacheLimitBytes
        self.maxConcurrentJobs = maxConcurrentJobs
        self.hardwareAcceleration = hardwareAcceleration
        self.waveformCacheDirectory = waveformCacheDirectory
        self.frameCacheDirectory = frameCacheDirectory
        self.frameCacheBytes = frameCacheBytes
    }

    /// A partial update: members left out keep their value.
    public struct Patch: Codable, Sendable, Equatable {
        public var cacheDirectory: String?
        public var cacheLimitBytes: Int64?
        public var maxConcurrentJobs: Int?
        public var hardwareAcceleration: String?
        public var waveformCacheDirectory: String?
        public var frameCacheDirectory: String?
        public var frameCacheBytes: Int64?

        public init(cacheDirectory: String? = nil, cacheLimitBytes: Int64? = nil, maxConcurrentJobs: Int? = nil,
                    hardwareAcceleration: String? = nil, waveformCacheDirectory: String? = nil,
                    frameCacheDirectory: String? = nil, frameCacheBytes: Int64? = nil) {
            self.cacheDirectory = cacheDirectory
            self.cacheLimitBytes = cacheLimitBytes
            self.maxConcurrentJobs = maxConcurrentJobs
            self.hardwareAcceleration = hardwareAcceleration
            self.waveformCacheDirectory = waveformCacheDirectory
            self.frameCacheDirectory = frameCacheDirectory
            self.frameCacheBytes = frameCacheBytes
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
                throw ResponseError.invalidParams("parameter '\(prefix).frameCacheBytes' must be between 0 and 68719476736 (64 GiB)")
            }
            updated.frameCacheBytes = bytes
        }
        if let limit = patch.cacheLimitBytes {
            guard limit > 0 else {
                throw ResponseError.invalidParams("parameter '\(prefix).cacheLimitBytes' must be positive")
            }
            updated.cacheLimitBytes = limit
        }
        if let jobs = patch.maxConcurrentJobs {
            guard (1...16).contains(jobs) else {
                throw ResponseError.invalidParams("parameter '\(prefix).maxConcurrentJobs' must be between 1 and 16")
            }
            updated.maxConcurrentJobs = jobs
        }
        if let acceleration = patch.hardwareAcceleration {
            guard ["off", "auto"].contains(acceleration) else {
                throw ResponseError.invalidParams("parameter '\(prefix).hardwareAcceleration' must be \"off\" or \"auto\", not \(acceleration.debugDescription)")
            }
            updated.hardwareAcceleration = acceleration
        }
        return updated
    }

    private static func absolute(_ directory: String, field: String) throws -> String {
        guard directory.hasPrefix("/") else {
            throw ResponseError.invalidParams("parameter '\(field)' must be an absolute path, not \(directory.debugDescription)")
        }
        return URL(fileURLWithPath: directory).standardizedFileURL.path
    }
}
