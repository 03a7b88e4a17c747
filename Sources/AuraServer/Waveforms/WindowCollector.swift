import Locking

/// Windows (as JSON text) gathered for a response without a partial-result token.
final class WindowCollector: Sendable {
    private let windows = Mutex<[(index: Int, json: [UInt8])]>([])
    func add(index: Int, _ json: [UInt8]) { windows.withLock { $0.append((index, json)) } }
    var inTimeOrder: [[UInt8]] { windows.withLock { $0.sorted { $0.index < $1.index }.map(\.json) } }
}
