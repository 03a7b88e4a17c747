import Locking

/// What is known of each file's pictures: the spans [start, end) of pictures decoded so far, so a request for a
/// time can find its picture (and its cached image) without decoding.
///
/// Lock: `state` guards the timelines. Bounded: the most recently used `maxFiles` files, `maxSpans` spans each.
final class FrameTimeline: Sendable {
    private struct Spans {
        var starts: [Double] = []
        var ends: [Double] = []
        var lastUse: UInt64 = 0
    }

    private let state = Mutex((files: [String: Spans](), clock: UInt64(0)))
    private let maxFiles: Int
    private let maxSpans: Int

    init(maxFiles: Int = 64, maxSpans: Int = 500_000) {
        self.maxFiles = maxFiles
        self.maxSpans = maxSpans
    }

    /// Records that the picture starting at `start` is shown until `end`.
    func record(file: String, start: Double, end: Double) {
        guard end > start else { return }
        state.withLock { state in
            state.clock += 1
            var spans = state.files.removeValue(forKey: file) ?? Spans()
            spans.lastUse = state.clock
            let index = Self.insertionIndex(of: start, in: spans.starts)
            if index < spans.starts.count, spans.starts[index] == start {
                spans.ends[index] = end
            } else if spans.starts.count < maxSpans {
                spans.starts.insert(start, at: index)
                spans.ends.insert(end, at: index)
            }
            state.files[file] = spans
            if state.files.count > maxFiles, let oldest = state.files.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                state.files.removeValue(forKey: oldest.key)
            }
        }
    }

    /// The start of the picture shown at `time`, when known.
    func picture(file: String, at time: Double) -> Double? {
        state.withLock { state in
            guard let spans = state.files[file] else { return nil }
            let index = Self.insertionIndex(of: time, in: spans.starts)
            // The span starting at `time`, or the one before it.
            if index < spans.starts.count, spans.starts[index] == time { return time }
            guard index > 0, time < spans.ends[index - 1] else { return nil }
            return spans.starts[index - 1]
        }
    }

    func removeAll() {
        state.withLock { $0.files = [:] }
    }

    /// First index whose start is not below `value`.
    private static func insertionIndex(of value: Double, in starts: [Double]) -> Int {
        var low = 0, high = starts.count
        while low < high {
            let mid = (low + high) / 2
            if starts[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
