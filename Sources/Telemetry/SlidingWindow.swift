import Histogram

/// Where a moment falls in a sliding window: the window is cut into `slices` equal steps, and a value recorded
/// at time t belongs to step ⌊t / step⌋. A window read at time t covers the current step and the `slices − 1`
/// before it, so it spans between `window − step` and `window` seconds back.
struct WindowClock: Sendable, Equatable {
    static let slices = 12
    let step: Double

    init(windowSeconds: Double) {
        step = max(windowSeconds, 1) / Double(Self.slices)
    }

    func stepNumber(at seconds: Double) -> Int64 { Int64((seconds / step).rounded(.down)) }

    /// Whether a step recorded as `number` is still inside the window at `now`.
    func contains(_ number: Int64, at now: Double) -> Bool {
        let current = stepNumber(at: now)
        return number <= current && number > current - Int64(Self.slices)
    }
}

/// One value per step of a sliding window, in a ring: a step's slot is reused (started afresh) when time has
/// moved a whole window on. Not thread-safe: its owner's lock guards it.
struct SlidingSteps<Value: Sendable>: Sendable {
    private var steps: [(number: Int64, value: Value)?]
    private(set) var clock: WindowClock

    init(windowSeconds: Double) {
        clock = WindowClock(windowSeconds: windowSeconds)
        steps = Array(repeating: nil, count: WindowClock.slices)
    }

    /// Changes the value of the step `now` falls in, starting it with `fresh()` when the step is new.
    mutating func update(at now: Double, fresh: () -> Value, _ change: (inout Value) -> Void) {
        let number = clock.stepNumber(at: now)
        let slot = Int(number.magnitude % UInt64(WindowClock.slices))
        if steps[slot]?.number != number { steps[slot] = (number, fresh()) }
        change(&steps[slot]!.value)
    }

    /// The values of the steps inside the window at `now`.
    func values(at now: Double) -> [Value] {
        steps.compactMap { step in step.flatMap { clock.contains($0.number, at: now) ? $0.value : nil } }
    }

    /// Drops everything and takes a new window length.
    mutating func reset(windowSeconds: Double) {
        self = SlidingSteps(windowSeconds: windowSeconds)
    }
}

/// A histogram of the values recorded over a sliding window (HdrHistogram per step, merged when read).
///
/// Values are unsigned integers in the caller's unit (microseconds for latencies, hundredths for rates), clamped
/// to 1…`highest`; two significant digits (1 % precision).
struct SlidingHistogram: Sendable {
    private var steps: SlidingSteps<Histogram<UInt32>>
    private let highest: UInt64

    init(windowSeconds: Double, highest: UInt64) {
        self.highest = highest
        steps = SlidingSteps(windowSeconds: windowSeconds)
    }

    mutating func record(_ value: UInt64, at now: Double) {
        let highest = self.highest
        steps.update(
            at: now,
            fresh: {
                Histogram<UInt32>(lowestDiscernibleValue: 1, highestTrackableValue: highest, numberOfSignificantValueDigits: .two)
            }
        ) { histogram in
            _ = histogram.record(min(max(value, 1), highest))
        }
    }

    /// Everything recorded inside the window at `now`, nil when nothing was.
    func merged(at now: Double) -> Histogram<UInt32>? {
        var result: Histogram<UInt32>? = nil
        for histogram in steps.values(at: now) where histogram.totalCount > 0 {
            if result == nil { result = histogram } else { result!.add(histogram) }
        }
        return result
    }

    mutating func reset(windowSeconds: Double) { steps.reset(windowSeconds: windowSeconds) }
}

/// Sums over a sliding window (counts of hits and misses, errors, dropped frames), `width` sums per step.
struct SlidingSums: Sendable {
    private var steps: SlidingSteps<[Double]>
    private let width: Int

    init(windowSeconds: Double, width: Int) {
        self.width = width
        steps = SlidingSteps(windowSeconds: windowSeconds)
    }

    mutating func add(_ values: [Double], at now: Double) {
        let width = self.width
        steps.update(at: now, fresh: { Array(repeating: 0, count: width) }) { sums in
            for (index, value) in values.prefix(width).enumerated() { sums[index] += value }
        }
    }

    /// The sums inside the window at `now` (zeros when nothing was added).
    func sums(at now: Double) -> [Double] {
        steps.values(at: now).reduce(into: Array(repeating: 0.0, count: width)) { total, sums in
            for index in 0..<width { total[index] += sums[index] }
        }
    }

    mutating func reset(windowSeconds: Double) { steps.reset(windowSeconds: windowSeconds) }
}
