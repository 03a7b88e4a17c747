import Foundation
import Locking
import Media

/// What names a cached picture: the content of the file read, the picture's presentation time, and the shape
/// of the image.
public struct FrameKey: Sendable, Hashable, CustomStringConvertible {
    /// The fingerprint key of the file read (source or proxy).
    public var file: String
    /// Presentation time in microseconds.
    public var micros: Int64
    public var width: Int
    public var height: Int
    public var format: ImageFormat
    public var quality: Int

    public var description: String { "\(file)-\(micros)-\(width)x\(height)-\(format.rawValue)\(format == .jpeg ? "-q\(quality)" : "")" }

    /// A name safe for a file.
    var fileName: String {
        let ext = format == .jpeg ? "jpg" : format == .png ? "png" : "rgba"
        return "\(description).\(ext)"
    }
}

/// Encoded pictures in memory, least recently used first out, bounded in bytes.
///
/// Protection: frames of a file within its playhead window (`protect`) are evicted only by explicit requests,
/// and only when nothing unprotected is left; preloading never evicts them (an insert that would have to is
/// refused). An entry may have a file (file delivery); evicting the entry deletes it.
///
/// Lock: `state` guards everything; nothing blocking runs under it (files are deleted after it is released).
final class FrameCache: Sendable {
    struct Entry {
        var bytes: [UInt8]
        var time: Double
        var file: URL?
        var newer: FrameKey?
        var older: FrameKey?
    }

    private struct State {
        var entries: [FrameKey: Entry] = [:]
        var newest: FrameKey?
        var oldest: FrameKey?
        var bytes = 0
        var limit: Int
        var hits = 0
        var misses = 0
        var evictions = 0
        var preloaded = 0
        /// Playhead windows: file key → protected seconds.
        var protected: [String: ClosedRange<Double>] = [:]
    }

    private let state: Mutex<State>

    init(limitBytes: Int) {
        state = Mutex(State(limit: limitBytes))
    }

    /// A cached picture (made the most recent), or nil.
    func lookup(_ key: FrameKey) -> (bytes: [UInt8], time: Double, file: URL?)? {
        state.withLock { state in
            guard let entry = state.entries[key] else { return nil }
            Self.touch(key, in: &state)
            return (entry.bytes, entry.time, entry.file)
        }
    }

    /// Counts how a request was answered: from the cache (a hit) or by decoding (a miss). Once per request.
    func count(hit: Bool) {
        state.withLock { state in
            if hit { state.hits += 1 } else { state.misses += 1 }
        }
    }

    /// Whether a picture is cached (no counting, no reordering).
    func contains(_ key: FrameKey) -> Bool {
        state.withLock { $0.entries[key] != nil }
    }

    /// Adds a picture, evicting least recently used ones to make room; returns the files of evicted entries (to
    /// delete outside the lock) and whether it was added. A preloaded picture is refused rather than evict a
    /// protected one; one larger than the whole budget is never kept.
    func insert(_ key: FrameKey, bytes: [UInt8], time: Double, preloaded: Bool) -> (added: Bool, evictedFiles: [URL]) {
        state.withLock { state in
            if state.entries[key] != nil {
                Self.touch(key, in: &state)
                return (true, [])
            }
            guard bytes.count <= state.limit else { return (false, []) }
            var victims: [FrameKey] = []
            var freed = 0
            let needed = state.bytes + bytes.count - state.limit
            if needed > 0 {
                // Unprotected entries first, oldest first; protected ones only for an explicit request.
                var cursor = state.oldest
                while let key = cursor, freed < needed {
                    let entry = state.entries[key]!
                    if !Self.isProtected(key, entry.time, state) {
                        victims.append(key)
                        freed += entry.bytes.count
                    }
                    cursor = entry.newer
                }
                if freed < needed {
                    guard !preloaded else { return (false, []) }
                    cursor = state.oldest
                    while let key = cursor, freed < needed {
                        let entry = state.entries[key]!
                        if Self.isProtected(key, entry.time, state) {
                            victims.append(key)
                            freed += entry.bytes.count
                        }
                        cursor = entry.newer
                    }
                }
            }
            var files: [URL] = []
            for victim in victims {
                if let file = Self.remove(victim, from: &state) { files.append(file) }
                state.evictions += 1
            }
            state.entries[key] = Entry(bytes: bytes, time: time, file: nil, newer: nil, older: state.newest)
            if let newest = state.newest { state.entries[newest]?.newer = key }
            state.newest = key
            if state.oldest == nil { state.oldest = key }
            state.bytes += bytes.count
            if preloaded { state.preloaded += 1 }
            return (true, files)
        }
    }

    /// Records the file written for an entry (file delivery); false when the entry is gone meanwhile.
    func attach(_ file: URL, to key: FrameKey) -> Bool {
        state.withLock { state in
            guard state.entries[key] != nil else { return false }
            state.entries[key]?.file = file
            return true
        }
    }

    /// Protects the pictures of `file` within `window` (the playhead's neighbourhood); nil lifts it.
    func protect(file: String, window: ClosedRange<Double>?) {
        state.withLock { $0.protected[file] = window }
    }

    /// A new budget; evicts down to it at once (protection aside: the budget wins). Returns evicted files.
    func setLimit(_ limit: Int) -> [URL] {
        state.withLock { state in
            state.limit = limit
            var files: [URL] = []
            while state.bytes > limit, let oldest = state.oldest {
                if let file = Self.remove(oldest, from: &state) { files.append(file) }
                state.evictions += 1
            }
            return files
        }
    }

    /// Empties the cache; returns the entries and bytes dropped and their files.
    func removeAll() -> (entries: Int, bytes: Int, files: [URL]) {
        state.withLock { state in
            let result = (state.entries.count, state.bytes, state.entries.values.compactMap(\.file))
            state.entries = [:]
            state.newest = nil
            state.oldest = nil
            state.bytes = 0
            return result
        }
    }

    /// Drops every entry whose file lies in `directory` from its file (the directory is going away).
    func detachFiles(under directory: URL) {
        state.withLock { state in
            for (key, entry) in state.entries where entry.file?.path.hasPrefix(directory.path + "/") == true {
                state.entries[key]?.file = nil
            }
        }
    }

    func stats() -> (entries: Int, bytes: Int, limit: Int, hits: Int, misses: Int, evictions: Int, preloaded: Int) {
        state.withLock { ($0.entries.count, $0.bytes, $0.limit, $0.hits, $0.misses, $0.evictions, $0.preloaded) }
    }

    // MARK: - The list

    private static func isProtected(_ key: FrameKey, _ time: Double, _ state: State) -> Bool {
        state.protected[key.file]?.contains(time) ?? false
    }

    private static func touch(_ key: FrameKey, in state: inout State) {
        guard state.newest != key, let entry = state.entries[key] else { return }
        unlink(key, entry, in: &state)
        state.entries[key]?.older = state.newest
        state.entries[key]?.newer = nil
        if let newest = state.newest { state.entries[newest]?.newer = key }
        state.newest = key
        if state.oldest == nil { state.oldest = key }
    }

    private static func remove(_ key: FrameKey, from state: inout State) -> URL? {
        guard let entry = state.entries[key] else { return nil }
        unlink(key, entry, in: &state)
        state.entries.removeValue(forKey: key)
        state.bytes -= entry.bytes.count
        return entry.file
    }

    private static func unlink(_ key: FrameKey, _ entry: Entry, in state: inout State) {
        if let older = entry.older { state.entries[older]?.newer = entry.newer } else { state.oldest = entry.newer }
        if let newer = entry.newer { state.entries[newer]?.older = entry.older } else { state.newest = entry.older }
    }
}
