import JSONRPC
import Jobs
import Media

/// `probe {path}` → `MediaInfo`: the container and every stream of a local media file.
struct ProbeRequest: RequestType {
    typealias Response = MediaInfoPayload
    static let method = "probe"

    var path: String

    static func register(in table: inout MethodTable) {
        table.register(Self.self) { params, _ in
            guard !params.path.isEmpty else {
                throw ResponseError.invalidParams("parameter 'path' must not be empty")
            }
            return MediaInfoPayload(try await BlockingQueue.run { try MediaProbe.probe(path: params.path) })
        }
    }
}
