import JSONRPC
import Waveforms

extension WaveformError: ResponseErrorConvertible {
    public var responseError: ResponseError {
        ResponseError.invalidParams(description)
    }
}
