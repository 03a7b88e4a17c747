import Foundation

/// The one way tests start other programs (the ffmpeg CLI for fixtures, ffprobe, the `aura-media` binary, util-linux
/// tools).
///
/// Every child is set up and started under one lock. Foundation's `Process.run()` hands each child one end of a
/// socket pair and learns of the child's exit when that end closes; the descriptors a child inherits are chosen
/// when it is started, so a second `run()` (or a `Pipe()` made) on another thread at that moment can leak into a
/// child that lives on — a test server — keeping another child's socket open: that child is then never reaped,
/// `waitUntilExit()` never returns, and Swift Testing's exit-test monitor thread spins on the zombie. Starting
/// children one at a time, pipes included, keeps every descriptor with the child it belongs to.
public enum Spawn {
    private static let lock = NSLock()

    /// Creates (with its pipes) and starts a process under the spawn lock. Children never read the user's saved
    /// settings: `AURA_MEDIA_CONFIG_DIR` points them at an empty folder of the test run (a server given
    /// `--config-dir` uses its own).
    public static func start<Result>(_ body: () throws -> Result) rethrows -> Result {
        try lock.withLock {
            _ = isolatedConfiguration
            return try body()
        }
    }

    private static let isolatedConfiguration: Void = {
        setenv("AURA_MEDIA_CONFIG_DIR", TestFiles.scratch("config-of-children").path, 1)
    }()

    /// What a finished tool printed.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: String
        public var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// `run` on a thread of its own: what an async test calls, so that waiting for the program never holds one of
    /// the concurrency pool's few threads.
    public static func runOffPool(_ executable: String, _ arguments: [String]) async throws -> Output {
        try await OffPool.run { try run(executable, arguments) }
    }

    /// Runs `executable` with `arguments` to completion, capturing its output. Blocks: from async code, `runOffPool`.
    public static func run(_ executable: String, _ arguments: [String]) throws -> Output {
        let (process, out, err) = try start { () throws -> (Process, Pipe, Pipe) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            try process.run()
            return (process, out, err)
        }
        // Both pipes are drained at once, so a large output on one cannot fill it and stall the child.
        let errorData = Locked(Data())
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let data = err.fileHandleForReading.readDataToEndOfFile()
            errorData.withLock { $0 = data }
            done.signal()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: stdout,
            stderr: String(decoding: errorData.withLock { $0 }, as: UTF8.self))
    }
}

/// A lock-protected value shared between test threads.
public final class Locked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched under `lock`.
    private var value: Value
    private let lock = NSLock()
    public init(_ value: Value) { self.value = value }
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
