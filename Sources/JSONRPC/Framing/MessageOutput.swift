import Foundation

/// Where a connection's outgoing messages go: the `OutputQueue` that frames them onto the client's pipe, or an
/// `InMemoryOutput` (tests, or a server embedded in another process's memory).
public protocol MessageOutput: AnyObject, Sendable {
    /// Queues one message body. Never blocks. Returns false (dropping it) once the peer has gone.
    func send(body: Data) -> Bool
    /// Whether the peer has gone; later messages are dropped.
    var isClosed: Bool { get }
    /// Called by the input reader before each message: blocks while the peer is behind (back-pressure).
    func waitForRoom()
    /// Waits until every message sent was delivered (or the peer has gone), at most `timeout` seconds.
    @discardableResult func flush(timeout: TimeInterval) -> Bool
}

extension OutputQueue: MessageOutput {
    /// Frames the body (`Content-Length` header) and queues it.
    public func send(body: Data) -> Bool {
        enqueue(FrameEncoder.frame(body))
    }
}
