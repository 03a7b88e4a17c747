import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns the process's standard streams for the protocol.
public enum StdioTransport {
    /// Keeps stdout for protocol frames only: duplicates the real stdout to a private descriptor for the
    /// protocol, then points descriptor 1 at stderr, so a stray `print` (ours or a library's) lands in the
    /// log instead of corrupting the stream. Also ignores SIGPIPE, so a vanished client is a write error,
    /// not a silent death. Returns the descriptor to write frames to.
    public static func takeOverStandardOutput() -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        let protocolOutput = dup(STDOUT_FILENO)
        guard protocolOutput >= 0 else { return STDOUT_FILENO }
        _ = fcntl(protocolOutput, F_SETFD, FD_CLOEXEC)
        dup2(STDERR_FILENO, STDOUT_FILENO)
        return protocolOutput
    }

    /// Reads frames from `input` until end of input, handing each to `dispatcher`; blocks the calling thread
    /// (run it on a thread of its own, never on the concurrency pool). Returns at end of input, after the
    /// dispatcher's clean shutdown has run.
    public static func serve(input: Int32, dispatcher: Dispatcher, maxContentLength: Int, logger: Logger) {
        var parser = FrameParser(maxContentLength: maxContentLength)
        let chunkSize = 1 << 16
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 1)
        defer { chunk.deallocate() }
        while true {
            let count = read(input, chunk.baseAddress, chunkSize)
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                logger.error("reading the protocol input failed: \(String(cString: strerror(errno)))")
                break
            }
            if count == 0 { break }
            parser.append(UnsafeRawBufferPointer(rebasing: chunk[0..<count]))
            while let event = parser.nextEvent() {
                // Back-pressure: while the client is behind reading responses, stop taking its requests.
                dispatcher.waitForRoom()
                switch event {
                case .frame(let body):
                    dispatcher.handle(body: body)
                case .badHeader(let reason):
                    logger.warning("skipping a header block: \(reason); resynchronising on the next Content-Length")
                case .oversized(let length, let limit):
                    dispatcher.refuseOversizedFrame(length: length, limit: limit)
                }
            }
        }
        if parser.bufferedByteCount > 0 {
            logger.warning("input ended inside a frame (\(parser.bufferedByteCount) bytes unread)")
        }
        let finished = DispatchSemaphore(value: 0)
        Task {
            await dispatcher.endOfInput()
            finished.signal()
        }
        finished.wait()
    }
}
