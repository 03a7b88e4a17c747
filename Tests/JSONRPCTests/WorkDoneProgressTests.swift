import Foundation
import TestSupport
import Testing

@testable import JSONRPC

@Suite struct WorkDoneProgressTests {
    /// Found by the soak: a `generate` that joined a job at 97% began there, then the job's first report (0%,
    /// waiting for another process) went backwards.
    @Test func reportsNeverGoBelowTheBeginPercentage() throws {
        let sent = Locked<[JSONValue]>([])
        let writer = MessageWriter(
            output: InMemoryOutput { body in
                if let value = try? JSONParser.parse(body) { sent.withLock { $0.append(value) } }
            })
        let progress = WorkDoneProgress(token: .string("t"), sink: writer, title: "joined", cancellable: true, percentage: 97)
        progress.report(message: "another process is generating this proxy (0%)", percentage: 0)
        progress.report(percentage: 99)
        let percentages = sent.withLock { $0 }.compactMap { $0["params"]?["value"]?["percentage"] }
        #expect(percentages == [.int(97), .int(97), .int(99)])
    }
}
