import JSONRPC
import Settings

extension SettingsError: ResponseErrorConvertible {
    /// A setting that does not fit is an invalid param: -32602 with the message naming the member.
    public var responseError: ResponseError { .invalidParams(message) }
}
