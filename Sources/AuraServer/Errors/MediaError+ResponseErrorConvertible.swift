import JSONRPC
import Media

extension MediaError: ResponseErrorConvertible {
    /// The JSON-RPC form of a media error: a documented code, the sentence describing it, and
    /// `data: {path, cause}` so clients need not parse the message.
    public var responseError: ResponseError {
        func error(_ code: Int, _ path: String?, _ cause: String) -> ResponseError {
            var data: [String: JSONValue] = ["cause": .string(cause)]
            if let path { data["path"] = .string(path) }
            return ResponseError(code: code, message: description, data: .object(data))
        }
        switch self {
        case .fileNotFound(let path): return error(ServerErrorCode.fileNotFound, path, "fileNotFound")
        case .notARegularFile(let path): return error(ServerErrorCode.notARegularFile, path, "notARegularFile")
        case .permissionDenied(let path): return error(ServerErrorCode.permissionDenied, path, "permissionDenied")
        case .emptyFile(let path): return error(ServerErrorCode.emptyFile, path, "emptyFile")
        case .notMedia(let path, _): return error(ServerErrorCode.notMedia, path, "notMedia")
        case .truncated(let path, _): return error(ServerErrorCode.truncatedMedia, path, "truncated")
        case .corrupt(let path, _): return error(ServerErrorCode.corruptMedia, path, "corrupt")
        case .unsupported(let path, _): return error(ServerErrorCode.unsupportedMedia, path, "unsupported")
        case .diskFull(let path): return error(ServerErrorCode.diskFull, path, "diskFull")
        case .ioFailure(let path, _): return error(ServerErrorCode.ioError, path, "ioFailure")
        case .cancelled: return .cancelled
        case .ffmpeg: return error(ResponseError.Code.requestFailed, nil, "libav")
        }
    }
}
