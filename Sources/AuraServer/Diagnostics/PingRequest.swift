import Foundation
import JSONRPC

/// `ping {echo?, delayMilliseconds?, workDoneToken?}` → `{echo, serverTime}`.
///
/// A liveness check for clients and bridges, and the cheapest round trip for the transport benchmark.
/// `delayMilliseconds` (0…60000) holds the answer back, reporting work-done progress while it waits, so
/// clients can exercise concurrency, progress and `$/cancelRequest` against a real server.
struct PingRequest: RequestType {
    typealias Response = PingResult
    static let method = "ping"
    static let maxDelayMilliseconds = 60_000

    var echo: JSONValue?
    var delayMilliseconds: Int?

    static func register(in table: inout MethodTable) {
        table.register(Self.self) { params, context in
            let delay = params.delayMilliseconds ?? 0
            guard (0...maxDelayMilliseconds).contains(delay) else {
                throw ResponseError.invalidParams("parameter 'delayMilliseconds' must be between 0 and \(maxDelayMilliseconds)")
            }
            if delay > 0 {
                let progress = context.beginProgress(title: "ping", cancellable: true, percentage: 0)
                defer { progress?.end() }
                let steps = 10
                for step in 1...steps {
                    try await Task.sleep(for: .milliseconds(delay / steps))
                    progress?.report(message: "waiting", percentage: step * 100 / steps)
                }
            }
            return PingResult(echo: params.echo, serverTime: Date().timeIntervalSince1970)
        }
    }
}

struct PingResult: Encodable, Sendable {
    var echo: JSONValue?
    /// Seconds since 1970 on the server's clock.
    var serverTime: Double
}
