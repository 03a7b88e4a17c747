import Foundation
import Locking
import TestSupport
import Testing

@testable import Jobs

/// Records what a queue tells its listeners, per job, in order.
final class EventLog: Sendable {
    enum Event: Equatable, Sendable {
        case began(String, JobStatus)
        case progressed(String, Double)
        case ended(String, String)
    }
    private let events = Mutex<[Event]>([])

    var all: [Event] { events.withLock { $0 } }

    func listener() -> JobListener<String, Int> {
        JobListener(
            began: { snapshot in self.events.withLock { $0.append(.began(snapshot.id, snapshot.status)) } },
            progressed: { snapshot in self.events.withLock { $0.append(.progressed(snapshot.id, snapshot.progress.percent)) } },
            ended: { snapshot, outcome in
                let name: String
                switch outcome {
                case .completed(let value): name = "completed \(value)"
                case .failed: name = "failed"
                case .cancelled: name = "cancelled"
                case .replaced(let by): name = "replaced by \(by)"
                }
                self.events.withLock { $0.append(.ended(snapshot.id, name)) }
            })
    }

    func events(of id: String) -> [Event] {
        all.filter {
            switch $0 {
            case .began(let job, _), .progressed(let job, _), .ended(let job, _): return job == id
            }
        }
    }

    /// Ids in the order their jobs started running.
    var startOrder: [String] {
        var order: [String] = []
        for case .progressed(let id, let percent) in all where percent == 1 && !order.contains(id) { order.append(id) }
        return order
    }
}

/// A piece of work the test controls: it reports 1 % when it starts, then waits for `open()` (or cancellation).
final class Gate: Sendable {
    private let opened = Mutex(false)
    private let started = Mutex(0)

    func open() { opened.withLock { $0 = true } }
    var startCount: Int { started.withLock { $0 } }

    func work(
        value: Int, claim: @escaping @Sendable () -> (any JobClaim)? = { NoClaim() },
        ended: @escaping @Sendable (JobOutcome<Int>) -> Void = { _ in }
    ) -> JobWork<Int> {
        JobWork(
            claim: claim,
            run: { context in
                self.started.withLock { $0 += 1 }
                let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
                #expect(name.hasPrefix("aura-"), "jobs run on threads of their own, not on the concurrency pool: \(name)")
                context.report(JobProgress(percent: 1))
                while !self.opened.withLock({ $0 }) {
                    if context.isCancelled { throw JobCancelled() }
                    usleep(1000)
                }
                if context.isCancelled { throw JobCancelled() }
                context.report(JobProgress(percent: 100))
                return value
            }, endedWithoutRunning: { _, outcome in ended(outcome) })
    }
}

func waitUntil(_ what: String, timeout: Duration = .seconds(60), _ condition: () async -> Bool) async throws {
    let deadline = TestDeadline.after(timeout)
    while ContinuousClock.now < deadline {
        if await condition() { return }
        try await Task.sleep(for: .milliseconds(2))
    }
    Issue.record("timed out waiting for \(what)")
    throw CancellationError()
}

@Suite(.timeLimit(.minutes(10)))
struct JobQueueTests {
    typealias Queue = JobQueue<String, Int>

    @Test func higherPriorityFirstThenArrivalOrder() async throws {
        let log = EventLog()
        let queue = Queue(maxConcurrent: 1, observer: log.listener())
        let blocker = Gate(), rest = Gate()
        rest.open()
        let first = try await queue.submit(.init(key: "blocker", label: "b", work: blocker.work(value: 0)))
        try await waitUntil("the blocker runs") { blocker.startCount == 1 }
        var tickets: [(String, Queue.Ticket)] = []
        for (key, priority) in [("low1", 0), ("high1", 5), ("low2", 0), ("high2", 5)] {
            tickets.append((key, try await queue.submit(.init(key: key, label: key, priority: priority, work: rest.work(value: priority)))))
        }
        #expect(await queue.counts == (4, 1))
        blocker.open()
        for (_, ticket) in tickets { _ = try await queue.result(of: ticket.snapshot.id) }
        let ids = Dictionary(uniqueKeysWithValues: tickets.map { ($0.0, $0.1.snapshot.id) })
        #expect(log.startOrder == [first.snapshot.id, ids["high1"]!, ids["high2"]!, ids["low1"]!, ids["low2"]!])
    }

    @Test func aSecondRequestJoinsRaisesPriorityAndAnotherVariantReplaces() async throws {
        let log = EventLog()
        let queue = Queue(maxConcurrent: 1)
        let blocker = Gate(), gate = Gate()
        _ = try await queue.submit(.init(key: "blocker", label: "b", work: blocker.work(value: 0)))
        let a = try await queue.submit(.init(key: "a", label: "a", priority: 0, listener: log.listener(), work: gate.work(value: 1)))
        let b = try await queue.submit(.init(key: "b", label: "b", priority: 1, work: gate.work(value: 2)))
        let joined = try await queue.submit(.init(key: "a", label: "a", priority: 7, listener: log.listener(), work: gate.work(value: 99)))
        #expect(joined.joined && joined.snapshot.id == a.snapshot.id && joined.snapshot.priority == 7)
        let lowered = try await queue.submit(.init(key: "a", label: "a", priority: -3, work: gate.work(value: 99)))
        #expect(lowered.snapshot.priority == 7, "joining never lowers the priority")
        // Both listeners of `a` got `began` before submit returned.
        #expect(log.events(of: a.snapshot.id) == [.began(a.snapshot.id, .queued), .began(a.snapshot.id, .queued)])

        let replacement = try await queue.submit(.init(key: "a", label: "a", variant: "other", work: gate.work(value: 3)))
        #expect(!replacement.joined && replacement.snapshot.id != a.snapshot.id)
        await #expect(throws: Queue.QueueError.replaced(jobId: a.snapshot.id, by: replacement.snapshot.id)) {
            try await queue.result(of: a.snapshot.id)
        }
        #expect(log.events(of: a.snapshot.id).last == .ended(a.snapshot.id, "replaced by \(replacement.snapshot.id)"))
        gate.open()
        blocker.open()
        #expect(try await queue.result(of: replacement.snapshot.id) == 3)
        #expect(try await queue.result(of: b.snapshot.id) == 2)
    }

    @Test func aQueuedJobCancelledEndsAtOnceAfterItsEndingIsRecorded() async throws {
        let log = EventLog()
        let queue = Queue(maxConcurrent: 1, observer: log.listener())
        let blocker = Gate(), gate = Gate()
        _ = try await queue.submit(.init(key: "blocker", label: "b", work: blocker.work(value: 0)))
        let recorded = Mutex<[String]>([])
        let queued = try await queue.submit(
            .init(
                key: "q", label: "q",
                work: gate.work(
                    value: 1,
                    ended: { outcome in
                        if case .cancelled = outcome { recorded.withLock { $0.append("cancelled") } }
                    })))
        let cancelled = await queue.cancel(id: queued.snapshot.id)
        #expect(cancelled?.accepted == true)
        #expect(recorded.withLock { $0 } == ["cancelled"], "the ending is recorded before cancel returns")
        #expect(log.events(of: queued.snapshot.id).last == .ended(queued.snapshot.id, "cancelled"))
        await #expect(throws: JobCancelled.self) { try await queue.result(of: queued.snapshot.id) }
        #expect(await queue.cancel(id: queued.snapshot.id) == nil, "an ended job is no longer active")
        #expect(gate.startCount == 0)
        blocker.open()
    }

    @Test func aRunningJobStopsWhenCancelledButNotOnceCommitted() async throws {
        let queue = Queue(maxConcurrent: 2)
        let gate = Gate()
        let running = try await queue.submit(.init(key: "r", label: "r", work: gate.work(value: 1)))
        try await waitUntil("the job runs") { gate.startCount == 1 }
        #expect(await queue.cancel(id: running.snapshot.id)?.accepted == true)
        await #expect(throws: JobCancelled.self) { try await queue.result(of: running.snapshot.id) }

        // A job that committed cannot be cancelled any more, and ends completed.
        let committing = Mutex(false), release = Mutex(false)
        let work = JobWork<Int>(run: { context in
            try context.commit {
                committing.withLock { $0 = true }
                while !release.withLock({ $0 }) { usleep(1000) }
                return 42
            }
        })
        let late = try await queue.submit(.init(key: "late", label: "late", work: work))
        try await waitUntil("the job commits") { committing.withLock { $0 } }
        #expect(await queue.cancel(id: late.snapshot.id)?.accepted == false)
        release.withLock { $0 = true }
        #expect(try await queue.result(of: late.snapshot.id) == 42)
    }

    @Test func aJobNobodyWantsAnyMoreIsCancelledButABackgroundOneGoesOn() async throws {
        let queue = Queue(maxConcurrent: 2)
        let gate = Gate()
        let foreground = try await queue.submit(.init(key: "fg", label: "fg", background: false, work: gate.work(value: 1)))
        let background = try await queue.submit(.init(key: "bg", label: "bg", background: true, work: gate.work(value: 2)))
        try await waitUntil("both run") { gate.startCount == 2 }
        let waitingFG = Task { try await queue.result(of: foreground.snapshot.id) }
        let waitingBG = Task { try await queue.result(of: background.snapshot.id) }
        try await Task.sleep(for: .milliseconds(50))
        waitingFG.cancel()
        waitingBG.cancel()
        await #expect(throws: CancellationError.self) { try await waitingFG.value }
        await #expect(throws: JobCancelled.self) { try await queue.result(of: foreground.snapshot.id) }
        #expect(await queue.activeJob(for: "bg") != nil, "a background job goes on without waiters")
        gate.open()
        #expect(try await queue.result(of: background.snapshot.id) == 2)
    }

    /// A request cancelled before its wait began (a busy machine can order it so) still lets go of the job.
    @Test func aWaiterCancelledBeforeItWaitsStillCancelsAJobNobodyWants() async throws {
        let queue = Queue(maxConcurrent: 1)
        let gate = Gate()
        defer { gate.open() }
        let foreground = try await queue.submit(.init(key: "fg", label: "fg", background: false, work: gate.work(value: 1)))
        try await waitUntil("it runs") { gate.startCount == 1 }
        let waiting = Task {
            while !Task.isCancelled { await Task.yield() }
            return try await queue.result(of: foreground.snapshot.id)
        }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        try await waitUntil("the job is cancelled") { await queue.outcome(of: foreground.snapshot.id) != nil }
        await #expect(throws: JobCancelled.self) { try await queue.result(of: foreground.snapshot.id) }
    }

    @Test func aJobWhoseWorkIsHeldElsewhereWaitsWithoutAWorkerAndShowsTheOthersProgress() async throws {
        let log = EventLog()
        let queue = Queue(maxConcurrent: 1, observer: log.listener(), waitPoll: .milliseconds(20))
        let heldElsewhere = Mutex(true)
        let claims = Mutex(0)
        let gate = Gate()
        gate.open()
        let work = JobWork<Int>(
            claim: {
                claims.withLock { $0 += 1 }
                return heldElsewhere.withLock { $0 } ? nil : NoClaim()
            },
            progressElsewhere: { _ in JobProgress(percent: 40, message: "elsewhere") },
            run: { _ in 7 })
        let waiting = try await queue.submit(.init(key: "shared", label: "s", work: work))
        try await waitUntil("the other process's progress shows") {
            await queue.snapshot(of: waiting.snapshot.id)?.progress.percent == 40
        }
        #expect(await queue.snapshot(of: waiting.snapshot.id)?.waitingElsewhere == true)
        // The waiting job takes no worker: another job runs meanwhile.
        let other = try await queue.submit(.init(key: "other", label: "o", work: gate.work(value: 1)))
        #expect(try await queue.result(of: other.snapshot.id) == 1)
        #expect(claims.withLock { $0 } >= 2, "the claim is asked for again")
        heldElsewhere.withLock { $0 = false }
        #expect(try await queue.result(of: waiting.snapshot.id) == 7)
    }

    @Test func aJobThatYieldsGivesItsWorkerBackAndRunsAgainOnceClaimed() async throws {
        let queue = Queue(maxConcurrent: 1, waitPoll: .milliseconds(20))
        let turns = Mutex(0)
        let mayRun = Mutex(false)
        let work = JobWork<Int>(
            claim: { mayRun.withLock { $0 } || turns.withLock { $0 } == 0 ? NoClaim() : nil },
            run: { _ in
                let turn = turns.withLock { turns in
                    turns += 1
                    return turns
                }
                if turn < 3 { throw JobYielded() }
                return turn
            })
        let yielding = try await queue.submit(.init(key: "helper", label: "h", work: work))
        try await waitUntil("the job yields once") { turns.withLock { $0 } == 1 }
        try await waitUntil("it waits again") { await queue.snapshot(of: yielding.snapshot.id)?.waitingElsewhere == true }
        #expect(await queue.snapshot(of: yielding.snapshot.id)?.status == .queued)
        // Its worker went back: another job runs meanwhile, and the yielded job is not run until claimed.
        let gate = Gate()
        gate.open()
        let other = try await queue.submit(.init(key: "other", label: "o", work: gate.work(value: 1)))
        #expect(try await queue.result(of: other.snapshot.id) == 1)
        #expect(turns.withLock { $0 } == 1)
        mayRun.withLock { $0 = true }
        #expect(try await queue.result(of: yielding.snapshot.id) == 3, "it ran again after each yield until it finished")

        // A job cancelled while it waits after a yield ends cancelled at once.
        turns.withLock { $0 = 0 }
        mayRun.withLock { $0 = false }
        let cancelled = try await queue.submit(.init(key: "helper", label: "h", work: work))
        try await waitUntil("the job yields") { await queue.snapshot(of: cancelled.snapshot.id)?.waitingElsewhere == true }
        #expect(await queue.cancel(id: cancelled.snapshot.id)?.accepted == true)
        await #expect(throws: JobCancelled.self) { try await queue.result(of: cancelled.snapshot.id) }
    }

    @Test func aFailedPrepareFailsTheJobAndAThrowingWorkFailsIt() async throws {
        struct Broken: Error {}
        let queue = Queue(maxConcurrent: 1)
        await #expect(throws: Broken.self) {
            _ = try await queue.submit(.init(key: "p", label: "p", work: JobWork(prepare: { _ in throw Broken() }, run: { _ in 1 })))
        }
        #expect(await queue.activeJob(for: "p") == nil)
        let failing = try await queue.submit(.init(key: "f", label: "f", work: JobWork(run: { _ in throw Broken() })))
        await #expect(throws: Broken.self) { try await queue.result(of: failing.snapshot.id) }
        if case .failed? = await queue.outcome(of: failing.snapshot.id) {} else { Issue.record("not failed") }
    }

    @Test func shutdownCancelsEverythingAndWaitsForRunningJobs() async throws {
        let log = EventLog()
        let queue = Queue(maxConcurrent: 1, observer: log.listener())
        let gate = Gate()
        let running = try await queue.submit(.init(key: "r", label: "r", work: gate.work(value: 1)))
        let queued = try await queue.submit(.init(key: "q", label: "q", work: gate.work(value: 2)))
        try await waitUntil("the first runs") { gate.startCount == 1 }
        await queue.shutdown()
        #expect(log.events(of: running.snapshot.id).last == .ended(running.snapshot.id, "cancelled"))
        #expect(log.events(of: queued.snapshot.id).last == .ended(queued.snapshot.id, "cancelled"))
        #expect(await queue.counts == (0, 0))
        await #expect(throws: Queue.QueueError.shutDown) {
            _ = try await queue.submit(.init(key: "late", label: "late", work: gate.work(value: 3)))
        }
        // Nothing is delivered after `ended`.
        for id in [running.snapshot.id, queued.snapshot.id] {
            let events = log.events(of: id)
            #expect(events.firstIndex { if case .ended = $0 { return true } else { return false } } == events.count - 1)
        }
    }
}
