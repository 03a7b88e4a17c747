/// One holder at a time across suspension points (an actor alone lets a second call in while the first awaits):
/// callers queue in arrival order.
public actor AsyncGate {
    public init() {}

    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    /// Runs `body` while holding the gate.
    public func run<Result: Sendable>(_ body: @Sendable () async throws -> Result) async rethrows -> Result {
        await enter()
        defer { leave() }
        return try await body()
    }

    private func enter() async {
        guard held else {
            held = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func leave() {
        if waiting.isEmpty {
            held = false
        } else {
            waiting.removeFirst().resume()  // handed over: `held` stays true
        }
    }
}
