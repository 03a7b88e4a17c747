import CFFmpeg

/// How a proxy is cut into segments: runs of the proxy's frame slots, each made on its own (a seek, its own encoder)
/// and joined later without re-encoding. Deterministic for a source's content: every process plans the same segments.
///
/// Boundaries: each segment after the first starts at the first source keyframe at least `nominalSeconds` after the
/// previous boundary (its slot, `round((pts - start) × fps)`), so a segment's encode seeks straight to the keyframe it
/// starts on and decodes nothing it throws away. A source without a keyframe index (MPEG-TS, raw streams) is cut every
/// `nominalSeconds`; its encodes then seek to the keyframe before and decode from there. A last segment shorter than
/// half the nominal length joins the one before it.
///
/// Length (`nominalSeconds` = 10 s): short enough that the segment at the playhead is ready within seconds of the
/// request (one segment's encode) and a crash loses at most that much work; long enough that what each segment costs
/// on its own stays within the 5 % the whole proxy may cost over a one-pass encode. That cost is mostly idle cores, not
/// work (CPU time is the same): the encoder's lookahead and frame threads draining at a segment's end and the decoder's
/// filling at the next one's start, then the fsync, the checksum and the catalogue row. Measured on the benchmark's
/// 1080p source against the one-pass encode, in the same runs: 6 s segments 1.16×, 12 s 1.07×, and 10 s with the
/// audio made on a lane of its own beside the video 0.98–1.03×. HLS allows any target duration; 10 s was its
/// authoring guide's recommendation before 6 s.
public struct SegmentPlan: Sendable, Equatable, Codable {
    public struct Segment: Sendable, Equatable, Codable {
        public let index: Int
        /// The first frame slot of the segment.
        public let startSlot: Int64
        /// The slot after its last; nil for the last segment, which runs to the end of the source.
        public let endSlot: Int64?

        public init(index: Int, startSlot: Int64, endSlot: Int64?) {
            self.index = index
            self.startSlot = startSlot
            self.endSlot = endSlot
        }

        /// The slots as a range (nil: from `startSlot` to the end).
        public var slots: Range<Int64>? { endSlot.map { startSlot..<$0 } }
    }

    /// The proxy's constant frame rate, as a fraction.
    public let frameRateNumerator: Int32
    public let frameRateDenominator: Int32
    /// The source's duration in seconds, as its container says (0 when it does not).
    public let durationSeconds: Double
    /// How many audio streams the source has (the proxy's audio part makes a track of each).
    public let audioStreams: Int
    /// The source's scan (`ScanDetector`), found once for every segment.
    public let fieldOrder: FieldOrder
    public let segments: [Segment]

    /// The target length of a segment, in seconds.
    public static let nominalSeconds = 10.0

    public var frameRate: Double { Double(frameRateNumerator) / Double(frameRateDenominator) }
    var rational: AVRational { AVRational(num: frameRateNumerator, den: frameRateDenominator) }

    /// The time a slot starts at, in seconds of the proxy's timeline.
    public func seconds(ofSlot slot: Int64) -> Double { Double(slot) * Double(frameRateDenominator) / Double(frameRateNumerator) }

    /// The time range a segment covers (the last one ends at the source's duration).
    public func timeRange(of segment: Segment) -> ClosedRange<Double> {
        let start = seconds(ofSlot: segment.startSlot)
        let end = segment.endSlot.map(seconds(ofSlot:)) ?? max(durationSeconds, start)
        return start...max(start, end)
    }

    /// The segment that holds `seconds` (the first before 0, the last after the end).
    public func segment(containing seconds: Double) -> Segment {
        let slot = Int64((seconds * frameRate).rounded(.down))
        return segments.last { $0.startSlot <= slot } ?? segments[0]
    }

    public init(
        frameRateNumerator: Int32, frameRateDenominator: Int32, durationSeconds: Double, audioStreams: Int,
        fieldOrder: FieldOrder, segments: [Segment]
    ) {
        self.fieldOrder = fieldOrder
        self.frameRateNumerator = frameRateNumerator
        self.frameRateDenominator = frameRateDenominator
        self.durationSeconds = durationSeconds
        self.audioStreams = audioStreams
        self.segments = segments
    }

    /// Plans the segments of a proxy of `path`: reads the header and the keyframe index (and a few packets).
    /// Blocking.
    public static func make(path: String, nominalSeconds: Double = nominalSeconds) throws(MediaError) -> SegmentPlan {
        let source = try MediaSource(path: path)
        let video = try source.pictureStream()
        let rate = TranscodeVideoTrack.outputFrameRate(source.demuxer.context, video)
        let fps = av_q2d(rate)
        let duration = max(0, source.durationSeconds ?? 0)
        let totalSlots = Int64((duration * fps).rounded())
        let keyframes = try keyframeSlots(of: source, video: video, frameRate: rate)
        let step = max(1, Int64((nominalSeconds * fps).rounded()))

        var starts: [Int64] = [0]
        var candidates = keyframes.makeIterator()
        var next = candidates.next()
        while true {
            let target = starts.last! + step
            var boundary = target
            if !keyframes.isEmpty {
                while let slot = next, slot < target { next = candidates.next() }
                guard let slot = next else { break }
                boundary = slot
            }
            guard boundary + step / 2 <= totalSlots else { break }
            starts.append(boundary)
        }
        let segments = starts.enumerated().map { index, start in
            Segment(index: index, startSlot: start, endSlot: index + 1 < starts.count ? starts[index + 1] : nil)
        }
        return SegmentPlan(
            frameRateNumerator: rate.num, frameRateDenominator: rate.den, durationSeconds: duration,
            audioStreams: source.info.audioStreams.count, fieldOrder: try ScanDetector.fieldOrder(path: path), segments: segments)
    }

    /// The slots of the primary video's keyframes, from the container's index: its timestamps are decoding times, so
    /// the first keyframe packet's presentation offset is added (a slot a little off is safe: an encode that finds no
    /// picture before its first slot seeks further back). Empty when the container has no index.
    private static func keyframeSlots(
        of source: MediaSource, video: UnsafeMutablePointer<AVStream>, frameRate: AVRational
    ) throws(MediaError) -> [Int64] {
        let count = avformat_index_get_entries_count(video)
        guard count > 1 else { return [] }
        var offset: Int64 = 0
        let packet = try Packet()
        for _ in 0..<500 {
            guard try source.read(into: packet) else { break }
            defer { packet.unref() }
            let p = packet.pointer.pointee
            if packet.streamIndex == Int(video.pointee.index), p.flags & AV_PKT_FLAG_KEY != 0 {
                if p.pts != aura_nopts_value() && p.dts != aura_nopts_value() { offset = p.pts - p.dts }
                break
            }
        }
        let tb = video.pointee.time_base
        let start = av_rescale_q(source.startMicros, aura_time_base_q(), tb)
        let rounding = AVRounding(rawValue: AV_ROUND_NEAR_INF.rawValue | AV_ROUND_PASS_MINMAX.rawValue)
        var slots: [Int64] = []
        for index in 0..<count {
            guard let entry = avformat_index_get_entry(video, index), entry.pointee.flags & AVINDEX_KEYFRAME != 0 else { continue }
            let slot = av_rescale_q_rnd(entry.pointee.timestamp + offset - start, tb, av_inv_q(frameRate), rounding)
            if slot > 0 && slot != slots.last { slots.append(slot) }
        }
        return slots.sorted()
    }
}
