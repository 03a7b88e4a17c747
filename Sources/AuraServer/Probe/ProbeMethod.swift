import JSONRPC
import Media
import Jobs

/// `probe {path}` → `MediaInfo`: the container and every stream of a local media file.
struct ProbeParams: Decodable, Sendable {
    var path: String
}

enum ProbeMethod {
    static func register(in table: inout MethodTable) {
        table.register("probe", ProbeParams.self) { params, _ in
            guard !params.path.isEmpty else {
                throw ResponseError.invalidParams("parameter 'path' must not be empty")
            }
            return try await BlockingQueue.run { try MediaProbe.probe(path: params.path) }
        }
    }
}
