import FileErrors
import Foundation
import Jobs
import Locking
import Media
import MediaCache

/// What a part's encode reported, kept with its catalogue row (`ProxySegmentRecord.facts`) so a proxy resumed by a
/// later job still knows what its earlier parts are.
struct SegmentFacts: Codable, Sendable, Equatable {
    var width = 0
    var height = 0
    var frameCount: Int64 = 0
    var videoEncoder = ""
    var toneMapped = false
    var deinterlaced = false
    var audioBitRate: Int? = nil
    var audioTracks = 0

    init(_ result: TranscodeResult) {
        width = result.width
        height = result.height
        frameCount = result.frameCount
        videoEncoder = result.videoEncoder
        toneMapped = result.toneMapped
        deinterlaced = result.deinterlaced
        audioBitRate = result.audioBitRate
        audioTracks = result.audioTracks.count
    }

    init(json: String) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(json.utf8))
    }

    var json: String { String(decoding: (try? JSONEncoder().encode(self)) ?? Data("{}".utf8), as: UTF8.self) }
}

/// One part of a proxy still to make or made: a video segment of the plan, or the audio.
enum ProxyPart: Hashable, Sendable {
    case video(Int)
    case audio

    var kind: ProxySegmentRecord.Part {
        switch self {
        case .video: return .video
        case .audio: return .audio
        }
    }

    var index: Int {
        switch self {
        case .video(let index): return index
        case .audio: return 0
        }
    }
}

/// Makes one proxy from its parts (`SegmentPlan`'s video segments and the audio, `TranscodePart`), on the job's thread.
///
/// - Roles: the **owner** holds the slot's lock (`run`): it makes parts, takes in the parts other processes made, and
///   joins. A **helper** is a job of another process for the same slot and settings while the owner works (`help`):
///   it makes parts the owner has not taken, in its own playhead's order, and leaves the rest to the owner. Owner and
///   helpers take a part's own lock (`ProxySlot.partLockName`) before making it and look for its row once they hold
///   it, so no part is made twice; a helper that dies lets go of its lock, and the part is made again by whoever
///   takes it next. A helper helps only an owner that marked its settings key in the folder (`settingsMark`), so
///   parts of other settings are never mixed in. The mark also keeps the plan, which a resuming job and helpers
///   read instead of planning again.
///
/// - Identity: the parts live in the slot's segments folder and catalogue rows under the settings key
///   (`TranscodeSettings.identity` and the plan's nominal length, hashed): parts of other settings are deleted, never
///   joined. A part's row is written only after its file was fsynced and renamed into place.
/// - Resumption: finished parts of earlier jobs (a crash, a cancellation, a failure) are kept and reused once their
///   size and checksum are confirmed; a damaged or missing one is made again.
/// - Order: the video segment at the playhead (`playhead()`, read again before every part, so a jump reorders at
///   once), then the audio, then the segments after the playhead, then those before it.
/// - Joining: when every part is done (and checked once more), `SegmentJoiner` copies them into the job's partial
///   file, which the job installs as the proxy.
final class ProxySegmentBuild {
    /// Whether the build owns the slot (holds its lock, and joins) or helps another process's owner.
    enum Role: Sendable {
        case owner, helper
    }

    let store: ProxyStore
    let slot: ProxySlot
    let request: ProxyRequest
    let fingerprint: SourceFingerprint
    let settings: TranscodeSettings
    let context: JobContext
    /// The slot's record, which the owner's progress is written to; nil for a helper (the record is the owner's).
    let recordId: Int64?
    let role: Role
    let playhead: @Sendable () -> Double?

    /// The plan and the settings key, once `run` has planned.
    private(set) var plan: SegmentPlan?
    private(set) var settingsKey = ""
    /// How many parts were found finished when the job began.
    private(set) var resumedSegments = 0

    init(
        store: ProxyStore, slot: ProxySlot, request: ProxyRequest, fingerprint: SourceFingerprint, settings: TranscodeSettings,
        context: JobContext, recordId: Int64?, role: Role = .owner, playhead: @escaping @Sendable () -> Double?
    ) {
        self.role = role
        self.store = store
        self.slot = slot
        self.request = request
        self.fingerprint = fingerprint
        self.settings = settings
        self.context = context
        self.recordId = recordId
        self.playhead = playhead
    }

    static func settingsKey(_ settings: TranscodeSettings, nominalSeconds: Double = SegmentPlan.nominalSeconds) -> String {
        var hash = FNV1a64()
        hash.add(Array("\(settings.identity)|segments\(nominalSeconds)".utf8))
        return String(format: "%016llx", hash.value)
    }

    var folder: String { slot.segmentsFolder }

    /// The file by which the owner says which settings its parts are made with, so helpers with others stay out.
    var settingsMark: String { "\(settingsKey).settings" }

    /// How long the owner waits before looking again when every part left is being made by a helper elsewhere.
    static let helperPoll: TimeInterval = 0.2

    /// Makes the parts still missing, joins them into `output`, and returns what the proxy is. On failure or
    /// cancellation the finished parts stay for the next job; a folder left with none goes.
    func run(joiningInto output: URL) throws -> TranscodeResult {
        do {
            return try build(joiningInto: output)
        } catch {
            if (try? store.catalog.allSegments(of: slot).isEmpty) ?? false { store.area.removeFolder(named: folder) }
            throw error
        }
    }

    private func build(joiningInto output: URL) throws -> TranscodeResult {
        let path = request.sourcePath
        settingsKey = Self.settingsKey(settings)
        let plan = try markedPlan() ?? SegmentPlan.make(path: path)
        self.plan = plan
        try prepareFolder()
        var done = try keptParts(of: plan)
        try markSettings()
        resumedSegments = done.count
        if resumedSegments > 0 {
            store.logger.info("job \(context.id) resumes the \(slot.quality) proxy of \(path) from \(resumedSegments) finished parts")
        }
        var parts = plan.segments.map { ProxyPart.video($0.index) }
        if plan.audioStreams > 0 { parts.append(.audio) }
        report(plan: plan, done: done, running: nil, fraction: 0)
        publishPlaylists(plan: plan, done: done)

        // The audio part runs on a lane of its own beside the video segments (light work that fills the cores the
        // video leaves idle at each segment's start and end); everything else is made here, one part at a time.
        var audioLane: AudioLane? = nil
        defer { audioLane?.stopAndWait() }
        func landed(_ part: ProxyPart, _ row: ProxySegmentRecord) {
            done[part] = row
            publishPlaylists(plan: plan, done: done)
            report(plan: plan, done: done, running: nil, fraction: 0)
        }
        while true {
            while true {
                if let lane = audioLane, let outcome = lane.outcome {
                    audioLane = nil
                    landed(.audio, try outcome.get())
                }
                if context.isCancelled { throw JobCancelled() }
                let elsewhere = try partsMadeElsewhere(known: done)
                if !elsewhere.isEmpty {
                    store.logger.info("job \(context.id) takes in \(elsewhere.count) parts of \(path) made by another process")
                    done.merge(elsewhere) { kept, _ in kept }
                    publishPlaylists(plan: plan, done: done)
                    report(plan: plan, done: done, running: nil, fraction: 0)
                }
                let pending = parts.filter { done[$0] == nil && !($0 == .audio && audioLane != nil) }
                if pending.isEmpty { break }
                guard let (part, lock) = try takeNext(pending, plan: plan, done: &done) else {
                    // Every part left is being made by a helper elsewhere: wait for it to land (or its helper to go).
                    Thread.sleep(forTimeInterval: Self.helperPoll)
                    continue
                }
                do {
                    try checkSourceUnchanged()
                } catch {
                    lock.release()
                    throw error
                }
                if part == .audio && parts.contains(where: { $0 != .audio && done[$0] == nil }) {
                    let lane = AudioLane()
                    let build = UncheckedSendable(self)
                    lane.start {
                        defer { lock.release() }
                        return try build.value.make(.audio, plan: plan, done: [:], reporting: false, stopped: { lane.isStopped })
                    }
                    audioLane = lane
                    continue
                }
                defer { lock.release() }
                landed(part, try make(part, plan: plan, done: done))
            }
            if let lane = audioLane {
                audioLane = nil
                landed(.audio, try lane.waitForOutcome().get())
            }
            // Checked once more before joining: a part damaged or deleted since is made again.
            let damaged = done.filter { !isWhole($0.value) }
            if damaged.isEmpty { break }
            for (part, row) in damaged {
                store.logger.info("segment \(row.fileName) of \(path) is damaged or missing: making it again")
                forget(row)
                done[part] = nil
            }
        }
        try checkSourceUnchanged()
        let videoRows = plan.segments.map { done[.video($0.index)]! }
        let audioRow = done[.audio]
        context.report(
            JobProgress(
                percent: 99.9, message: "Joining \(videoRows.count) segments", segmentsCompleted: parts.count,
                segmentCount: parts.count, coverage: coverage(plan: plan, done: done)))
        let joined = try SegmentJoiner.join(
            videoSegments: videoRows.map { store.area.fileURL($0.fileName, folder: folder).path },
            audio: audioRow.map { store.area.fileURL($0.fileName, folder: folder).path },
            frameRate: (plan.frameRateNumerator, plan.frameRateDenominator), sourcePath: path, output: output.path,
            isCancelled: { context.isCancelled })
        context.report(
            JobProgress(
                percent: 100, message: "Joined \(videoRows.count) segments: \(joined.frameCount) frames",
                segmentsCompleted: parts.count, segmentCount: parts.count, coverage: coverage(plan: plan, done: done)))
        let video = try SegmentFacts(json: videoRows[0].facts)
        let audio = try audioRow.map { try SegmentFacts(json: $0.facts) }
        return TranscodeResult(
            width: video.width, height: video.height, videoBitRate: settings.videoBitRate, audioBitRate: audio?.audioBitRate,
            durationSeconds: joined.durationSeconds, hasAudio: audio != nil, audioTracks: [], skippedAudioStreams: [],
            videoEncoder: video.videoEncoder, hardwareFallbackReason: nil, frameCount: joined.frameCount,
            frameRate: plan.frameRate, toneMapped: video.toneMapped, deinterlaced: video.deinterlaced)
    }

    // MARK: - Helping

    /// Makes parts of a proxy whose slot another process owns, while it does: the parts nobody has taken, in this
    /// process's playhead order, one at a time. Returns how many it made once none is left to take, or the owner
    /// has let go of the slot (finished, stopped or gone: a job that claims the slot then carries on from the
    /// parts). Makes nothing for an owner with other settings (no `settingsMark` of this key).
    func help() throws -> Int {
        settingsKey = Self.settingsKey(settings)
        let plan = try markedPlan() ?? SegmentPlan.make(path: request.sourcePath)
        self.plan = plan
        var parts = plan.segments.map { ProxyPart.video($0.index) }
        if plan.audioStreams > 0 { parts.append(.audio) }
        var made = 0
        while true {
            if context.isCancelled { throw JobCancelled() }
            guard fileSize(store.area.fileURL(settingsMark, folder: folder)) != nil,
                try WorkLock.isHeld(slot.lockName, in: store.directory)
            else { return made }
            var done = try rows()
            guard let (part, lock) = try takeNext(parts.filter { done[$0] == nil }, plan: plan, done: &done) else { return made }
            defer { lock.release() }
            try checkSourceUnchanged()
            _ = try make(part, plan: plan, done: done)
            made += 1
        }
    }

    // MARK: - Parts

    /// The order parts are made in: the segment at the playhead, the audio, the segments after, then those before.
    func ordered(_ pending: [ProxyPart], plan: SegmentPlan) -> [ProxyPart] {
        let anchor = playhead().map { plan.segment(containing: $0).index } ?? 0
        let pendingSet = Set(pending)
        let order = [ProxyPart.video(anchor), .audio] + (Array(anchor + 1..<plan.segments.count) + Array(0..<anchor)).map { ProxyPart.video($0) }
        return order.filter { pendingSet.contains($0) }
    }

    /// The first part in `ordered` order that nobody else is making, with its lock held. A part found made once its
    /// lock is held (a helper elsewhere finished it just before) goes into `done` instead; nil when every part of
    /// `pending` is being made elsewhere.
    private func takeNext(
        _ pending: [ProxyPart], plan: SegmentPlan, done: inout [ProxyPart: ProxySegmentRecord]
    ) throws -> (ProxyPart, WorkLock)? {
        for part in ordered(pending, plan: plan) {
            guard let lock = try WorkLock.tryAcquire(slot.partLockName(partFile: fileName(of: part)), in: store.directory) else {
                continue
            }
            if let row = try rows()[part] {
                if isWhole(row) {
                    done[part] = row
                    lock.release()
                    continue
                }
                forget(row)
            }
            return (part, lock)
        }
        return nil
    }

    /// The slot's part rows of this settings key, by part.
    private func rows() throws -> [ProxyPart: ProxySegmentRecord] {
        var rows: [ProxyPart: ProxySegmentRecord] = [:]
        for row in try store.catalog.segments(of: slot, settingsKey: settingsKey) {
            rows[row.part == .audio ? .audio : .video(row.segmentIndex)] = row
        }
        return rows
    }

    /// Parts helpers of other processes finished that `known` lacks, once their files are confirmed whole (the job's
    /// own, such as the audio lane's just before its outcome is taken, come in through `landed`).
    private func partsMadeElsewhere(known: [ProxyPart: ProxySegmentRecord]) throws -> [ProxyPart: ProxySegmentRecord] {
        try rows().filter { known[$0.key] == nil && $0.value.jobId != context.id && isWhole($0.value) }
    }

    /// What the settings mark holds: the settings' identity, and the plan the parts are made to.
    private struct SettingsMark: Codable {
        var identity: String
        var plan: SegmentPlan
    }

    /// Marks the folder with this build's settings key (`settingsMark`), for helpers, and keeps the plan in it: a
    /// job that resumes the proxy, and a helper, plan nothing again (planning decodes pictures to find the scan).
    private func markSettings() throws {
        guard let plan else { return }
        let bytes = try JSONEncoder().encode(SettingsMark(identity: settings.identity, plan: plan))
        try MediaError.mapping { () throws(FileError) in
            try DurableFile.write(
                Array(bytes), to: store.area.fileURL(settingsMark, folder: folder),
                via: store.area.fileURL(settingsMark + ".partial", folder: folder), mode: 0o644)
        }
    }

    /// The plan in the folder's settings mark, when one of these settings is there (the folder is the source
    /// content's, so its plan is this source's); nil for `overwrite`, which makes the proxy afresh.
    private func markedPlan() -> SegmentPlan? {
        guard !request.overwrite, let data = try? Data(contentsOf: store.area.fileURL(settingsMark, folder: folder)),
            let mark = try? JSONDecoder().decode(SettingsMark.self, from: data), mark.identity == settings.identity
        else { return nil }
        return mark.plan
    }

    /// Encodes one part into a partial file, checks it, moves it into place and records it. With `reporting`, its
    /// progress is the job's (the part made on the job's thread); `stopped` ends it early like a cancellation.
    private func make(
        _ part: ProxyPart, plan: SegmentPlan, done: [ProxyPart: ProxySegmentRecord], reporting: Bool = true,
        stopped: @escaping () -> Bool = { false }
    ) throws -> ProxySegmentRecord {
        let name = fileName(of: part)
        let partial = store.area.fileURL("\(name).\(context.id).partial", folder: folder)
        // The caller holds the part's lock: another partial file of it is a dead writer's.
        for file in store.directory.regularFiles(inArea: store.area.name, folder: folder)
        where file.name.hasPrefix(name + ".") && file.name.hasSuffix(".partial") {
            store.area.removeFile(named: file.name, folder: folder)
        }
        let final = store.area.fileURL(name, folder: folder)
        let transcodePart: TranscodePart
        var segment: SegmentPlan.Segment? = nil
        switch part {
        case .video(let index):
            segment = plan.segments[index]
            transcodePart = .video(plan.segments[index], of: plan)
        case .audio:
            transcodePart = .audio
        }
        do {
            let transcoder = Transcoder(sourcePath: request.sourcePath, outputPath: partial.path, settings: settings, part: transcodePart)
            let result = try transcoder.run(
                progress: { progress in
                    guard reporting else { return }
                    self.report(plan: plan, done: done, running: part, fraction: progress.percent / 100, rate: progress.framesPerSecond)
                },
                isCancelled: { self.context.isCancelled || stopped() })
            if let reason = result.hardwareFallbackReason, part == .video(0) {
                store.observer.warning("hardware encoding unavailable, used \(result.videoEncoder): \(reason)")
            }
            for skipped in result.skippedAudioStreams {
                store.observer.warning("the proxy of \(request.sourcePath) leaves out \(skipped)")
            }
            guard let (size, checksum) = FileChecksum.of(partial) else {
                throw MediaError.ioFailure(path: partial.path, reason: "the segment just written cannot be read back")
            }
            try MediaError.mapping { () throws(FileError) in try DurableFile.install(partial, as: final) }
            let row = ProxySegmentRecord(
                sourceFingerprint: slot.fingerprintKey, quality: slot.quality, settingsKey: settingsKey, part: part.kind,
                segmentIndex: part.index, startSlot: segment?.startSlot ?? 0, endSlot: segment?.endSlot, fileName: name,
                sizeBytes: size, checksum: checksum, frameCount: result.frameCount, frameRate: plan.frameRate,
                facts: SegmentFacts(result).json, jobId: context.id, createdAt: Date())
            try store.catalog.insert(row)
            store.logger.info("job \(context.id) made part \(name) of the \(slot.quality) proxy of \(request.sourcePath)")
            return row
        } catch {
            store.area.removeFile(named: partial.lastPathComponent, folder: folder)
            throw error
        }
    }

    /// The file name of a part in the slot's segments folder.
    func fileName(of part: ProxyPart) -> String {
        switch part {
        case .video(let index): return "\(settingsKey)-\(String(format: "%05d", index)).m4s"
        case .audio: return "\(settingsKey)-audio.m4a"
        }
    }

    /// Brings the HLS playlists of the finished segments up to date (`ProxyPlaylists`). A failure (a full disk) is
    /// logged and costs the playlist, not the proxy.
    private func publishPlaylists(plan: SegmentPlan, done: [ProxyPart: ProxySegmentRecord]) {
        do {
            try ProxyPlaylists(area: store.area, folder: folder, settingsKey: settingsKey)
                .publish(rows: Array(done.values), hasAudio: plan.audioStreams > 0, memory: playlistMemory)
        } catch {
            store.logger.warning("the HLS playlist of \(request.sourcePath)'s proxy in progress was not updated: \(error)")
        }
    }

    // MARK: - What is kept

    /// Creates the slot's segments folder, or empties it of partial files whose writers are gone (the job holds the
    /// slot's lock; a helper elsewhere holds its part's).
    private func prepareFolder() throws {
        let url = store.area.url.appendingPathComponent(folder, isDirectory: true)
        if mkdir(url.path, 0o700) != 0 && errno != EEXIST {
            throw MediaError(DurableFile.error(path: url.path))
        }
        for file in store.directory.regularFiles(inArea: store.area.name, folder: folder)
        where file.name.hasSuffix(".partial") && !store.janitor.isBeingMade(file.name, in: slot) {
            store.area.removeFile(named: file.name, folder: folder)
        }
    }

    /// The finished parts that can be reused: rows of this settings key that fit the plan and whose files are whole.
    /// Rows (and files) of other settings, and damaged ones, are deleted; so is everything for `overwrite`, which asks
    /// for the proxy to be made again.
    private func keptParts(of plan: SegmentPlan) throws -> [ProxyPart: ProxySegmentRecord] {
        var kept: [ProxyPart: ProxySegmentRecord] = [:]
        for row in try store.catalog.allSegments(of: slot) {
            let part: ProxyPart = row.part == .audio ? .audio : .video(row.segmentIndex)
            let fits: Bool
            switch part {
            case .video(let index):
                fits = index < plan.segments.count && plan.segments[index].startSlot == row.startSlot && plan.segments[index].endSlot == row.endSlot
            case .audio:
                fits = plan.audioStreams > 0
            }
            if row.settingsKey == settingsKey && fits && !request.overwrite && isWhole(row) {
                kept[part] = row
            } else {
                if row.settingsKey == settingsKey {
                    store.logger.info("segment \(row.fileName) of \(request.sourcePath) is damaged or missing: it will be made again")
                }
                forget(row)
            }
        }
        // Files no row names (a part whose row was never written) go too, but a helper's part in the making, and the
        // HLS copies of kept segments while the audio they were made with is kept (written atomically, so whole; each
        // is a segment's video and audio copied again, not worth making twice). Playlists are written afresh.
        var named = Set(kept.values.map(\.fileName))
        if kept[.audio] != nil {
            let playlists = ProxyPlaylists(area: store.area, folder: folder, settingsKey: settingsKey)
            for case .video(let index) in kept.keys { named.insert(playlists.hlsFileName(index)) }
        }
        for file in store.directory.regularFiles(inArea: store.area.name, folder: folder)
        where !named.contains(file.name) && !store.janitor.isBeingMade(file.name, in: slot) {
            store.area.removeFile(named: file.name, folder: folder)
        }
        return kept
    }

    /// Whether a finished part's file is as it was recorded (size and checksum).
    func isWhole(_ row: ProxySegmentRecord) -> Bool {
        guard let (size, checksum) = FileChecksum.of(store.area.fileURL(row.fileName, folder: folder)) else { return false }
        return size == row.sizeBytes && checksum == row.checksum
    }

    private func forget(_ row: ProxySegmentRecord) {
        try? store.catalog.delete([row])
        store.area.removeFile(named: row.fileName, folder: folder)
    }

    /// Fails the job when the source is no longer the content its parts are made of (changed, or gone); the owner
    /// deletes the parts made so far (of content that no longer exists).
    private func checkSourceUnchanged() throws {
        let current: SourceFingerprint
        do {
            current = try SourceFingerprint.of(path: request.sourcePath)
        } catch {
            if role == .owner { store.removeSegments(of: slot) }
            throw error
        }
        guard current == fingerprint else {
            if role == .owner { store.removeSegments(of: slot) }
            throw MediaError.corrupt(path: request.sourcePath, reason: "the source changed while its proxy was being generated")
        }
    }

    // MARK: - Progress

    /// The merged time ranges (`[start, end]`, to the millisecond) the finished video segments cover.
    func coverage(plan: SegmentPlan, done: [ProxyPart: ProxySegmentRecord]) -> [[Double]] {
        var ranges: [[Double]] = []
        for span in done.values.compactMap(\.timeSpan).sorted(by: { $0.lowerBound < $1.lowerBound }) {
            let from = (span.lowerBound * 1000).rounded() / 1000
            let to = (span.upperBound * 1000).rounded() / 1000
            if let last = ranges.last, abs(last[1] - from) < 0.0005 {
                ranges[ranges.count - 1][1] = to
            } else {
                ranges.append([from, to])
            }
        }
        return ranges
    }

    private var lastShared = Date.distantPast
    /// What publishing the playlists already knows (the owner's job thread only).
    private let playlistMemory = ProxyPlaylists.Memory()

    /// Reports the job's progress (and, about once a second or when a part lands, records it for other processes).
    private func report(plan: SegmentPlan, done: [ProxyPart: ProxySegmentRecord], running: ProxyPart?, fraction: Double, rate: Double? = nil) {
        let count = plan.segments.count + (plan.audioStreams > 0 ? 1 : 0)
        let totalSlots = max(1, Int64((plan.durationSeconds * plan.frameRate).rounded()))
        func slots(_ index: Int) -> Int64 {
            let segment = plan.segments[index]
            return max(0, (segment.endSlot ?? totalSlots) - segment.startSlot)
        }
        // Video is the work: the audio counts as one segment's worth of it.
        let audioWeight = plan.audioStreams > 0 ? Double(totalSlots) / Double(max(1, plan.segments.count)) : 0
        var finished = 0.0
        for part in done.keys {
            if case .video(let index) = part { finished += Double(slots(index)) } else { finished += audioWeight }
        }
        if let running {
            if case .video(let index) = running { finished += Double(slots(index)) * fraction } else { finished += audioWeight * fraction }
        }
        let percent = min(99.9, finished / (Double(totalSlots) + audioWeight) * 100)
        let covered = coverage(plan: plan, done: done)
        var message: String
        switch running {
        case .video(let index)?: message = "Encoding segment \(index + 1) of \(plan.segments.count) (\(done.count) of \(count) parts done)"
        case .audio?: message = "Encoding the audio (\(done.count) of \(count) parts done)"
        case nil: message = "\(done.count) of \(count) parts done"
        }
        if role == .helper { message = "Helping another aura-media process: " + message.prefix(1).lowercased() + message.dropFirst() }
        context.report(
            JobProgress(
                percent: percent, message: message, rate: rate, segmentsCompleted: done.count, segmentCount: count,
                coverage: covered))
        if let recordId, running == nil || Date().timeIntervalSince(lastShared) >= 1 {
            lastShared = Date()
            try? store.catalog.updateSegments(
                id: recordId, jobId: context.id, completed: done.count, count: count, coverage: covered, percent: percent)
        }
    }
}

/// The audio part on a thread of its own (`ProxySegmentBuild`): started once, its outcome taken once. Stopping it makes
/// its transcode end as cancelled; a job never leaves before its lane has ended (`stopAndWait`).
private final class AudioLane: Sendable {
    private let state = Mutex<(outcome: Result<ProxySegmentRecord, any Error>?, stopped: Bool)>((nil, false))
    private let ended = DispatchSemaphore(value: 0)

    func start(_ body: @escaping @Sendable () throws -> ProxySegmentRecord) {
        let thread = Thread { [self] in
            let outcome = Result { try body() }
            state.withLock { $0.outcome = outcome }
            ended.signal()
        }
        thread.name = "aura-proxy-audio"
        thread.start()
    }

    var isStopped: Bool { state.withLock { $0.stopped } }
    /// The outcome once the lane has ended; nil while it runs.
    var outcome: Result<ProxySegmentRecord, any Error>? { state.withLock { $0.outcome } }

    func waitForOutcome() -> Result<ProxySegmentRecord, any Error> {
        ended.wait()
        ended.signal()
        return outcome!
    }

    func stopAndWait() {
        state.withLock { $0.stopped = true }
        _ = waitForOutcome()
    }
}

/// A value handed to another thread whose owner guarantees it is not used from two threads at once in a way that races
/// (`ProxySegmentBuild.make` for the audio lane touches only thread-safe stores and its own locals).
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
