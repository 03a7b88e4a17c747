import Foundation
import Jobs
import Locking
import Media

/// An open reader of one file, kept warm between requests, with the image encoder it used last.
///
/// Lock: `lock` gives one caller at a time the reader and encoder (several requests for one file never decode in
/// parallel over one session); explicit requests go before preloading (`SessionLock`).
final class DecoderSession: @unchecked Sendable {
    // @unchecked: `reader` and `encoder` are only touched by the holder of `lock`.
    let path: String
    let file: String
    let reader: VideoFrameReader
    private var encoder: ImageEncoder?
    let lock = SessionLock()
    /// An estimate of what the open decoder holds (reference pictures), for the pool's memory bound.
    let estimatedBytes: Int
    /// What is known of contents' picture processing, shared by the pool's sessions.
    private let processings: ProcessingMemory

    init(path: String, file: String, processings: ProcessingMemory = ProcessingMemory()) throws(MediaError) {
        self.path = path
        self.file = file
        self.processings = processings
        reader = try VideoFrameReader(path: path)
        if let known = processings.lookup(file) { reader.adopt(known) }
        let geometry = reader.geometry
        let bytesPerSample = reader.bitsPerSample > 8 ? 2 : 1
        // About eight pictures of 4:2:0 (references, the current one, and the decoder's own).
        estimatedBytes = geometry.codedWidth * geometry.codedHeight * 3 / 2 * bytesPerSample * 8
    }

    /// The image of the reader's current picture (caller holds `lock`).
    func encodeCurrent(width: Int, height: Int, shape: FrameShape) throws(MediaError) -> [UInt8] {
        let rotation = reader.geometry.clockwiseRotation
        if encoder?.matches(
            format: shape.format, width: width, height: height, quality: shape.quality,
            clockwiseRotation: rotation) != true
        {
            encoder = try ImageEncoder(
                format: shape.format, width: width, height: height, clockwiseRotation: rotation,
                sourceFullRange: reader.fullRange, quality: shape.quality, processing: try processing())
        }
        return try encoder!.encode(currentPictureOf: reader)
    }

    /// The reader's picture processing, measured once per content (the field order decodes the first seconds of SD and
    /// HD sources) and remembered by the pool beyond this session (a cold start after `clearCache` does not measure
    /// again).
    private func processing() throws(MediaError) -> PictureProcessing {
        let found = try reader.pictureProcessing()
        processings.remember(file, found)
        return found
    }
}

/// The picture processing of contents the pool has opened, by content key; bounded (forgotten all at once past
/// `limit`, and measured again when needed).
///
/// Lock: `table` guards the dictionary.
final class ProcessingMemory: Sendable {
    private let table = Mutex<[String: PictureProcessing]>([:])
    let limit: Int

    init(limit: Int = 1024) {
        self.limit = limit
    }

    func lookup(_ file: String) -> PictureProcessing? { table.withLock { $0[file] } }

    func remember(_ file: String, _ processing: PictureProcessing) {
        table.withLock { table in
            if table.count >= limit { table.removeAll() }
            table[file] = processing
        }
    }
}

/// A lock with two kinds of takers: explicit requests, which go first, and preloading, which waits while any
/// explicit request waits and gives the session back between pictures.
///
/// Lock: `condition` guards `held` and `urgentWaiting`.
final class SessionLock: @unchecked Sendable {
    private let condition = NSCondition()
    private var held = false
    private var urgentWaiting = 0

    func lock(urgent: Bool) {
        condition.lock()
        defer { condition.unlock() }
        if urgent { urgentWaiting += 1 }
        while held || (!urgent && urgentWaiting > 0) { condition.wait() }
        if urgent { urgentWaiting -= 1 }
        held = true
    }

    func unlock() {
        condition.lock()
        held = false
        condition.broadcast()
        condition.unlock()
    }

    func withLock<Result>(urgent: Bool, _ body: () throws -> Result) rethrows -> Result {
        lock(urgent: urgent)
        defer { unlock() }
        return try body()
    }
}

/// The warm sessions: recently used files stay open, bounded by count and by an estimate of decoder memory
/// (the least recently used is closed first; one session is always allowed).
///
/// Lock: `state` guards the table. Opening a file (blocking) happens outside it, and so does closing one: a session
/// dropped from the table is released after the lock, and `removeAll` releases them on a `BlockingQueue` thread
/// (freeing a decoder is a libav call). A session closed while in use lives on until its user is done.
final class DecoderPool: Sendable {
    private struct State {
        var sessions: [String: (session: DecoderSession, lastUse: UInt64)] = [:]
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    private let processings = ProcessingMemory()
    let maxSessions: Int
    let maxBytes: Int

    init(maxSessions: Int = 4, maxBytes: Int = 768 << 20) {
        self.maxSessions = maxSessions
        self.maxBytes = maxBytes
    }

    /// The session of `path` whose content is `file` (opened when needed; a changed file gets a new one).
    func session(path: String, file: String) throws(MediaError) -> DecoderSession {
        let key = path
        if let session = state.withLock({ state -> DecoderSession? in
            guard let entry = state.sessions[key], entry.session.file == file else { return nil }
            state.clock += 1
            state.sessions[key]?.lastUse = state.clock
            return entry.session
        }) {
            return session
        }
        let opened = try DecoderSession(path: path, file: file, processings: processings)
        // Sessions dropped from the table are released when this returns, after the lock (on the caller's thread,
        // which opens files, so it may block).
        var dropped: [DecoderSession] = []
        let session = state.withLock { state in
            if let entry = state.sessions[key], entry.session.file == file {
                return entry.session  // Opened by another request meanwhile.
            }
            state.clock += 1
            if let replaced = state.sessions.updateValue((opened, state.clock), forKey: key) { dropped.append(replaced.session) }
            while state.sessions.count > 1,
                state.sessions.count > maxSessions || state.sessions.values.reduce(0, { $0 + $1.session.estimatedBytes }) > maxBytes,
                let oldest = state.sessions.filter({ $0.key != key }).min(by: { $0.value.lastUse < $1.value.lastUse })
            {
                if let removed = state.sessions.removeValue(forKey: oldest.key) { dropped.append(removed.session) }
            }
            return opened
        }
        return session
    }

    var count: Int { state.withLock { $0.sessions.count } }

    /// Closes every session: they leave the table under the lock and are released afterwards on a `BlockingQueue`
    /// thread (a session still in use is released by its user when it is done).
    func removeAll() async {
        let closing = Mutex<[DecoderSession]>(
            state.withLock { state in
                defer { state.sessions = [:] }
                return state.sessions.values.map(\.session)
            })
        _ = try? await BlockingQueue.run {
            // Taken out of `closing` so the last references go when this closure returns, outside any lock.
            let sessions = closing.withLock { sessions in
                defer { sessions = [] }
                return sessions
            }
            withExtendedLifetime(sessions) {}
        }
    }
}
