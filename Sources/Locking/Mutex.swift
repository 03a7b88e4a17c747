#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a lock, with the API of the standard library's `Synchronization.Mutex` (`withLock`), on a
/// `pthread_mutex_t`.
///
/// Why not the standard one: on Linux its contended path is a raw futex syscall that ThreadSanitizer cannot see, so
/// every contended `withLock` is reported as a race ("Swift access race") although the value is consistent — a
/// two-line program shows it (README "Sanitizers"). ThreadSanitizer intercepts pthread mutexes, so with this lock
/// its reports are real ones. The cost is one allocation per lock; uncontended locking costs the same.
///
/// Every piece of shared state in the server is one `Mutex` (or an actor); the body of `withLock` must not block
/// or call out to code that may take another lock.
public final class Mutex<Value>: @unchecked Sendable {
    // @unchecked: `value` is only read or written between `pthread_mutex_lock` and `pthread_mutex_unlock`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ initialValue: Value) {
        value = initialValue
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock.
    public func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
