import Foundation
import TestSupport
import Testing

@testable import JSONRPC

/// `OutputQueue`: whole frames in order from many threads, the reader paused while the client is behind, and
/// nothing blocked once the client has gone.
@Suite(.timeLimit(.minutes(10)))
struct OutputQueueTests {
    /// A pipe whose write end the queue writes; the read end is the "client".
    static func pipePair() -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        return (fds[0], fds[1])
    }

    /// Reads every frame until `count` bodies arrived.
    static func readFrames(_ fd: Int32, count: Int) -> [String] {
        var parser = FrameParser()
        var bodies: [String] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bodies.count < count {
            let got = read(fd, &buffer, buffer.count)
            if got <= 0 { break }
            parser.append(buffer[0..<got])
            while case .frame(let body)? = parser.nextEvent() { bodies.append(String(decoding: body, as: UTF8.self)) }
        }
        return bodies
    }

    @Test func framesFromManyThreadsArriveWholeAndInOrderPerThread() async throws {
        let (readEnd, writeEnd) = Self.pipePair()
        defer {
            close(readEnd)
            close(writeEnd)
        }
        let queue = OutputQueue(fileDescriptor: writeEnd)
        defer { queue.stop() }
        async let reader = OffPool.run { Self.readFrames(readEnd, count: 8 * 500) }
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for index in 0..<500 {
                queue.enqueue(FrameEncoder.frame(Data("\(thread):\(index):\(String(repeating: "y", count: index % 97))".utf8)))
            }
        }
        let bodies = await reader
        #expect(bodies.count == 4000)
        for thread in 0..<8 {
            let indices = bodies.compactMap { body -> Int? in
                let parts = body.split(separator: ":")
                return parts[0] == "\(thread)" ? Int(parts[1]) : nil
            }
            #expect(indices == Array(0..<500))
        }
        #expect(queue.flush(timeout: 5))
    }

    @Test func theReaderWaitsWhileTheClientIsBehindAndGoesOnWhenItReads() async throws {
        let (readEnd, writeEnd) = Self.pipePair()
        defer {
            close(readEnd)
            close(writeEnd)
        }
        let queue = OutputQueue(fileDescriptor: writeEnd, limits: .init(frames: 8, bytes: 1 << 20))
        defer { queue.stop() }
        // 40 frames of 16 KiB: more than the pipe holds, so most wait in the queue.
        for index in 0..<40 { queue.enqueue(FrameEncoder.frame(Data(String(repeating: "\(index % 10)", count: 16_384).utf8))) }
        let resumed = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            queue.waitForRoom()
            resumed.signal()
        }
        #expect(resumed.wait(timeout: .now() + 0.3) == .timedOut, "the reader must wait while the client reads nothing")
        #expect(queue.waitingFrameCount > 8)
        // The client reads: the reader goes on once the queue is down to half its limit; nothing was lost.
        let bodies = Self.readFrames(readEnd, count: 40)
        #expect(resumed.wait(timeout: .now() + 5) == .success)
        #expect(bodies.count == 40 && bodies.allSatisfy { $0.count == 16_384 })
        #expect(queue.flush(timeout: 5))
        #expect(queue.waitingFrameCount == 0)
    }

    @Test func aClientThatHasGoneReleasesTheReaderAndDropsFrames() throws {
        signal(SIGPIPE, SIG_IGN)
        let (readEnd, writeEnd) = Self.pipePair()
        defer { close(writeEnd) }
        let queue = OutputQueue(fileDescriptor: writeEnd, limits: .init(frames: 2, bytes: 1 << 20))
        for _ in 0..<10 { queue.enqueue(FrameEncoder.frame(Data(count: 100_000))) }
        close(readEnd)
        queue.waitForRoom()  // returns: the client is gone
        #expect(queue.flush(timeout: 5))
        #expect(queue.isClosed)
        #expect(!queue.enqueue(FrameEncoder.frame(Data("late".utf8))))
        #expect(queue.waitingFrameCount == 0)
    }
}
