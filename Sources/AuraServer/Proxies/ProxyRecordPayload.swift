import Foundation
import Proxies

/// A catalogue record as the protocol shows it (`ProxyRecord` in protocol/spec.md).
struct ProxyRecordPayload: Encodable, Sendable {
    var sourcePath: String
    var sourceFingerprint: String
    var quality: String
    var proxyPath: String
    var width: Int
    var height: Int
    var videoBitRate: Int
    var audioBitRate: Int?
    var durationSeconds: Double
    var proxySizeBytes: Int64
    var sourceSizeBytes: Int64
    var status: String
    var progressPercent: Double
    var error: String?
    var createdAt: String
    var lastAccessedAt: String
    var jobId: String?
    var scalePercent: Int?
    var frameRate: Double?
    var hasAudio: Bool
    var videoEncoder: String?

    init(_ record: ProxyRecord) {
        sourcePath = record.sourcePath
        sourceFingerprint = record.sourceFingerprint
        quality = record.quality
        proxyPath = record.proxyPath
        width = record.width
        height = record.height
        videoBitRate = record.videoBitRate
        audioBitRate = record.audioBitRate
        durationSeconds = record.durationSeconds
        proxySizeBytes = record.proxySizeBytes
        sourceSizeBytes = record.sourceSizeBytes
        status = record.status.rawValue
        progressPercent = (record.progressPercent * 10).rounded() / 10
        error = record.error
        createdAt = Self.timestamp(record.createdAt)
        lastAccessedAt = Self.timestamp(record.lastAccessedAt)
        jobId = record.jobId
        scalePercent = record.scalePercent
        frameRate = record.frameRate
        hasAudio = record.hasAudio
        videoEncoder = record.videoEncoder
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
