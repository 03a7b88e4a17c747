import CFFmpeg

/// A decoded picture's place on the source's timeline.
public struct PicturePosition: Sendable, Equatable {
    /// Presentation time in seconds (source timeline: 0 is the start of the file's media).
    public var seconds: Double
    /// When the next picture takes over, when known (the end of the video for the last one).
    public var endSeconds: Double?
}

/// Pictures of a source's primary video at any time, for scrubbing: one demuxer and decoder kept open ("warm")
/// between requests, seeking only when that is cheaper than decoding on.
///
/// - Accurate requests get the picture shown at a time: the last one whose presentation time is at or before it,
///   variable frame rates included. A time before the first picture gets the first; one at or after the last
///   picture's start gets the last.
/// - Inaccurate requests may get the keyframe at or before the time (one decoded picture after a seek).
/// - Moving forward decodes on without seeking when no keyframe lies between the decoder's position and the
///   target (a seek would land where the decoder already is, or behind it); moving back, or past a keyframe, seeks.
/// - On the way to the target, B-frames that nothing refers to and that show before a picture already sent (itself
///   at or before the target) are skipped by the decoder: they cannot be the answer.
/// - For streams without reordering (no B-frames, as proxies are made), a picture's end is the next packet's
///   timestamp: the search stops without waiting for that picture (a packet read but not needed yet is kept,
///   unsent, for the next request).
///
/// Not thread-safe: one caller at a time. libav objects are freed with it.
public final class VideoFrameReader {
    public let source: MediaSource
    public let geometry: DisplayGeometry
    /// Where the video ends on the source timeline (the last picture's end; the container's duration when the
    /// stream does not say).
    public let endSeconds: Double
    /// Whether the source is full-range (JPEG) YUV.
    public let fullRange: Bool
    let stream: UnsafeMutablePointer<AVStream>
    private let decoder: StreamDecoder
    /// Whether pictures come out in another order than packets go in (B-frames): then a picture's end is only
    /// known once the next picture has come out.
    private var reorders: Bool {
        sawReordering || stream.pointee.codecpar.pointee.video_delay > 0 || decoder.codec.pointer.pointee.has_b_frames > 0
    }

    /// The picture last returned, with its position; valid until the next request.
    private let current: Frame
    private var currentPosition: PicturePosition?
    /// The picture shown just before `current` (its end is `current`'s start), when the reader moved straight on
    /// from it and the source is interlaced: deinterlacing needs both neighbours of a picture.
    private let prior: Frame
    private var priorSeconds: Double?
    /// Colour and field order, found at the first need (`pictureProcessing()`).
    private var processing: PictureProcessing?
    /// Scratch: the best picture so far during a search.
    private let candidate: Frame
    /// Pictures that came out past the last target, in order (kept for a request further on).
    private var pendingFrames: [(frame: Frame, seconds: Double)] = []
    /// Presentation times of packets sent whose pictures have not come out yet (frame threading holds pictures
    /// back), in decode order.
    private var inFlight: [Double] = []
    /// Whether packets arrived out of presentation order (B-frames the codec parameters did not announce).
    private var sawReordering = false
    /// Presentation times of packets sent for skipping (superseded B-frames): their pictures never come out.
    private var skipped: [Double] = []
    private let packet: Packet
    /// A packet read but not yet sent (its timestamp ended the last search).
    private var hasLookahead = false
    /// Whether the decoder holds a position it can decode on from (false after draining at the end).
    private var positioned = false
    /// The latest presentation time sent to the decoder since the last seek.
    private var lastSentSeconds: Double?

    /// Opens `path`'s primary video (throws `.unsupported` when there is none, and the `MediaSource` errors).
    public convenience init(path: String, threads: Int = 2) throws(MediaError) {
        try self.init(source: MediaSource(path: path, quickAnalysis: true), threads: threads)
    }

    /// - Parameter threads: decoder threads. Frame threading holds each picture back until the next packet is
    ///   sent, which a search for a time sends anyway, and speeds up the run from a keyframe to the target.
    public init(source: MediaSource, threads: Int = 2) throws(MediaError) {
        let video = try source.pictureStream()
        self.source = source
        stream = video
        decoder = try StreamDecoder(video, of: source, threads: threads)
        geometry = DisplayGeometry(stream: video)
        let par = video.pointee.codecpar.pointee
        let decoded = decoder.codec.pointer.pointee.pix_fmt
        fullRange = par.color_range == AVCOL_RANGE_JPEG || [AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUVJ444P].contains(decoded)
        // The latest of what the stream, the container and the index say: a variable-rate stream's declared
        // duration can fall short of its last picture.
        var end = -Double.infinity
        if video.pointee.duration > 0 && video.pointee.duration != aura_nopts_value() {
            let start = video.pointee.start_time == aura_nopts_value() ? 0 : video.pointee.start_time
            end = source.seconds(start + video.pointee.duration, in: video)
        }
        if let duration = source.durationSeconds { end = max(end, duration) }
        let entries = avformat_index_get_entries_count(video)
        if entries > 0, let last = avformat_index_get_entry(video, entries - 1) {
            let rate = av_q2d(video.pointee.avg_frame_rate)
            end = max(end, source.seconds(last.pointee.timestamp, in: video) + (rate > 0 ? 1 / rate : 0))
        }
        endSeconds = end.isFinite ? end : .infinity
        current = try Frame()
        prior = try Frame()
        candidate = try Frame()
        packet = try Packet()
    }

    /// Bits per sample of the decoded pictures (8, 10, 12…).
    public var bitsPerSample: Int {
        guard let descriptor = av_pix_fmt_desc_get(decoder.codec.pointer.pointee.pix_fmt) else { return 8 }
        return Int(descriptor.pointee.comp.0.depth)
    }

    /// The decoded picture last returned by `picture(at:accurate:observe:)`.
    var currentFrame: UnsafeMutablePointer<AVFrame> { current.pointer }

    /// The position of `currentFrame`, nil before the first request and after a failed one.
    var currentPicturePosition: PicturePosition? { currentPosition }

    /// How this source's pictures are processed (colour, field order). Found at the first call: the field order
    /// decodes the first seconds of SD and HD sources (`ScanDetector`), on a reader of its own.
    public func pictureProcessing() throws(MediaError) -> PictureProcessing {
        if let processing { return processing }
        let found = PictureProcessing(stream: stream, fieldOrder: try ScanDetector.fieldOrder(path: source.path))
        processing = found
        return found
    }

    /// Takes a processing found earlier for the same content (by another reader), so the field order is not measured
    /// again.
    public func adopt(_ processing: PictureProcessing) {
        self.processing = processing
    }

    /// The pictures before and after the one at `position` (the current one), nil at either end of the video:
    /// deinterlacing needs a frame's neighbours. The previous one is the one the reader came from when it moved
    /// straight on, else it seeks back for it. Afterwards the reader holds the next picture (or `position`'s, at the
    /// end).
    func neighbourhood(of position: PicturePosition) throws(MediaError) -> (previous: Frame?, current: Frame, next: Frame?) {
        func copy(_ frame: Frame) throws(MediaError) -> Frame {
            let kept = try Frame()
            try FFmpegResult.check(av_frame_ref(kept.pointer, frame.pointer), "av_frame_ref")
            return kept
        }
        var previous: Frame?
        var here = position
        if let priorSeconds, priorSeconds < position.seconds, currentPosition == position {
            previous = try copy(prior)
        } else {
            let before = try picture(at: position.seconds - 1e-6)
            if before.seconds < position.seconds { previous = try copy(current) }
            here = try picture(at: position.seconds)
        }
        let this = try copy(current)
        var next: Frame?
        if let end = here.endSeconds, end.isFinite, end < endSeconds {
            let after = try picture(at: end)
            if after.seconds > here.seconds { next = try copy(current) }
        }
        return (previous, this, next)
    }

    /// The keyframe at or before `seconds`, from the container's index (nil when it has none, or none is before).
    public func keyframeSeconds(atOrBefore seconds: Double) -> Double? {
        let index = av_index_search_timestamp(stream, source.timestamp(seconds, in: stream), AVSEEK_FLAG_BACKWARD)
        guard index >= 0, let entry = avformat_index_get_entry(stream, index) else { return nil }
        return source.seconds(entry.pointee.timestamp, in: stream)
    }

    /// Decodes (if needed) and returns the position of the picture at `seconds`; the picture is `currentFrame`.
    /// `observe` gets every picture whose span became known on the way (start, end): the caller's timeline.
    /// Throws `.corrupt` when nothing decodable lies there.
    @discardableResult
    public func picture(
        at seconds: Double, accurate: Bool = true,
        observe: (_ start: Double, _ end: Double) -> Void = { _, _ in }
    ) throws(MediaError) -> PicturePosition {
        if let position = currentPosition, position.seconds <= seconds,
            seconds < position.endSeconds ?? (pendingFrames.first?.seconds ?? -.infinity)
        {
            return position
        }
        if canDecodeOn(to: seconds) && accurate {
            return try search(seconds, firstPictureOnly: false, observe: observe)
        }
        // Containers index keyframes by decoding time: with B-frames a keyframe found for a time may show after
        // it. Landing past the time, seek further back (1 s, 2 s, 4 s…) until a picture at or before it comes out,
        // or the start of the file is reached (then the time is before the first picture).
        var back = 0.0
        while true {
            let start = seconds - back
            try seek(to: start)
            let position = try search(seconds, firstPictureOnly: !accurate, observe: observe)
            if position.seconds <= seconds || start <= 0 { return position }
            back = back == 0 ? 1 : back * 2
        }
    }

    /// Whether decoding forward from where the decoder is reaches `seconds` sooner than a seek would.
    private func canDecodeOn(to seconds: Double) -> Bool {
        guard positioned, let position = currentPosition, position.seconds <= seconds, let sent = lastSentSeconds else { return false }
        if let keyframe = keyframeSeconds(atOrBefore: seconds) { return keyframe <= sent }
        return seconds - sent < 1  // No index: a second of decoding costs less than an unindexed seek.
    }

    private func seek(to seconds: Double) throws(MediaError) {
        try source.seek(to: seconds, in: stream)
        decoder.flush()
        hasLookahead = false
        packet.unref()
        pendingFrames.removeAll()
        inFlight.removeAll()
        skipped.removeAll()
        lastSentSeconds = nil
        positioned = true
        currentPosition = nil
        current.unref()
        prior.unref()
        priorSeconds = nil
    }

    /// Reads and decodes until the picture for `target` is known; moves it into `current`.
    private func search(
        _ target: Double, firstPictureOnly: Bool,
        observe: (Double, Double) -> Void
    ) throws(MediaError) -> PicturePosition {
        var best: Double? = nil
        var bestEnd: Double? = nil
        candidate.unref()
        if let position = currentPosition, position.seconds <= target {
            // Decoding on: the picture we hold is the best so far.
            av_frame_ref(candidate.pointer, current.pointer)
            best = position.seconds
        }
        var finished = false
        /// Takes the next picture to come out of the decoder (presentation order); once the search is over,
        /// pictures still coming out are kept for the next request.
        func take(_ frame: UnsafeMutablePointer<AVFrame>, at seconds: Double) {
            if finished {
                keep(frame, at: seconds)
                return
            }
            // Out in order: every packet up to this picture is done (a damaged one gave no picture).
            if reorders {
                if let index = inFlight.firstIndex(of: seconds) { inFlight.remove(at: index) }
            } else {
                inFlight.removeAll { $0 <= seconds }
            }
            if let index = skipped.firstIndex(of: seconds) { skipped.remove(at: index) }  // a reference B-frame: decoded
            if let best, seconds > best {
                // A skipped picture between the two starts where the earlier one ends.
                observe(best, skipped.filter { $0 > best && $0 < seconds }.min() ?? seconds)
                skipped.removeAll { $0 <= best }
            }
            if seconds <= target || best == nil {
                candidate.unref()
                av_frame_ref(candidate.pointer, frame)
                best = seconds
                // Past the target already (a time before the first picture, or a keyframe-only request): take it.
                if firstPictureOnly || seconds > target {
                    finished = true
                } else if !reorders, let next = inFlight.first, next > target {
                    // The next picture (already sent to the decoder) starts after the target.
                    bestEnd = next
                    observe(seconds, next)
                    finished = true
                }
                return
            }
            // The first picture past the target ends the search; it waits for a request further on.
            bestEnd = seconds
            keep(frame, at: seconds)
            finished = true
        }
        while !finished, !pendingFrames.isEmpty {
            let (frame, seconds) = pendingFrames.removeFirst()
            take(frame.pointer, at: seconds)
        }
        while !finished {
            if !hasLookahead {
                guard try source.read(into: packet) else {
                    try drain { frame, seconds in take(frame, at: seconds) }
                    if let best, bestEnd == nil {
                        // The last picture: shown until the end of the video (for ever, if the container's
                        // duration is short of it).
                        bestEnd = endSeconds > best ? endSeconds : .infinity
                        observe(best, bestEnd!)
                    }
                    break
                }
                hasLookahead = true
            }
            guard decoder.accepts(packet) else {
                packet.unref()
                hasLookahead = false
                continue
            }
            let packetSeconds = packet.pointer.pointee.pts == aura_nopts_value() ? nil : source.seconds(packet.pointer.pointee.pts, in: stream)
            if !reorders, !firstPictureOnly, inFlight.isEmpty, let best, let packetSeconds, packetSeconds > target, packetSeconds > best {
                // Every picture sent came out and the next one starts after the target: the best one is it. The
                // packet waits, unsent, for the next request.
                bestEnd = packetSeconds
                observe(best, packetSeconds)
                break
            }
            hasLookahead = false
            // A picture that shows before one already sent, which itself shows at or before the target, cannot be
            // the answer: when nothing refers to it (a B-frame) the decoder may skip it.
            var superseded = false
            if let packetSeconds {
                if let last = inFlight.last, packetSeconds < last { sawReordering = true }
                if !firstPictureOnly, let sent = lastSentSeconds, packetSeconds < sent, sent <= target {
                    superseded = true
                    skipped.append(packetSeconds)
                } else {
                    inFlight.append(packetSeconds)
                    if inFlight.count > 256 { inFlight.removeFirst(inFlight.count - 256) }  // damaged packets gave nothing
                }
                lastSentSeconds = max(lastSentSeconds ?? packetSeconds, packetSeconds)
            }
            decoder.codec.pointer.pointee.skip_frame = superseded ? AVDISCARD_NONREF : AVDISCARD_DEFAULT
            defer { packet.unref() }
            try decoder.decode(packet.pointer) { frame throws(MediaError) in
                guard let timestamp = StreamDecoder.timestamp(of: frame) else { return }
                take(frame, at: source.seconds(timestamp, in: stream))
            }
        }
        guard let best else {
            throw MediaError.corrupt(path: source.path, reason: "no picture could be decoded at \(target) s")
        }
        // The picture held so far is the new one's neighbour when it ends where the new one starts: kept for
        // interlaced sources only (one more picture in memory).
        prior.unref()
        priorSeconds = nil
        if processing?.deinterlaces == true, let old = currentPosition, old.seconds < best, old.endSeconds == best {
            av_frame_move_ref(prior.pointer, current.pointer)
            priorSeconds = old.seconds
        }
        current.unref()
        av_frame_move_ref(current.pointer, candidate.pointer)
        let position = PicturePosition(seconds: best, endSeconds: bestEnd)
        currentPosition = position
        return position
    }

    /// Keeps a picture that came out past the target, for the next request.
    private func keep(_ frame: UnsafeMutablePointer<AVFrame>, at seconds: Double) {
        guard let kept = try? Frame() else { return }
        av_frame_move_ref(kept.pointer, frame)
        pendingFrames.append((kept, seconds))
    }

    /// Sends the end of the stream and takes the pictures the decoder still holds; the decoder must be flushed
    /// (a seek) before it decodes again.
    private func drain(consider: (UnsafeMutablePointer<AVFrame>, Double) -> Void) throws(MediaError) {
        positioned = false
        defer { inFlight.removeAll() }
        try decoder.decode(nil) { frame throws(MediaError) in
            guard let timestamp = StreamDecoder.timestamp(of: frame) else { return }
            consider(frame, source.seconds(timestamp, in: stream))
        }
    }
}
