import JSONRPC
import MediaCache

extension CacheDirectory.Rejected: ResponseErrorConvertible {
    public var responseError: ResponseError {
        ResponseError(
            code: ServerErrorCode.cacheDirectoryRejected, message: description,
            data: .object(["path": .string(path), "cause": .string(cause.rawValue)]))
    }
}
