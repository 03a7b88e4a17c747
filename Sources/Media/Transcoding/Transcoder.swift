import CFFmpeg
import Foundation

/// Which part of a proxy a `Transcoder` run makes.
public enum TranscodePart: Sendable, Equatable {
    /// The whole proxy, video and every audio track, in one pass: an MP4 with its index at the front.
    case whole
    /// The video of one segment of a `SegmentPlan`: a fragmented MP4 (video only, a fragment per GOP) whose timestamps
    /// are the proxy's, so segments play, and are joined, in place. The plan's frame rate and scan are used as found
    /// once for all segments.
    case video(SegmentPlan.Segment, of: SegmentPlan)
    /// Every audio track of the proxy in one pass: an MP4 of audio only. Audio is made continuously rather than per
    /// segment: an AAC encoder started afresh at each seam would add its priming delay and an overlap click there.
    case audio
}

/// Makes an H.264/AAC MP4 copy of a media file for preview and scrubbing (a proxy), entirely in-process, whole or in
/// parts (`TranscodePart`: video segments and the audio, joined by `SegmentJoiner`). The only place outside `Media`'s
/// wrappers that drives libav's encoders: the services above see `TranscodeSettings` in and `TranscodeResult` out.
///
/// Pipeline: the shared decode layer (`MediaSource` → `StreamDecoder`, threaded, → `PictureConverter`: swscale
/// plus a quarter-turn for rotated sources) → `Media.VideoEncoder` (libx264 or a GPU encoder) → `Muxer`
/// (`TranscodeVideoTrack`); every audio stream of the source, in order, → a track of its own (`TranscodeAudioTrack`:
/// its channel count up to 8, its language and title, native AAC). The source's timecode and creation time are copied.
///
/// Guarantees: the output is constant frame rate at the source's rate (variable-rate sources are mapped to
/// frame slots `round((pts - start) × fps)`, dropping or repeating the previous frame like `-vsync cfr`);
/// keyframes at most every `maxGOPSeconds` (0.8 s) and no B-frames; square pixels, upright, progressive, SDR BT.709
/// (`PictureProcessing`: HDR tone-mapped, wide gamut and SD matrices converted, interlaced sources deinterlaced with
/// one picture per source frame); timestamps
/// normalised so the earliest stream starts at 0 with audio's offset relative to video kept (silence is
/// inserted or samples dropped at the start of audio). A video segment holds exactly the pictures a one-pass encode
/// puts in its slots. Memory is bounded: no queue holds more than one decoded frame per stream plus the codecs' own
/// delay. Audio discontinuities after the start are not corrected (audio is treated as continuous).
///
/// The object is used from one thread: `run` is synchronous.
public final class Transcoder {
    public let sourcePath: String
    public let outputPath: String
    public let settings: TranscodeSettings
    public let part: TranscodePart

    /// The version of what proxies are made with (the catalogue's `pictureVersion`): 1 since HDR is tone-mapped, wide
    /// gamut and SD matrices converted and interlaced video deinterlaced (`PictureProcessing`); 2 since every audio
    /// stream is kept with its channels (before, the primary one alone, as stereo). Proxies made before 1 have none.
    /// Part of a segment's identity: segments of another version are never joined with this one's.
    public static let pictureVersion = 2

    /// Whether a proxy of `path` made by version `version` (nil: before 1) lacks what this version makes: pictures
    /// the source's tags call for processing (before 1), or audio (before 2: a source with more than one audio stream,
    /// or more than two channels in its first, lost tracks or channels). Reads the header only. Blocking.
    public static func isOutdated(proxyVersion version: Int?, of path: String) throws(MediaError) -> Bool {
        if let version, version >= pictureVersion { return false }
        if version == nil, try PictureProcessing.tagsCallForProcessing(path: path) { return true }
        let audio = try MediaSource(path: path, quickAnalysis: true).info.audioStreams
        return audio.count > 1 || (audio.first?.channels ?? 0) > 2
    }

    public init(sourcePath: String, outputPath: String, settings: TranscodeSettings, part: TranscodePart = .whole) {
        self.sourcePath = sourcePath
        self.outputPath = outputPath
        self.settings = settings
        self.part = part
    }

    /// Synchronous; runs on the caller's thread. Calls `progress` at most ~4 times a second (and once at
    /// 100 %); checks `isCancelled` between packets and throws `MediaError.cancelled`. On any error the
    /// partial output file is removed.
    public func run(progress: (TranscodeProgress) -> Void, isCancelled: () -> Bool) throws(MediaError) -> TranscodeResult {
        try feed(progress: progress, isCancelled: isCancelled).finish(progress: progress)
    }

    /// The first part of `run`: reads, decodes and encodes every picture and sample of the part, on the caller's
    /// thread, and returns the rest (`TranscodeTail`: draining the encoders and completing the file), which may run
    /// on another thread while this one starts the next part. An encoder's drain keeps few cores busy (its lookahead
    /// and frame threads empty one by one), and so does the next part's start (its decoder and lookahead fill):
    /// overlapped, they keep the cores busy across a seam. Same progress, cancellation and errors as `run`.
    ///
    /// A video segment may go on into the segments after it (`run`): one decoder and one encoder make them all, each
    /// into a file of its own that starts on a keyframe, with no drain at their seams; the run ends where `run.next`
    /// says so, or at the end of the source. Progress then describes the segment being fed.
    public func feed(
        progress: (TranscodeProgress) -> Void, isCancelled: () -> Bool, run: SegmentRun? = nil
    ) throws(MediaError) -> TranscodeTail {
        guard settings.videoBitRate > 0 else {
            throw MediaError.unsupported(path: sourcePath, reason: "the video bit rate must be positive")
        }
        guard case .video(let segment, _) = part, segment.startSlot > 0 else {
            let job = try TranscodeJob(path: sourcePath, output: outputPath, settings: settings, part: part)
            guard try job.feed(seekSeconds: nil, progress: progress, isCancelled: isCancelled, run: run) else {
                throw MediaError.corrupt(path: sourcePath, reason: "no video frame could be decoded")
            }
            return TranscodeTail(job)
        }
        // A segment after the first starts at a seek to the keyframe it begins on (half a frame after its first slot's
        // time, as slots round; a deinterlaced source's one frame before, for the field before it); a seek that lands
        // after that picture is retried further back, at last from the start.
        for extra in [0.0, 2, 10, 60, .infinity] {
            let job = try TranscodeJob(path: sourcePath, output: outputPath, settings: settings, part: part)
            let frame = 1 / av_q2d(job.video!.frameRate)
            let preRoll = job.video!.processing.deinterlaces ? frame : 0
            let start = (Double(segment.startSlot) + 0.49) * frame - preRoll
            let seek = extra.isFinite ? max(0, start - extra) : 0
            if try job.feed(seekSeconds: seek, progress: progress, isCancelled: isCancelled, run: run) {
                return TranscodeTail(job)
            }
        }
        throw MediaError.corrupt(path: sourcePath, reason: "no picture before frame \(segment.startSlot) could be decoded")
    }
}

/// What is left of a `Transcoder` run once every input frame went into the encoders (`Transcoder.feed`): draining
/// them and completing the file. Handed from the feeding thread to one other and used there alone (hence
/// `@unchecked Sendable`); dropped unfinished, it removes the partial output file, as a failed run does.
public final class TranscodeTail: @unchecked Sendable {
    private let job: TranscodeJob

    fileprivate init(_ job: TranscodeJob) {
        self.job = job
    }

    /// Drains the encoders, writes the file's index and closes it; `progress` gets the final (100 %) report.
    /// Blocking. For a run of segments, the result is its last segment's (`segment`, at `outputPath`); segments
    /// before it whose last packets were still in the encoder are completed too (`completedBeforeLast`).
    public func finish(progress: (TranscodeProgress) -> Void = { _ in }) throws(MediaError) -> TranscodeResult {
        try job.finish(progress: progress)
    }

    /// The video segment the tail completes (the last of a run); nil for the whole proxy or the audio.
    public var segment: SegmentPlan.Segment? { job.segmentOutputs.last?.segment }
    /// The file the tail completes.
    public var outputPath: String { job.segmentOutputs.last?.path ?? job.muxer.path }
    /// Segments of the run before `segment` that `finish` completed (their last packets came out in its drain).
    public var completedBeforeLast: [CompletedSegment] { job.closedSegments }
}

/// A run of consecutive video segments made by one decoder and one encoder (`Transcoder.feed`): the segments are
/// the unit of scheduling and of files, while the encoding goes on across their seams as in a one-pass encode
/// (each segment starts on a keyframe, so its file plays and joins on its own).
public struct SegmentRun {
    /// Asked on the feeding thread when `finished` is fully fed: the segment to go on with (the one after it) and the
    /// path of its file, or nil to end the run with `finished`.
    public var next: (_ finished: SegmentPlan.Segment) -> (segment: SegmentPlan.Segment, outputPath: String)?
    /// Told on the feeding thread when a segment's file is complete (its last packet written, the file closed); the
    /// run's last segment is `TranscodeTail.finish`'s.
    public var completed: (CompletedSegment) -> Void

    public init(
        next: @escaping (_ finished: SegmentPlan.Segment) -> (segment: SegmentPlan.Segment, outputPath: String)?,
        completed: @escaping (CompletedSegment) -> Void
    ) {
        self.next = next
        self.completed = completed
    }
}

/// A segment of a run whose file is complete (`SegmentRun`).
public struct CompletedSegment: Sendable {
    public let segment: SegmentPlan.Segment
    public let outputPath: String
    public let result: TranscodeResult
}

/// The state of one `Transcoder.run`. All libav objects live here and are freed with it; the
/// `Muxer` removes its unfinished file when released.
private final class TranscodeJob {
    let sourcePath: String
    let settings: TranscodeSettings
    let part: TranscodePart
    let source: MediaSource
    let muxer: Muxer
    /// The video track (none when only the audio is made).
    let video: TranscodeVideoTrack?
    /// Where output time 0 is, in microseconds of source time.
    let globalStartMicros: Int64
    /// The frames (or, for the audio, seconds × 1000) the run (a run of segments: its current segment) is expected
    /// to make, for progress.
    private(set) var estimatedTotal: Int64?
    /// The source's length in frame slots, when it states its duration.
    private let totalSlots: Int64?

    /// A video segment's file, and those a run went on into: packets go to the first until one reaches the next's
    /// first slot; the first is then complete (`closedSegments`).
    final class SegmentOutput {
        let segment: SegmentPlan.Segment
        let path: String
        let muxer: Muxer
        let stream: UnsafeMutablePointer<AVStream>

        init(segment: SegmentPlan.Segment, path: String, muxer: Muxer, stream: UnsafeMutablePointer<AVStream>) {
            self.segment = segment
            self.path = path
            self.muxer = muxer
            self.stream = stream
        }
    }
    private(set) var segmentOutputs: [SegmentOutput] = []
    /// Segments of a run whose files are complete, not yet told to the run (`SegmentRun.completed`).
    private(set) var closedSegments: [CompletedSegment] = []
    private var segmentRun: SegmentRun?

    /// One per audio stream of the source, in order (none when only video is made); by stream index for the packets.
    let audioTracks: [TranscodeAudioTrack]
    /// The audio streams after the first that could not be decoded, and why.
    let skippedAudioStreams: [String]
    private let audioTrackByStream: [Int: TranscodeAudioTrack]

    private let packet: Packet
    private let outPacket: Packet

    private let clock = ContinuousClock()
    /// When feeding began, for the rate in progress reports.
    private var started = ContinuousClock.now

    init(path: String, output: String, settings: TranscodeSettings, part: TranscodePart) throws(MediaError) {
        sourcePath = path
        self.settings = settings
        self.part = part
        // A segment needs no frame-rate estimate (its plan has the rate): the quick analysis the scrubbing readers use
        // is enough, and spares each segment the frames a full analysis decodes.
        var isSegment = false
        if case .video = part { isSegment = true }
        let source = try MediaSource(path: path, quickAnalysis: isSegment)
        self.source = source
        if source.info.isStillImage {
            throw MediaError.unsupported(path: path, reason: "it is a still image, not a video")
        }
        // Output time 0 = the source timeline's 0 (the earliest stream start); the other stream keeps its offset.
        globalStartMicros = source.startMicros
        let layout: Muxer.Layout
        switch part {
        case .whole: layout = .faststart
        case .video: layout = .fragmented
        case .audio: layout = .plain
        }
        muxer = try Muxer(path: output, layout: layout)

        let makesVideo = part != .audio
        let makesAudio = part == .whole || part == .audio
        if makesVideo {
            var slots: Range<Int64>? = nil
            var known: (frameRate: AVRational, fieldOrder: FieldOrder)? = nil
            if case .video(let segment, let plan) = part {
                slots = segment.startSlot..<(segment.endSlot ?? Int64.max)
                known = (plan.rational, plan.fieldOrder)
            }
            video = try TranscodeVideoTrack(
                source: source, muxer: muxer, settings: settings, slots: slots, known: known, globalStartMicros: globalStartMicros)
        } else {
            video = nil
        }

        let streams = source.demuxer.streams
        var tracks: [TranscodeAudioTrack] = []
        var skipped: [String] = []
        if makesAudio {
            for (number, info) in source.info.audioStreams.enumerated() {
                do {
                    tracks.append(
                        try TranscodeAudioTrack(
                            stream: streams[info.index], of: source, muxer: muxer, stereoBitRate: settings.audioBitRate,
                            language: info.language, title: info.title))
                } catch let error where number > 0 {
                    // A further stream this FFmpeg cannot decode (no decoder for its codec) is left out rather than
                    // costing the whole proxy; the primary one is not.
                    skipped.append("audio stream \(number) (\(info.codec)): \(error)")
                }
            }
            if tracks.isEmpty && part == .audio {
                throw MediaError.unsupported(path: path, reason: "it has no audio stream")
            }
        }
        skippedAudioStreams = skipped
        audioTracks = tracks
        audioTrackByStream = Dictionary(uniqueKeysWithValues: tracks.map { (Int($0.stream.pointee.index), $0) })
        // The demuxer skips what this part does not read.
        let read = Set(tracks.map { Int($0.stream.pointee.index) } + (video.map { [Int($0.stream.pointee.index)] } ?? []))
        for stream in streams where !read.contains(Int(stream.pointee.index)) { stream.pointee.discard = AVDISCARD_ALL }
        if part == .whole, let video { Transcoder.copyTimecodeAndCreationTime(from: source, to: muxer, video: video.output) }

        let durationMicros = source.demuxer.context.pointee.duration
        let seconds = durationMicros > 0 ? Double(durationMicros) / 1e6 : nil
        if let video {
            let fps = av_q2d(video.frameRate)
            let total = seconds.map { Int64(($0 * fps).rounded()) }
            totalSlots = total
            estimatedTotal = total.map { total in (video.endSlot.map { min($0, total) } ?? total) - video.firstSlot }
            if case .video(let segment, _) = part {
                segmentOutputs = [SegmentOutput(segment: segment, path: output, muxer: muxer, stream: video.output)]
            }
        } else {
            totalSlots = nil
            estimatedTotal = seconds.map { Int64($0 * 1000) }
        }

        packet = try Packet()
        outPacket = try Packet()
        try muxer.writeHeader()
    }

    /// Frames encoded so far (the audio alone: milliseconds of samples sent).
    private func done() -> Int64 {
        if let video { return video.framesEncoded }
        return audioTracks.map { $0.samplesSent * 1000 / Int64($0.rate) }.max() ?? 0
    }

    private func report(final: Bool, to progress: (TranscodeProgress) -> Void) {
        let count = done()
        let elapsed = (clock.now - started) / .seconds(1)
        let rate = elapsed > 0 ? Double(count) / elapsed : 0
        var percent = 0.0
        if final {
            percent = 100
        } else if let total = estimatedTotal, total > 0 {
            percent = min(99.9, Double(count) / Double(total) * 100)
        }
        let eta: Double? = final ? 0 : estimatedTotal.flatMap { total in rate > 0 ? max(0, Double(total - count) / rate) : nil }
        let message: String
        if let video {
            message =
                final
                ? "Proxy finished: \(count) frames"
                : "Encoding \(video.width)x\(video.height): frame \(video.nextSlot)"
                    + (estimatedTotal.map { " of ~\($0 + video.firstSlot)" } ?? "")
        } else {
            message = final ? "Audio finished" : "Encoding audio: \(count / 1000) s"
        }
        progress(
            TranscodeProgress(
                framesEncoded: video == nil ? 0 : count, estimatedTotalFrames: video == nil ? nil : estimatedTotal,
                percent: percent, framesPerSecond: video == nil ? 0 : rate, etaSeconds: eta, message: message))
    }

    private var write: TranscodeAudioTrack.Write {
        { frame, encoder, stream throws(MediaError) in try self.encode(frame, with: encoder, stream: stream) }
    }

    /// Reads and decodes the part and sends every frame to the encoders. Returns false when (a video segment) the
    /// seek landed after the segment's first picture (`TranscodeVideoTrack.missedStart`): nothing is written then.
    /// - Parameter seekSeconds: where reading starts (a video segment after the first); nil: at the beginning.
    func feed(seekSeconds: Double?, progress: (TranscodeProgress) -> Void, isCancelled: () -> Bool, run: SegmentRun?) throws(MediaError) -> Bool {
        started = clock.now
        if let run, let video, !segmentOutputs.isEmpty {
            segmentRun = run
            video.continueInto = { [unowned self] from throws(MediaError) in try self.continueRun(from: from) }
        }
        defer {
            segmentRun = nil
            video?.continueInto = nil
        }
        var lastReport = started
        let write = self.write
        if let seekSeconds, let video { try source.seek(to: seekSeconds, in: video.stream) }
        let videoIndex = video.map { Int($0.stream.pointee.index) }
        while true {
            if isCancelled() { throw MediaError.cancelled }
            guard try source.read(into: packet) else { break }
            defer { packet.unref() }
            if packet.streamIndex == videoIndex, let video {
                try video.decode(packet.pointer, write: write)
                if video.isDone { break }
            } else if let track = audioTrackByStream[packet.streamIndex] {
                try track.decode(packet.pointer, globalStartMicros: globalStartMicros, write: write)
            }
            if let segmentRun, !closedSegments.isEmpty {
                let closed = closedSegments
                closedSegments = []
                for segment in closed { segmentRun.completed(segment) }
            }
            let now = clock.now
            if now - lastReport >= .milliseconds(250) {
                lastReport = now
                report(final: false, to: progress)
            }
        }
        if isCancelled() { throw MediaError.cancelled }

        // Flush decoders, then the audio tail; the encoders are `finish`'s.
        if let video, !video.isDone { try video.decode(nil, write: write) }
        if video?.missedStart == true { return false }
        for track in audioTracks { try track.decode(nil, globalStartMicros: globalStartMicros, write: write) }
        if let video, !video.hasPicture && (part == .whole || video.firstSlot == 0) {
            throw MediaError.corrupt(path: sourcePath, reason: "no video frame could be decoded")
        }
        video?.releaseInput()
        return true
    }

    /// Drains the encoders and completes the file (after `feed`).
    func finish(progress: (TranscodeProgress) -> Void) throws(MediaError) -> TranscodeResult {
        let write = self.write
        try video?.finish(write: write)
        for track in audioTracks { try track.finish(write: write) }
        try (segmentOutputs.last?.muxer ?? muxer).finish()
        report(final: true, to: progress)
        return result(frameCount: video?.framesEncoded ?? 0)
    }

    /// Where a run of segments goes on from the slot `from` (the end of the segment fed): the next segment's file is
    /// opened (`SegmentRun.next`) and its range returned; nil ends the run.
    private func continueRun(from: Int64) throws(MediaError) -> Range<Int64>? {
        guard let segmentRun, let video, let current = segmentOutputs.last, let next = segmentRun.next(current.segment),
            next.segment.startSlot == from
        else { return nil }
        let muxer = try Muxer(path: next.outputPath, layout: .fragmented)
        let stream = try muxer.addStream(for: video.encoder)
        stream.pointee.avg_frame_rate = video.frameRate
        try muxer.writeHeader()
        segmentOutputs.append(SegmentOutput(segment: next.segment, path: next.outputPath, muxer: muxer, stream: stream))
        let end = next.segment.endSlot ?? .max
        estimatedTotal = totalSlots.map { min(end, $0) - from }
        started = clock.now
        return from..<end
    }

    private func result(frameCount: Int64) -> TranscodeResult {
        let fps = video.map { av_q2d($0.frameRate) } ?? 0
        let videoSeconds = Double(frameCount) / max(fps, 1e-9)
        let audioSeconds = audioTracks.map { Double($0.samplesSent) / Double($0.rate) }.max() ?? 0
        return TranscodeResult(
            width: video?.width ?? 0, height: video?.height ?? 0, videoBitRate: settings.videoBitRate,
            audioBitRate: audioTracks.first?.bitRate,
            durationSeconds: max(videoSeconds, audioSeconds), hasAudio: !audioTracks.isEmpty,
            audioTracks: audioTracks.map { TranscodeResult.AudioTrack(channels: Int($0.channels), bitRate: $0.bitRate) },
            skippedAudioStreams: skippedAudioStreams,
            videoEncoder: video?.encoder.name ?? "", hardwareFallbackReason: video?.hardwareFallbackReason,
            frameCount: frameCount, frameRate: fps,
            toneMapped: video?.processing.toneMaps ?? false, deinterlaced: video?.processing.deinterlaces ?? false)
    }

    // MARK: encoding

    /// Sends `frame` (nil = flush) and writes every packet that comes out.
    private func encode(
        _ frame: UnsafeMutablePointer<AVFrame>?, with encoder: CodecContext,
        stream: UnsafeMutablePointer<AVStream>
    ) throws(MediaError) {
        let sent = avcodec_send_frame(encoder.pointer, frame)
        if sent < 0 && sent != FFmpegResult.eof {
            throw MediaError.ffmpeg(operation: "avcodec_send_frame(\(encoder.name))", code: sent, message: FFmpegResult.message(sent))
        }
        while true {
            let rc = avcodec_receive_packet(encoder.pointer, outPacket.pointer)
            if rc == FFmpegResult.eagain || rc == FFmpegResult.eof { return }
            if rc < 0 { throw MediaError.ffmpeg(operation: "avcodec_receive_packet(\(encoder.name))", code: rc, message: FFmpegResult.message(rc)) }
            defer { outPacket.unref() }
            if outPacket.pointer.pointee.duration == 0 && encoder === video?.encoder { outPacket.pointer.pointee.duration = 1 }
            if encoder === video?.encoder, !segmentOutputs.isEmpty {
                // A run's packets: on to the next segment's file once one reaches its first slot (pts are slots).
                while segmentOutputs.count > 1 && outPacket.pointer.pointee.pts >= segmentOutputs[1].segment.startSlot {
                    try closeFirstSegment(timeBase: encoder.pointer.pointee.time_base)
                }
                try segmentOutputs[0].muxer.write(outPacket.pointer, timeBase: encoder.pointer.pointee.time_base, stream: segmentOutputs[0].stream)
            } else {
                try muxer.write(outPacket.pointer, timeBase: encoder.pointer.pointee.time_base, stream: stream)
            }
        }
    }
}

extension TranscodeJob {
    /// Completes the first file of a run (every packet of its segment is written) and keeps it for the run.
    fileprivate func closeFirstSegment(timeBase: AVRational) throws(MediaError) {
        let output = segmentOutputs.removeFirst()
        try output.muxer.finish()
        let frames = (output.segment.endSlot ?? output.segment.startSlot) - output.segment.startSlot
        closedSegments.append(CompletedSegment(segment: output.segment, outputPath: output.path, result: result(frameCount: frames)))
    }
}

extension Transcoder {
    /// The source's timecode (its video stream's `timecode` tag, which a `tmcd` track gives it, else the file's, else a
    /// data stream's) on the proxy's video stream, where the MP4 muxer writes a `tmcd` track of its own; and the file's
    /// creation time. An editor relinks proxy and source by them.
    static func copyTimecodeAndCreationTime(from source: MediaSource, to muxer: Muxer, video: UnsafeMutablePointer<AVStream>) {
        let context = source.demuxer.context.pointee
        let streams = source.demuxer.streams
        let primary = source.video.flatMap { MediaProbe.tag("timecode", in: $0.pointee.metadata) }
        let timecode =
            primary ?? MediaProbe.tag("timecode", in: context.metadata)
            ?? streams.lazy.compactMap { MediaProbe.tag("timecode", in: $0.pointee.metadata) }.first
        if let timecode { muxer.setMetadata("timecode", timecode, on: video) }
        if let created = MediaProbe.tag("creation_time", in: context.metadata) { muxer.setMetadata("creation_time", created) }
    }
}
