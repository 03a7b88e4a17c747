import Foundation
import JSONRPC
import Media
import MediaCache
import Proxies

/// A quality name in params: exactly "Draft", "Preview" or "High"; anything else is -32602 naming the field.
struct QualityParam: Decodable, Sendable {
    let preset: ProxyPreset

    init(_ preset: ProxyPreset) { self.preset = preset }

    init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let preset = ProxyPreset(rawValue: name) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "expected one of Draft, Preview, High, not \(name.debugDescription)"))
        }
        self.preset = preset
    }
}

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

extension ProxyServiceError: ResponseErrorConvertible {
    public var responseError: ResponseError {
        switch self {
        case .jobNotFound(let id):
            return ResponseError(code: ServerErrorCode.jobNotFound, message: description,
                                 data: .object(["cause": .string("jobNotFound"), "jobId": .string(id)]))
        case .noJobForSlot(let path, let quality):
            return ResponseError(code: ServerErrorCode.jobNotFound, message: description,
                                 data: .object(["cause": .string("jobNotFound"), "sourcePath": .string(path), "quality": .string(quality)]))
        case .replaced(let id, let newID):
            return ResponseError(code: ResponseError.Code.contentModified, message: description,
                                 data: .object(["cause": .string("replaced"), "jobId": .string(id), "replacedBy": .string(newID)]))
        }
    }
}

extension CacheDirectory.Rejected: ResponseErrorConvertible {
    public var responseError: ResponseError {
        ResponseError(code: ServerErrorCode.cacheDirectoryRejected, message: description,
                      data: .object(["path": .string(path), "cause": .string(cause.rawValue)]))
    }
}
