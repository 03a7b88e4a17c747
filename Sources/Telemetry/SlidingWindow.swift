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

/// A histogram of the values recorded over a sliding window (HdrHistogram per step, merged when read).
///
/// Values are unsigned integers in the caller's unit (microseconds for latencies, hundredths for rates), clamped
/// to `highest`; two significant digits (1 % precision). Not thread-safe: its owner's lock guards it.
struct SlidingHistogram: Sendable {
    private var steps: [(number: Int64, histogram: Histogram<UInt32>)?]
    private let highest: UInt64
    private(set) var clock: WindowClock

    init(windowSeconds: Double, highest: UInt64) {
        self.highest = highest
        clock = WindowClock(windowSeconds: windowSeconds)
        steps = Array(repeating: nil, count: WindowClock.slices)
    }

    mutating func record(_ value: UInt64, at now: Double) {
        let number = clock.stepNumber(at: now)
        let slot = Int(number.magnitude % UInt64(WindowClock.slices))
        if steps[slot]?.number != number {
            steps[slot] = (number, Histogram<UInt32>(lowestDiscernibleValue: 1, highestTrackableValue: highest,
                                                     numberOfSignificantValueDigits: .two))
        }
        _ = steps[slot]!.histogram.record(min(max(value, 1), highest))
    }

    /// Everything recorded inside the window at `now`, nil when nothing was.
    func merged(at now: Double) -> Histogram<UInt32>? {
        var result: Histogram<UInt32>? = nil
        for case let step? in steps where clock.contains(step.number, at: now) && step.histogram.totalCount > 0 {
            if result == nil { result = step.histogram } else { result!.add(step.histogram) }
        }
        return result
    }

    /// Drops everything and takes a new window length.
    mutating func reset(windowSeconds: Double) {
        clock = WindowClock(windowSeconds: windowSeconds)
        steps = Array(repeating: nil, count: WindowClock.slices)
    }
}

/// Sums over a sliding window (counts of hits and misses, errors, dropped frames), `width` sums per step.
struct SlidingSums: Sendable {
    private var steps: [(number: Int64, sums: [Double])?]
    private let width: Int
    private(set) var clock: WindowClock

    init(windowSeconds: Double, width: Int) {
        self.width = width
        clock = WindowClock(windowSeconds: windowSeconds)
        steps = Array(repeating: nil, count: WindowClock.slices)
    }

    mutating func add(_ values: [Double], at now: Double) {
        let number = clock.stepNumber(at: now)
        let slot = Int(number.magnitude % UInt64(WindowClock.slices))
        if steps[slot]?.number != number { steps[slot] = (number, Array(repeating: 0, count: width)) }
        for (index, value) in values.prefix(width).enumerated() { steps[slot]!.sums[index] += value }
    }

    /// The sums inside the window at `now` (zeros when nothing was added).
    func sums(at now: Double) -> [Double] {
        var total = Array(repeating: 0.0, count: width)
        for case let step? in steps where clock.contains(step.number, at: now) {
            for index in 0..<width { total[index] += step.sums[index] }
        }
        return total
    }

    mutating func reset(windowSeconds: Double) {
        clock = WindowClock(windowSeconds: windowSeconds)
        steps = Array(repeating: nil, count: WindowClock.slices)
    }
}
