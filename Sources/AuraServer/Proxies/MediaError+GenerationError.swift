import JSONRPC
import Media

extension MediaError {
    /// A failed generation as the client sees it: media causes keep their codes; libav failures are -32022
    /// with `data: {cause: "generationFailed", jobId}`.
    func generationError(jobId: String) -> ResponseError {
        if case .ffmpeg(let operation, _, let message) = self {
            return ResponseError(
                code: ServerErrorCode.generationFailed,
                message: "Proxy generation failed in \(operation): \(message)",
                data: .object(["cause": .string("generationFailed"), "jobId": .string(jobId)]))
        }
        return responseError
    }
}
