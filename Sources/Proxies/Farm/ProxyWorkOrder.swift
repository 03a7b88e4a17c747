import Foundation
import Media
import MediaCache

/// A proxy to be made in parts by any process that reaches its source and a shared cache folder (a farm's workers):
/// what it is (the content, the quality, the settings' identity) and how it is cut (the plan), decided once by whoever
/// asked for it, so that every maker cuts the same segments.
///
/// Its parts are numbered: `0..<plan.segments.count` are the video segments, and `plan.segments.count` is the audio
/// (every audio stream, one continuous part) when the source has any.
public struct ProxyWorkOrder: Sendable, Codable, Equatable {
    public var sourcePath: String
    public var quality: ProxyQuality
    public var scalePercent: Int?
    public var fingerprint: SourceFingerprint
    /// `ProxySegmentBuild.settingsKey` of the settings (`ProxyPartMaker.settings`): a part belongs to a proxy only when
    /// its maker computes the same key.
    public var settingsKey: String
    public var plan: SegmentPlan

    public init(
        sourcePath: String, quality: ProxyQuality, scalePercent: Int?, fingerprint: SourceFingerprint, settingsKey: String, plan: SegmentPlan
    ) {
        self.sourcePath = sourcePath
        self.quality = quality
        self.scalePercent = scalePercent
        self.fingerprint = fingerprint
        self.settingsKey = settingsKey
        self.plan = plan
    }

    public var slot: ProxySlot { ProxySlot(fingerprintKey: fingerprint.key, quality: quality) }
    public var partCount: Int { plan.segments.count + (plan.audioStreams > 0 ? 1 : 0) }
    public var audioPart: Int? { plan.audioStreams > 0 ? plan.segments.count : nil }

    /// What a part is: a video segment and the time it covers, or the audio (which covers the whole source).
    public func describe(part number: Int) -> (isAudio: Bool, start: Double, end: Double) {
        if number < plan.segments.count {
            let range = plan.timeRange(of: plan.segments[number])
            return (false, range.lowerBound, range.upperBound)
        }
        return (true, 0, plan.durationSeconds)
    }

    /// The part's file name in the proxy's folder: the maker's id is part of it, so two makers of one part (one that
    /// lost its lease and one that took the part over) never write one file.
    func fileName(ofPart number: Int, maker: String) -> String {
        number < plan.segments.count
            ? "\(settingsKey)-\(String(format: "%05d", number)).\(maker).m4s" : "\(settingsKey)-audio.\(maker).m4a"
    }

    /// The folder of the proxy's parts, in the farm's area of the shared cache.
    var folder: String { "\(slot.fingerprintKey)-\(quality)-\(settingsKey).segments" }

    /// The joined proxy's file name, in the farm's area.
    var proxyFileName: String { "\(slot.fingerprintKey)-\(quality)-\(settingsKey).mp4" }
}

/// A part a maker finished: its file in the proxy's folder and what it holds.
public struct ProxyMadePart: Sendable, Codable, Equatable {
    public var number: Int
    public var fileName: String
    public var sizeBytes: Int64
    public var checksum: String
    public var frameCount: Int64
    /// `SegmentFacts` as JSON: the picture size, the encoder, the audio's bit rate and tracks.
    public var facts: String

    public init(number: Int, fileName: String, sizeBytes: Int64, checksum: String, frameCount: Int64, facts: String) {
        self.number = number
        self.fileName = fileName
        self.sizeBytes = sizeBytes
        self.checksum = checksum
        self.frameCount = frameCount
        self.facts = facts
    }
}

/// A joined proxy in the shared cache.
public struct ProxyJoinedFile: Sendable, Codable, Equatable {
    /// The proxy's path relative to the shared cache folder: machines mount the folder at different places.
    public var relativePath: String
    public var sizeBytes: Int64
    public var width: Int
    public var height: Int
    public var frameCount: Int64
    public var durationSeconds: Double
    public var videoEncoder: String
    public var hasAudio: Bool

    public init(
        relativePath: String, sizeBytes: Int64, width: Int, height: Int, frameCount: Int64, durationSeconds: Double, videoEncoder: String,
        hasAudio: Bool
    ) {
        self.relativePath = relativePath
        self.sizeBytes = sizeBytes
        self.width = width
        self.height = height
        self.frameCount = frameCount
        self.durationSeconds = durationSeconds
        self.videoEncoder = videoEncoder
        self.hasAudio = hasAudio
    }
}
