import Foundation
import Locking

/// A `MessageOutput` that hands each message body to a closure at once, in the order they are sent: a
/// connection in memory, with no pipe, framing or writer thread between the server and its peer.
///
/// Lock: `state` serialises deliveries, so `deliver` sees one message at a time; it must not send on this output.
public final class InMemoryOutput: MessageOutput {
    private let deliver: @Sendable (Data) -> Void
    private let state = Mutex(false)  // closed

    public init(deliver: @escaping @Sendable (Data) -> Void) {
        self.deliver = deliver
    }

    public func send(body: Data) -> Bool {
        state.withLock { closed in
            guard !closed else { return false }
            deliver(body)
            return true
        }
    }

    public var isClosed: Bool { state.withLock { $0 } }

    /// The peer goes away: later messages are dropped.
    public func close() {
        state.withLock { $0 = true }
    }

    /// Delivery is immediate: there is never anything to wait for.
    public func waitForRoom() {}

    @discardableResult
    public func flush(timeout: TimeInterval) -> Bool { true }
}
