import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Frames on their way to the client, written to a file descriptor by one thread of their own.
///
/// Back-pressure lives here. Producers (request tasks, job threads) never block: `enqueue` appends and returns,
/// so no thread of the concurrency pool ever sits in `write(2)`. The one that waits is the input reader: it
/// calls `waitForRoom()` before handling each frame, which blocks while more than `limits.frames` frames or
/// `limits.bytes` bytes are waiting, until the client has read the queue down to half of that. A client that
/// stops reading therefore stops the server reading too, and memory stays bounded by what was accepted before
/// the pause; once it reads again every frame is delivered, in order.
///
/// When a write fails (the client closed its end: EPIPE) the queue closes: waiting frames are dropped, later
/// ones are refused, every waiter is released, and `onClose` is called once, so that the server can stop the work
/// nobody will hear about (a client that stopped reading may never close its end of our input).
///
/// Lock: `condition` guards `state`. The writer thread waits on it for frames, the reader for room, `flush` for
/// an empty queue.
public final class OutputQueue: @unchecked Sendable {
    /// When the reader must wait.
    public struct Limits: Sendable, Equatable {
        /// Frames waiting to be written before the reader pauses.
        public var frames: Int
        /// Bytes waiting to be written before the reader pauses (a soft bound: one large frame is still accepted).
        public var bytes: Int

        public init(frames: Int, bytes: Int) {
            self.frames = frames
            self.bytes = bytes
        }

        /// 256 frames or 16 MiB.
        public static let standard = Limits(frames: 256, bytes: 16 << 20)
    }

    private struct State {
        var frames: [Data] = []
        /// Index of the first frame not yet taken by the writer (the array is compacted lazily).
        var head = 0
        var queuedBytes = 0
        /// Frames taken by the writer but not yet fully written (they still count as waiting).
        var inWrite = 0
        var inWriteBytes = 0
        var closed = false
        var stopped = false

        var waitingFrames: Int { frames.count - head + inWrite }
        var waitingBytes: Int { queuedBytes + inWriteBytes }
    }

    public let limits: Limits
    private let fileDescriptor: Int32
    /// Called once, on the writer thread, when a write fails and the queue closes.
    private let onClose: @Sendable (_ reason: String) -> Void
    private let condition = NSCondition()
    private var state = State()

    /// Starts the writer thread.
    /// - Parameter fileDescriptor: the protocol output (normally a duplicate of the original stdout).
    /// - Parameter onClose: called once, with `strerror`'s words, when a write fails and the queue closes.
    public init(fileDescriptor: Int32, limits: Limits = .standard, onClose: @escaping @Sendable (_ reason: String) -> Void = { _ in }) {
        self.fileDescriptor = fileDescriptor
        self.limits = limits
        self.onClose = onClose
        let thread = Thread { [self] in writeLoop() }
        thread.name = "aura.output"
        thread.start()
    }

    /// Whether the client has gone (a write failed); later frames are dropped.
    public var isClosed: Bool { locked { $0.closed } }

    /// Frames accepted but not yet written.
    public var waitingFrameCount: Int { locked { $0.waitingFrames } }

    /// Appends a whole frame. Never blocks. Returns false (dropping the frame) once the client has gone.
    @discardableResult
    public func enqueue(_ frame: Data) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !state.closed else { return false }
        state.frames.append(frame)
        state.queuedBytes += frame.count
        condition.broadcast()
        return true
    }

    /// Blocks while the queue is over its limits, until it is down to half of them (or the client has gone).
    /// Called by the input reader only.
    public func waitForRoom() {
        condition.lock()
        defer { condition.unlock() }
        guard isFull(state) else { return }
        while !state.closed && (state.waitingFrames > limits.frames / 2 || state.waitingBytes > limits.bytes / 2) {
            condition.wait()
        }
    }

    /// Waits until every accepted frame was written (or the client has gone), at most `timeout` seconds.
    /// Returns whether the queue emptied.
    @discardableResult
    public func flush(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !state.closed && state.waitingFrames > 0 {
            if !condition.wait(until: deadline) { break }
        }
        return state.closed || state.waitingFrames == 0
    }

    /// Ends the writer thread once the frames accepted so far are written (for tests that make many queues).
    public func stop() {
        locked { $0.stopped = true }
    }

    private func isFull(_ state: State) -> Bool {
        state.waitingFrames >= limits.frames || state.waitingBytes >= limits.bytes
    }

    private func locked<Result>(_ body: (inout State) -> Result) -> Result {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        return body(&state)
    }

    /// Takes every waiting frame (up to 1 MiB at a time), writes them with one `write(2)` loop, repeats.
    private func writeLoop() {
        while true {
            condition.lock()
            while state.head == state.frames.count && !state.closed && !state.stopped {
                condition.wait()
            }
            if state.closed || (state.stopped && state.head == state.frames.count) {
                condition.unlock()
                return
            }
            var batch = Data()
            var count = 0
            while state.head < state.frames.count && (batch.isEmpty || batch.count + state.frames[state.head].count <= 1 << 20) {
                batch.append(state.frames[state.head])
                state.frames[state.head] = Data()
                state.head += 1
                count += 1
            }
            state.queuedBytes -= batch.count
            state.inWrite = count
            state.inWriteBytes = batch.count
            if state.head > 1024 && state.head * 2 > state.frames.count {
                state.frames.removeFirst(state.head)
                state.head = 0
            }
            condition.unlock()

            let failure = writeAll(batch)
            let ok = failure == nil

            condition.lock()
            state.inWrite = 0
            state.inWriteBytes = 0
            if !ok {
                state.closed = true
                state.frames.removeAll()
                state.head = 0
                state.queuedBytes = 0
            }
            condition.broadcast()
            condition.unlock()
            if let failure {
                onClose(failure)
                return
            }
        }
    }

    /// Writes all of `bytes`; returns why it could not (nil: written).
    private func writeAll(_ bytes: Data) -> String? {
        bytes.withUnsafeBytes { raw -> String? in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(fileDescriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    return String(cString: strerror(errno))
                }
                offset += written
            }
            return nil
        }
    }
}
