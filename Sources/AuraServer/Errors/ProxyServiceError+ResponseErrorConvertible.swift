import JSONRPC
import Proxies

extension ProxyServiceError: ResponseErrorConvertible {
    public var responseError: ResponseError {
        switch self {
        case .jobNotFound(let id):
            return ResponseError(
                code: ServerErrorCode.jobNotFound, message: description,
                data: .object(["cause": .string("jobNotFound"), "jobId": .string(id)]))
        case .noJobForSlot(let path, let quality):
            return ResponseError(
                code: ServerErrorCode.jobNotFound, message: description,
                data: .object(["cause": .string("jobNotFound"), "sourcePath": .string(path), "quality": .string(quality.rawValue)]))
        case .replaced(let id, let newId):
            return ResponseError(
                code: ResponseError.Code.contentModified, message: description,
                data: .object(["cause": .string("replaced"), "jobId": .string(id), "replacedBy": .string(newId)]))
        case .notNeeded:
            // `generate` answers this as a result (`status: "notNeeded"`); a method that cannot refuses the request.
            return ResponseError.invalidParams(description)
        }
    }
}
