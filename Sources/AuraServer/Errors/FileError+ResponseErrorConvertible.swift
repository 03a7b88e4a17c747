import FileErrors
import JSONRPC
import Media

extension FileError: ResponseErrorConvertible {
    /// A file-layer error that reaches the protocol edge (a lock or settings file that cannot be written) answers
    /// exactly as the `MediaError` of the same name: same code, message and `data`.
    public var responseError: ResponseError { MediaError(self).responseError }
}
