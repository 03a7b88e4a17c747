import Frames
import JSONRPC

extension FrameError: ResponseErrorConvertible {
    public var responseError: ResponseError { ResponseError.invalidParams(description) }
}
