// Shows why `BlockingQueue.run` hands its result over through a lock (README "Sanitizers"):
//
//   cd scripts/tsan-handover && swift build --sanitize=thread
//   .build/debug/tsan-handover plain   # the result through the continuation only: data races reported (Swift 6.3, Linux)
//   .build/debug/tsan-handover lock    # the same, plus a pthread mutex: no report
//
// An object is built on a thread of its own and handed to an actor that is busy with other callers. The thread
// resumes the continuation before the awaiting task has finished suspending (the sleep makes that likely), and the
// runtime then passes the result on a path ThreadSanitizer does not see: the actor's reads of the fields are reported
// as racing with the writes in `init`, though the continuation orders them.
import Foundation

final class Built: Sendable {
    let number: Int
    let digits: [Int]
    init(_ number: Int) { self.number = number; digits = [number, number + 1] }
}

final class HandOver<T>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var value: T?
    init() { pthread_mutex_init(&mutex, nil) }
    func put(_ newValue: T) { pthread_mutex_lock(&mutex); value = newValue; pthread_mutex_unlock(&mutex) }
    func take() -> T { pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }; return value! }
}

let throughLock = CommandLine.arguments.dropFirst().first == "lock"

func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    if throughLock {
        let handOver = HandOver<T>()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread { handOver.put(body()); done.resume() }.start()
            usleep(2000)
        }
        return handOver.take()
    }
    return await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
        usleep(2000)
    }
}

actor Reader {
    var total = 0
    func make(_ number: Int) async -> Int {
        let built = await onThread { Built(number) }
        total += built.number + built.digits[1]
        return built.number
    }
    func poke() { total += 1 }
}

let reader = Reader()
await withTaskGroup(of: Void.self) { group in
    for number in 0..<100 {
        group.addTask { _ = await reader.make(number) }
        group.addTask { await reader.poke() }
    }
}
print(throughLock ? "through a lock:" : "through the continuation only:", await reader.total)
