import Foundation
import Jobs
import Locking
import Logging
import MediaCache

/// The frame cache directory that pictures asked for as files go to (the `frameCacheDirectory` setting): its
/// `FrameFileStore` is opened on first use (off the pool) and replaced when the setting changes, the old one's folder
/// removed. Owned by `FrameService`, which alone writes and deletes delivered files.
///
/// Lock: `state` guards the directory path and the open store; opening and switching (file system) run on
/// `BlockingQueue` threads outside it, one at a time (`gate`), so a directory is never opened twice.
final class FrameFiles: Sendable {
    private struct State {
        var path: String
        var store: FrameFileStore?
    }
    private let state: Mutex<State>
    private let gate = AsyncGate()
    private let logger: Logger

    init(path: String, logger: Logger) {
        state = Mutex(State(path: path, store: nil))
        self.logger = logger
    }

    /// The open store, if any: where evicted pictures' files are deleted (callable from any thread, never blocks).
    var openStore: FrameFileStore? { state.withLock { $0.store } }

    /// The store of the configured directory, opened if needed. Throws `CacheDirectory.Rejected` for a directory that
    /// cannot be used (checked again on every call until it can).
    func store() async throws -> FrameFileStore {
        if let store = openStore { return store }
        return try await gate.run {
            let (path, open) = state.withLock { ($0.path, $0.store) }
            if let open { return open }
            let opened = try await Self.open(path, logger: logger)
            state.withLock { $0.store = opened }
            return opened
        }
    }

    /// Switches to `path`: the new directory is opened first (a directory that cannot be used throws and changes
    /// nothing), then the old store is returned for its files to be forgotten and its folder removed.
    func switchDirectory(to path: String) async throws -> FrameFileStore? {
        try await gate.run {
            let standardized = URL(fileURLWithPath: path).standardizedFileURL.path
            let current = state.withLock { $0 }
            if URL(fileURLWithPath: current.path).standardizedFileURL.path == standardized, current.store != nil { return nil }
            let opened = try await Self.open(path, logger: logger)
            state.withLock { $0 = State(path: path, store: opened) }
            return current.store
        }
    }

    /// Removes this process's folder and ends the lease.
    func shutdown() async {
        let store = state.withLock { state in
            defer { state.store = nil }
            return state.store
        }
        await store?.shutdown()
    }

    private static func open(_ path: String, logger: Logger) async throws -> FrameFileStore {
        do {
            return try await BlockingQueue.run { try FrameFileStore(directoryPath: path, logger: logger) }
        } catch let rejected as CacheDirectory.Rejected {
            throw rejected
        } catch {
            throw CacheDirectory.Rejected(path: path, cause: .notWritable, reason: "its frames folder cannot be made (\(error))")
        }
    }
}
