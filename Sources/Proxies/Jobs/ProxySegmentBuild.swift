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

        // The audio part runs on a lane of its own beside the video (light work that fills the cores the video leaves
        // idle). Video segments are fed here in runs (`SegmentRun`): one decoder and one encoder go on from a segment
        // into the next while that one is next in order and nobody else makes it, so consecutive segments cost what a
        // one-pass encode costs, and each segment's file is committed as soon as its last packet is out. When a run
        // ends (the playhead moved, the next segment is made elsewhere, the end), the rest of its last segment (the
        // encoder's drain, the file's completion, installing and recording it) goes to a lane of its own while the
        // next run starts here: a draining encoder and a starting one each keep few cores busy.
        // When the job ends early (cancelled, failed), the audio lane stops and a drain completes: its segment is
        // finished work, kept for the next job. When the source changed, both stop before the parts are deleted.
        var audioLane: PartLane? = nil
        var drain: (parts: [ProxyPart], lane: PartLane)? = nil
        /// The segments of the run being fed whose files are not complete yet, with their locks; the last is fed.
        var runLocks: [(part: ProxyPart, lock: WorkLock)] = []
        /// What stopped the run being fed (a failed commit, a changed source): thrown once its feed returns.
        var runFailure: (any Error)? = nil
        func stopLanes() {
            audioLane?.stopAndWait()
            drain?.lane.stopAndWait()
        }
        defer {
            for (_, lock) in runLocks { lock.release() }
            audioLane?.stopAndWait()
            _ = drain?.lane.waitForOutcome()
        }
        /// Segments whose every picture is encoded but whose files are not complete yet (they count as done).
        func fed() -> Set<ProxyPart> { Set((drain?.parts ?? []) + runLocks.dropLast().map(\.part)) }
        func inMaking() -> Set<ProxyPart> {
            Set((audioLane == nil ? [] : [.audio]) + (drain?.parts ?? []) + runLocks.map(\.part))
        }
        func reportDone() {
            report(plan: plan, done: done, running: nil, fraction: 0, fed: fed())
        }
        func landed(_ rows: [ProxySegmentRecord], reporting: Bool = true) {
            for row in rows { done[row.proxyPart] = row }
            publishPlaylists(plan: plan, done: done)
            if reporting { reportDone() }
        }
        /// Takes in the parts the lanes finished; a lane's failure is thrown, or (`failures` false: while a part is
        /// fed) left for the next look.
        func takeInLanes(failures: Bool = true) throws {
            if let lane = audioLane, let outcome = lane.outcome, failures || (try? outcome.get()) != nil {
                audioLane = nil
                landed(try outcome.get(), reporting: failures)
            }
            if let (_, lane) = drain, let outcome = lane.outcome, failures || (try? outcome.get()) != nil {
                drain = nil
                landed(try outcome.get(), reporting: failures)
            }
        }
        func takeInPartsMadeElsewhere(reporting: Bool = true) throws {
            let elsewhere = try partsMadeElsewhere(known: done)
            guard !elsewhere.isEmpty else { return }
            store.logger.info("job \(context.id) takes in \(elsewhere.count) parts of \(path) made by another process")
            done.merge(elsewhere) { kept, _ in kept }
            publishPlaylists(plan: plan, done: done)
            if reporting { reportDone() }
        }
        func sourceUnchanged() throws {
            try checkSourceUnchanged(beforeRemoving: stopLanes)
        }
        let build = UncheckedSendable(self)
        func startAudioLane(releasing lock: WorkLock) {
            let lane = PartLane(name: "aura-proxy-audio")
            lane.start {
                defer { lock.release() }
                return [try build.value.make(.audio, plan: plan, stopped: { lane.isStopped })]
            }
            audioLane = lane
        }
        /// The segment a run goes on with after `finished`: the next one, when it is the next video part in order
        /// (the audio, when it comes first, is started on its lane) and its lock is free (taken here).
        func continueRun(after finished: SegmentPlan.Segment) -> (segment: SegmentPlan.Segment, outputPath: String)? {
            guard runFailure == nil, !context.isCancelled, finished.index + 1 < plan.segments.count else { return nil }
            let candidate = ProxyPart.video(finished.index + 1)
            do {
                try? takeInLanes(failures: false)
                try takeInPartsMadeElsewhere(reporting: false)
                var pending = parts.filter { done[$0] == nil && !inMaking().contains($0) }
                if ordered(pending, plan: plan).first == .audio, let (_, lock) = try takeNext([.audio], plan: plan, done: &done) {
                    startAudioLane(releasing: lock)
                    pending.removeAll { $0 == .audio }
                }
                guard ordered(pending, plan: plan).first(where: { $0 != .audio }) == candidate,
                    let (part, lock) = try takeNext([candidate], plan: plan, done: &done)
                else { return nil }
                runLocks.append((part, lock))
                do {
                    try sourceUnchanged()
                } catch {
                    runFailure = error
                    return nil
                }
                return (plan.segments[finished.index + 1], partialFile(of: part).path)
            } catch {
                runFailure = error
                return nil
            }
        }
        /// A segment of the run whose file is complete: committed here, on the job's thread.
        func runSegmentCompleted(_ segment: CompletedSegment) {
            let part = ProxyPart.video(segment.segment.index)
            guard let at = runLocks.firstIndex(where: { $0.part == part }) else { return }
            let lock = runLocks.remove(at: at).lock
            defer { lock.release() }
            let partial = URL(fileURLWithPath: segment.outputPath)
            guard runFailure == nil else {
                store.area.removeFile(named: partial.lastPathComponent, folder: folder)
                return
            }
            do {
                landed([try commit(part, partial: partial, segment: segment.segment, result: segment.result)], reporting: false)
            } catch {
                runFailure = error
            }
        }
        while true {
            while true {
                try takeInLanes()
                if context.isCancelled { throw JobCancelled() }
                try takeInPartsMadeElsewhere()
                let pending = parts.filter { done[$0] == nil && !inMaking().contains($0) }
                if pending.isEmpty { break }
                guard let (part, lock) = try takeNext(pending, plan: plan, done: &done) else {
                    // Every part left is being made by a helper elsewhere (or on a lane here): wait for it to land.
                    if let lane = drain?.lane ?? audioLane {
                        _ = lane.waitForOutcome(seconds: Self.helperPoll)
                    } else {
                        Thread.sleep(forTimeInterval: Self.helperPoll)
                    }
                    continue
                }
                do {
                    try sourceUnchanged()
                } catch {
                    lock.release()
                    throw error
                }
                if part == .audio && parts.contains(where: { $0 != .audio && done[$0] == nil && !inMaking().contains($0) }) {
                    startAudioLane(releasing: lock)
                    continue
                }
                runLocks = [(part, lock)]
                let started: StartedPart
                do {
                    started = try start(
                        part, plan: plan, stopped: { runFailure != nil },
                        progress: { fraction, rate in
                            try? takeInLanes(failures: false)
                            report(plan: plan, done: done, running: runLocks.last?.part, fraction: fraction, rate: rate, fed: fed())
                        },
                        run: SegmentRun(next: continueRun(after:), completed: runSegmentCompleted))
                } catch {
                    throw runFailure ?? error
                }
                if let runFailure { throw runFailure }
                // At most one drain at a time (the one before this is long done, as a rule).
                if let (_, lane) = drain {
                    drain = nil
                    landed(try lane.waitForOutcome().get())
                }
                let handed = UncheckedSendable((started, runLocks.map(\.lock)))
                let lane = PartLane(name: "aura-proxy-drain")
                lane.start {
                    defer { for lock in handed.value.1 { lock.release() } }
                    return try build.value.complete(handed.value.0, stopped: { lane.isStopped })
                }
                drain = (runLocks.map(\.part), lane)
                runLocks = []
            }
            try takeInLanes()
            for lane in [audioLane, drain?.lane].compactMap({ $0 }) { _ = lane.waitForOutcome() }
            try takeInLanes()
            // Checked once more before joining: a part damaged or deleted since is made again.
            let damaged = done.filter { !isWhole($0.value) }
            if damaged.isEmpty { break }
            for (part, row) in damaged {
                store.logger.info("segment \(row.fileName) of \(path) is damaged or missing: making it again")
                forget(row)
                done[part] = nil
            }
        }
        try sourceUnchanged()
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
            _ = try make(
                part, plan: plan,
                progress: { fraction, rate in self.report(plan: plan, done: done, running: part, fraction: fraction, rate: rate) })
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

    /// A part whose every frame went into its encoders (`start`), still to be completed (`complete`): for a run of
    /// video segments, its last segment (`TranscodeTail.segment`) and any before it still in the encoder.
    struct StartedPart {
        let part: ProxyPart
        let tail: TranscodeTail
    }

    /// Encodes one part into a partial file, checks it, moves it into place and records it (`start`, then
    /// `complete`, on the caller's thread).
    private func make(
        _ part: ProxyPart, plan: SegmentPlan, stopped: @escaping () -> Bool = { false },
        progress: (_ fraction: Double, _ framesPerSecond: Double) -> Void = { _, _ in }
    ) throws -> ProxySegmentRecord {
        try complete(start(part, plan: plan, stopped: stopped, progress: progress), stopped: stopped).last!
    }

    /// The partial file a part is written to by this job; another partial file of it, a dead writer's, goes (the
    /// caller holds the part's lock).
    private func partialFile(of part: ProxyPart) -> URL {
        let name = fileName(of: part)
        for file in store.directory.regularFiles(inArea: store.area.name, folder: folder)
        where file.name.hasPrefix(name + ".") && file.name.hasSuffix(".partial") {
            store.area.removeFile(named: file.name, folder: folder)
        }
        return store.area.fileURL("\(name).\(context.id).partial", folder: folder)
    }

    /// Feeds one part's every frame into its encoders, writing a partial file (`Transcoder.feed`), and, with `run`,
    /// the segments a run goes on into. `progress` gets the fed segment's fraction done and its frame rate;
    /// `stopped` ends it early like a cancellation.
    private func start(
        _ part: ProxyPart, plan: SegmentPlan, stopped: @escaping () -> Bool = { false },
        progress: (_ fraction: Double, _ framesPerSecond: Double) -> Void = { _, _ in }, run: SegmentRun? = nil
    ) throws -> StartedPart {
        let partial = partialFile(of: part)
        let transcodePart: TranscodePart
        switch part {
        case .video(let index): transcodePart = .video(plan.segments[index], of: plan)
        case .audio: transcodePart = .audio
        }
        do {
            let transcoder = Transcoder(sourcePath: request.sourcePath, outputPath: partial.path, settings: settings, part: transcodePart)
            let tail = try transcoder.feed(
                progress: { progress($0.percent / 100, $0.framesPerSecond) },
                isCancelled: { self.context.isCancelled || stopped() }, run: run)
            return StartedPart(part: part, tail: tail)
        } catch {
            store.area.removeFile(named: partial.lastPathComponent, folder: folder)
            throw error
        }
    }

    /// Completes a started part: drains its encoders and closes its files (`TranscodeTail.finish`), then commits
    /// each part it completes (`commit`), in order.
    private func complete(_ started: StartedPart, stopped: () -> Bool = { false }) throws -> [ProxySegmentRecord] {
        let tail = started.tail
        let last = tail.segment.map { ProxyPart.video($0.index) } ?? started.part
        // Files not committed (a failure part way) go; the list is read at the end, once `finish` closed its files.
        var committed = 0
        defer {
            for file in (tail.completedBeforeLast.map(\.outputPath) + [tail.outputPath]).dropFirst(committed) {
                store.area.removeFile(named: URL(fileURLWithPath: file).lastPathComponent, folder: folder)
            }
        }
        let result = try tail.finish()
        var rows: [ProxySegmentRecord] = []
        for earlier in tail.completedBeforeLast {
            rows.append(
                try commit(
                    .video(earlier.segment.index), partial: URL(fileURLWithPath: earlier.outputPath), segment: earlier.segment,
                    result: earlier.result, stopped: stopped))
            committed += 1
        }
        rows.append(try commit(last, partial: URL(fileURLWithPath: tail.outputPath), segment: tail.segment, result: result, stopped: stopped))
        committed += 1
        return rows
    }

    /// Checks a part's complete partial file, moves it into place and records it. A part `stopped` before it is
    /// installed is dropped (the job is failing).
    private func commit(
        _ part: ProxyPart, partial: URL, segment: SegmentPlan.Segment?, result: TranscodeResult, stopped: () -> Bool = { false }
    ) throws -> ProxySegmentRecord {
        let name = fileName(of: part)
        do {
            if let reason = result.hardwareFallbackReason, part == .video(0) {
                store.observer.warning("hardware encoding unavailable, used \(result.videoEncoder): \(reason)")
            }
            for skipped in result.skippedAudioStreams {
                store.observer.warning("the proxy of \(request.sourcePath) leaves out \(skipped)")
            }
            guard let (size, checksum) = FileChecksum.of(partial) else {
                throw MediaError.ioFailure(path: partial.path, reason: "the segment just written cannot be read back")
            }
            if stopped() { throw MediaError.cancelled }
            try MediaError.mapping { () throws(FileError) in try DurableFile.install(partial, as: store.area.fileURL(name, folder: folder)) }
            let row = ProxySegmentRecord(
                sourceFingerprint: slot.fingerprintKey, quality: slot.quality, settingsKey: settingsKey, part: part.kind,
                segmentIndex: part.index, startSlot: segment?.startSlot ?? 0, endSlot: segment?.endSlot,
                fileName: name, sizeBytes: size, checksum: checksum, frameCount: result.frameCount,
                frameRate: plan?.frameRate ?? result.frameRate, facts: SegmentFacts(result).json, jobId: context.id, createdAt: Date())
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
            let part = row.proxyPart
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
    /// deletes the parts made so far (of content that no longer exists), once `beforeRemoving` has stopped what
    /// might still record one.
    private func checkSourceUnchanged(beforeRemoving: () -> Void = {}) throws {
        let current: SourceFingerprint
        do {
            current = try SourceFingerprint.of(path: request.sourcePath)
        } catch {
            beforeRemoving()
            if role == .owner { store.removeSegments(of: slot) }
            throw error
        }
        guard current == fingerprint else {
            beforeRemoving()
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
    private var lastSharedCount = -1

    /// How much of the proxy is made, in percent (at most 99.9: the join is left), by frame slots: the finished parts,
    /// the `running` one's fraction, and `fed` ones (every picture encoded, the file not complete yet) as done. The
    /// audio counts as one video segment's worth of work.
    static func percent(plan: SegmentPlan, done: Set<ProxyPart>, running: (part: ProxyPart, fraction: Double)?, fed: Set<ProxyPart>) -> Double {
        let totalSlots = max(1, Int64((plan.durationSeconds * plan.frameRate).rounded()))
        func weight(_ part: ProxyPart) -> Double {
            guard case .video(let index) = part else { return Double(totalSlots) / Double(max(1, plan.segments.count)) }
            let segment = plan.segments[index]
            return Double(max(0, (segment.endSlot ?? totalSlots) - segment.startSlot))
        }
        var finished = done.reduce(0.0) { $0 + weight($1) }
        if let running { finished += weight(running.part) * running.fraction }
        finished += fed.subtracting(done).reduce(0.0) { $0 + weight($1) }
        let audioWeight = plan.audioStreams > 0 ? weight(.audio) : 0
        return min(99.9, finished / (Double(totalSlots) + audioWeight) * 100)
    }
    /// What publishing the playlists already knows (the owner's job thread only).
    private let playlistMemory = ProxyPlaylists.Memory()

    /// Reports the job's progress (and, about once a second or when a part lands, records it for other processes).
    /// A `fed` part (its every picture encoded, its file not complete yet) counts as done, so the percentage never
    /// falls back when it lands.
    private func report(
        plan: SegmentPlan, done: [ProxyPart: ProxySegmentRecord], running: ProxyPart?, fraction: Double, rate: Double? = nil,
        fed: Set<ProxyPart> = []
    ) {
        let count = plan.segments.count + (plan.audioStreams > 0 ? 1 : 0)
        let percent = Self.percent(plan: plan, done: Set(done.keys), running: running.map { ($0, fraction) }, fed: fed)
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
        if let recordId, running == nil || done.count != lastSharedCount || Date().timeIntervalSince(lastShared) >= 1 {
            lastShared = Date()
            lastSharedCount = done.count
            try? store.catalog.updateSegments(
                id: recordId, jobId: context.id, completed: done.count, count: count, coverage: covered, percent: percent)
        }
    }
}

/// A part made (or completed) on a thread of its own beside the job's (`ProxySegmentBuild`: the audio, a video
/// segment's drain): started once, its outcome taken once. Stopping it makes its work end as cancelled; a job never
/// leaves before its lanes have ended (`stopAndWait`).
private final class PartLane: Sendable {
    private let name: String
    private let state = Mutex<(outcome: Result<[ProxySegmentRecord], any Error>?, stopped: Bool)>((nil, false))
    private let ended = DispatchSemaphore(value: 0)

    init(name: String) {
        self.name = name
    }

    func start(_ body: @escaping @Sendable () throws -> [ProxySegmentRecord]) {
        let thread = Thread { [self] in
            let outcome = Result { try body() }
            state.withLock { $0.outcome = outcome }
            ended.signal()
        }
        thread.name = name
        thread.start()
    }

    var isStopped: Bool { state.withLock { $0.stopped } }
    /// The outcome once the lane has ended; nil while it runs.
    var outcome: Result<[ProxySegmentRecord], any Error>? { state.withLock { $0.outcome } }

    func waitForOutcome() -> Result<[ProxySegmentRecord], any Error> {
        ended.wait()
        ended.signal()
        return outcome!
    }

    /// The outcome, once the lane has ended or `seconds` have passed (nil then).
    func waitForOutcome(seconds: TimeInterval) -> Result<[ProxySegmentRecord], any Error>? {
        guard ended.wait(timeout: .now() + seconds) == .success else { return nil }
        ended.signal()
        return outcome
    }

    func stopAndWait() {
        state.withLock { $0.stopped = true }
        _ = waitForOutcome()
    }
}

extension ProxySegmentRecord {
    /// The part of its proxy the row records.
    var proxyPart: ProxyPart { part == .audio ? .audio : .video(segmentIndex) }
}

/// A value handed to another thread whose owner guarantees it is not used from two threads at once in a way that races
/// (`ProxySegmentBuild.make` and `complete` on a lane touch only thread-safe stores, the build's fixed values and their
/// own locals; a `StartedPart` is handed over whole and used by the lane alone).
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
