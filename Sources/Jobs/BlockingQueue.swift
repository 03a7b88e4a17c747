import Foundation
import Locking

/// Runs blocking work — libav calls, SQLite, fsync, file reads — on threads of its own instead of the Swift
/// concurrency pool or an actor's executor.
///
/// Why its own threads: the concurrency pool has one thread per core (two on this project's machines), and a
/// Dispatch concurrent queue also runs only about one CPU-busy item per core at a time — a quick catalogue lookup
/// behind two long probes would wait for them. Here every item gets a thread at once (up to `maxThreads`; beyond
/// that items wait in arrival order), and idle threads are kept a while for the next item. A C call cannot be
/// interrupted, so a cancelled caller still waits for `body` to return: no work outlives its request.
///
/// Lock: `condition` guards the pending items and the thread counts.
public enum BlockingQueue {
    /// Threads at most; more items wait for one to be free.
    public static let maxThreads = 64
    /// How long an idle thread waits for work before it ends.
    static let idleSeconds: TimeInterval = 10

    private final class Pool: @unchecked Sendable {
        let condition = NSCondition()
        var pending: [@Sendable () -> Void] = []
        var head = 0
        var threads = 0
        /// Threads waiting for work that no submitter has woken yet.
        var idle = 0
        /// Wake-ups handed to idle threads and not yet taken.
        var wakeups = 0

        func submit(_ item: @escaping @Sendable () -> Void) {
            condition.lock()
            pending.append(item)
            var spawn = false
            if idle > 0 {
                idle -= 1
                wakeups += 1
                condition.signal()
            } else if threads < BlockingQueue.maxThreads {
                threads += 1
                spawn = true
            }
            condition.unlock()
            if spawn {
                let thread = Thread { [self] in work() }
                thread.stackSize = 4 << 20
                thread.start()
            }
        }

        private func work() {
            ThreadName.setCurrent("aura-blocking")
            condition.lock()
            while true {
                if head < pending.count {
                    let item = pending[head]
                    head += 1
                    if head > 256 && head * 2 > pending.count {
                        pending.removeFirst(head)
                        head = 0
                    }
                    condition.unlock()
                    item()
                    condition.lock()
                    continue
                }
                idle += 1
                let deadline = Date().addingTimeInterval(BlockingQueue.idleSeconds)
                while wakeups == 0 {
                    if !condition.wait(until: deadline) && wakeups == 0 {
                        idle -= 1
                        threads -= 1
                        condition.unlock()
                        return
                    }
                }
                wakeups -= 1
            }
        }
    }

    private static let pool = Pool()

    /// Runs `body` on a blocking-work thread and returns (or throws) its result.
    ///
    /// The result is handed over through a lock as well as the continuation. When `body` ends before the caller
    /// has finished suspending, the Swift runtime (6.3, Linux) passes the result on a path ThreadSanitizer cannot
    /// see, and everything `body` wrote — an object it built, say — is reported as raced when the caller reads it
    /// (`scripts/tsan-handover` shows it; README "Sanitizers"). The lock adds no ordering the continuation lacks;
    /// it makes the ordering visible, so the sanitizer's reports stay real ones.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let handOver = Mutex<Result<T, any Error>?>(nil)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            pool.submit {
                let result = Result { try body() }
                handOver.withLock { $0 = result }
                done.resume()
            }
        }
        return try handOver.withLock { $0! }.get()
    }
}
