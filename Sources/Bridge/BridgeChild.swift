import Foundation
import JSONRPC
import Logging

/// One WebSocket connection's server: a child `aura-media serve` whose stdout frames become text messages and
/// whose stdin gets each text message as a frame.
///
/// The child is ended when the socket closes: `shutdown` and `exit` are sent (harmless when the client already
/// did), and it is killed after the grace period. When the child ends first, `childEnded` reports how.
final class BridgeChild: @unchecked Sendable {
    // @unchecked: `process` and the pipes are set up once in `init`; writes to stdin are serialised by `writeLock`.
    private let process: Process
    private let input: FileHandle
    private let output: FileHandle
    private let writeLock = NSLock()
    private let logger: Logger
    let id: Int32

    init(executable: String, arguments: [String], logger: Logger) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.standardError
        try process.run()
        input = stdin.fileHandleForWriting
        output = stdout.fileHandleForReading
        id = process.processIdentifier
        self.logger = logger
    }

    /// The child's messages (bodies of its frames), in order, until its stdout ends.
    func messages() -> AsyncStream<Data> {
        let output = self.output
        return AsyncStream(bufferingPolicy: .unbounded) { continuation in
            Thread.detachNewThread {
                var parser = FrameParser()
                while true {
                    let data = output.availableData
                    if data.isEmpty { break }
                    parser.append(data)
                    while let event = parser.nextEvent() {
                        if case .frame(let body) = event { continuation.yield(body) }
                    }
                }
                continuation.finish()
            }
        }
    }

    /// Sends one message to the child as a frame. False when the child no longer reads.
    @discardableResult
    func send(_ body: Data) -> Bool {
        writeLock.lock()
        defer { writeLock.unlock() }
        var frame = Data("Content-Length: \(body.count)\r\n\r\n".utf8)
        frame.append(body)
        do {
            try input.write(contentsOf: frame)
            return true
        } catch {
            return false
        }
    }

    /// How the child ended, once it has.
    func waitForExit() async -> String {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { [process] in
                process.waitUntilExit()
                let how =
                    process.terminationReason == .uncaughtSignal
                    ? "was killed by signal \(process.terminationStatus)"
                    : "exited with status \(process.terminationStatus)"
                continuation.resume(returning: "aura-media \(how)")
            }
        }
    }

    var isRunning: Bool { process.isRunning }

    /// `shutdown`, `exit`, then a kill after `grace` seconds if it is still running.
    func end(grace: Double) async {
        guard process.isRunning else { return }
        send(Data(#"{"jsonrpc":"2.0","id":"bridge-shutdown","method":"shutdown"}"#.utf8))
        send(Data(#"{"jsonrpc":"2.0","method":"exit"}"#.utf8))
        try? input.close()
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning {
            logger.warning("aura-media \(id) did not exit within \(grace) s of shutdown: killing it")
            kill(id, SIGKILL)
        }
    }
}
