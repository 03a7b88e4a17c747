import CFFmpeg

/// The source's primary video on its way into a proxy: its decoder (threaded) → `PictureConverter` (size, rotation,
/// colour, scan) → the constant-frame-rate slot rule → `VideoEncoder` (H.264), into one track.
///
/// Slots: the output is constant frame rate at `frameRate`; a picture goes to slot `round((pts - start) × fps)`. A
/// second picture in a filled slot is dropped; a gap repeats the previous picture (at most 60 s of it, so a wild
/// timestamp jump cannot make hours of copies), like `-vsync cfr`. The first picture of the file also fills the slots
/// from 0 (video starts at 0 even when audio starts earlier).
///
/// A track encodes the slots `slots` (a whole proxy: `0..<nil`, to the end). A picture before them is a pre-roll
/// picture: not encoded, but repeated into the range's first slots when the first picture inside comes late, as a
/// one-pass encode would have repeated it. Once a picture at or past the range's end is seen, the range's last slots
/// are filled the same way and the track is `complete`: a range encoded after a seek to a keyframe at or before its
/// start gets exactly the pictures a one-pass encode puts in those slots.
///
/// A segment's track takes the frame rate and scan its plan found (`known`) rather than finding them again for each
/// segment.
///
/// Used from the transcode's one thread; encoded packets go to the owner's `write` closure.
final class TranscodeVideoTrack {
    let stream: UnsafeMutablePointer<AVStream>
    let decoder: StreamDecoder
    let encoder: CodecContext
    let output: UnsafeMutablePointer<AVStream>
    let hardwareFallbackReason: String?
    let converter: PictureConverter
    let processing: PictureProcessing
    let frameRate: AVRational
    let width: Int, height: Int
    /// The first slot of the range being encoded, and the slot after its last (nil: to the end of the source). A run
    /// of segments (`continueInto`) moves them on from one segment's range to the next.
    private(set) var firstSlot: Int64, endSlot: Int64?
    /// Asked when the range is full: the next range to go on with (from the slot after it, encoded without a pause,
    /// starting on a keyframe), or nil to end here.
    var continueInto: ((_ from: Int64) throws(MediaError) -> Range<Int64>?)?
    /// Whether the next picture encoded must be a keyframe (the first of a range a run went on into).
    private var keyframeNext = false
    /// Where output time 0 is, in microseconds of source time.
    private let globalStartMicros: Int64

    /// The next slot to encode; `nextSlot - firstSlot` slots are encoded.
    private(set) var nextSlot: Int64
    /// Whether a picture at or past `endSlot` was seen and the range is full: nothing more is needed.
    private(set) var complete = false
    /// Whether the first picture inside the range came with no picture before it to repeat into the range's first
    /// slots (a seek landed after the range's start): the range cannot be made from this position.
    private(set) var missedStart = false
    private var haveFrame = false
    private var havePreRoll = false
    /// The last picture placed (a reference of its own), repeated into gaps.
    private let lastFrame: Frame

    typealias Write = TranscodeAudioTrack.Write

    init(
        source: MediaSource, muxer: Muxer, settings: TranscodeSettings, slots: Range<Int64>?,
        known: (frameRate: AVRational, fieldOrder: FieldOrder)? = nil, globalStartMicros: Int64
    ) throws(MediaError) {
        let video = try source.pictureStream()
        let path = source.path
        stream = video
        decoder = try StreamDecoder(video, of: source, threads: settings.threads)
        let vdec = decoder.codec

        // Geometry: SAR → square pixels, display rotation applied to the pixels.
        let par = video.pointee.codecpar.pointee
        let sar = video.pointee.sample_aspect_ratio.num > 0 ? video.pointee.sample_aspect_ratio : par.sample_aspect_ratio
        let ccw = aura_stream_display_rotation(video)
        let rotation = ccw.isNaN ? 0 : MediaProbe.clockwiseRotation(fromCounterClockwise: ccw)
        (width, height) = TranscodeGeometry.outputSize(
            sourceWidth: Int(par.width), sourceHeight: Int(par.height),
            sampleAspectRatio: sar.num > 0 ? (Int(sar.num), Int(sar.den)) : nil,
            rotationDegrees: rotation, target: settings.target)
        frameRate = known?.frameRate ?? Self.outputFrameRate(source.demuxer.context, video)
        let fps = av_q2d(frameRate)

        let decodedFormat = vdec.pointer.pointee.pix_fmt
        let sourceFullRange =
            par.color_range == AVCOL_RANGE_JPEG || [AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUVJ444P].contains(decodedFormat)
        // Colour and scan: HDR tone-mapped, wide gamut and SD matrices converted, interlaced deinterlaced. The field
        // order is found on a reader of its own (it decodes the first seconds of SD and HD sources).
        let fieldOrder: FieldOrder
        if let known {
            fieldOrder = known.fieldOrder
        } else {
            fieldOrder = try ScanDetector.fieldOrder(path: path)
        }
        processing = PictureProcessing(stream: video, fieldOrder: fieldOrder)
        // Every proxy is BT.709. A converted picture is limited range; one that swscale passes through keeps a
        // full-range source's range (tagged so).
        let converted = processing.convertsColour(for: .video(AV_PIX_FMT_YUV420P))
        let fullRange = sourceFullRange && !converted
        let color = ColorTags(
            primaries: AVCOL_PRI_BT709, transfer: AVCOL_TRC_BT709, space: AVCOL_SPC_BT709,
            range: fullRange ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG)

        let gop = max(1, Int((fps * settings.maxGOPSeconds + 1e-6).rounded(.down)))
        let config = VideoEncoder.Configuration(
            width: width, height: height, frameRate: frameRate, gopSize: gop,
            bitRate: settings.videoBitRate, threads: settings.threads,
            color: color, globalHeader: muxer.needsGlobalHeader)
        (encoder, hardwareFallbackReason) = try VideoEncoder.open(config, hardwareFirst: settings.hardwareAcceleration == .auto)
        output = try muxer.addStream(for: encoder)
        // The rate players show, and what the MP4 muxer's timecode track counts frames in.
        output.pointee.avg_frame_rate = frameRate
        converter = try PictureConverter(
            width: width, height: height, clockwiseRotation: rotation,
            pixelFormat: encoder.pointer.pointee.pix_fmt, fullRange: fullRange,
            threads: settings.threads, processing: processing, timeBase: video.pointee.time_base)
        firstSlot = slots?.lowerBound ?? 0
        endSlot = slots?.upperBound
        nextSlot = firstSlot
        self.globalStartMicros = globalStartMicros
        lastFrame = try Frame()
    }

    /// The source's frame rate as FFmpeg would guess it, snapped to the standard rate it is within 0.2 %
    /// of (phones record 29.98 "average" for 30 fps), with a sane fallback of 25.
    static func outputFrameRate(_ ctx: UnsafeMutablePointer<AVFormatContext>, _ st: UnsafeMutablePointer<AVStream>) -> AVRational {
        var rate = av_guess_frame_rate(ctx, st, nil)
        if !(rate.num > 0 && rate.den > 0) || av_q2d(rate) > 240 || av_q2d(rate) < 1 {
            rate = st.pointee.avg_frame_rate
        }
        guard rate.num > 0, rate.den > 0, av_q2d(rate) >= 1, av_q2d(rate) <= 240 else { return AVRational(num: 25, den: 1) }
        let value = av_q2d(rate)
        let standard: [AVRational] = [
            .init(num: 24000, den: 1001), .init(num: 24, den: 1), .init(num: 25, den: 1),
            .init(num: 30000, den: 1001), .init(num: 30, den: 1), .init(num: 48, den: 1),
            .init(num: 50, den: 1), .init(num: 60000, den: 1001), .init(num: 60, den: 1),
            .init(num: 100, den: 1), .init(num: 120, den: 1),
        ]
        if let snapped = standard.first(where: { abs(av_q2d($0) - value) / value < 0.002 }) { return snapped }
        return av_d2q(value, 120_000)
    }

    /// Slots encoded so far.
    var framesEncoded: Int64 { nextSlot - firstSlot }
    /// Whether the track needs no more input: its range is full, or it cannot be made from here.
    var isDone: Bool { complete || missedStart }
    var hasPicture: Bool { haveFrame }

    /// Decodes `packet` (nil: flushes the decoder and the converter) and encodes what lands in the range.
    func decode(_ packet: UnsafeMutablePointer<AVPacket>?, write: Write) throws(MediaError) {
        try decoder.decode(packet) { frame throws(MediaError) in
            guard !isDone else { return }
            try converter.convert(frame) { picture throws(MediaError) in try self.place(picture, write: write) }
        }
        if packet == nil && !isDone {
            try converter.finish { picture throws(MediaError) in try self.place(picture, write: write) }
        }
    }

    /// Lets go of the decoder's pictures once no more input is needed (the encoder may drain on a while longer).
    func releaseInput() {
        decoder.flush()
    }

    /// Flushes the encoder (after the input ended or the range is complete).
    func finish(write: Write) throws(MediaError) {
        try write(nil, encoder, output)
    }

    /// Puts a converted picture (its `pts` in the source stream's time base) in its frame slot.
    private func place(_ converted: UnsafeMutablePointer<AVFrame>, write: Write) throws(MediaError) {
        guard !isDone else { return }
        var slot = nextSlot
        if converted.pointee.pts != aura_nopts_value() {
            let tb = stream.pointee.time_base
            let start = av_rescale_q(globalStartMicros, aura_time_base_q(), tb)
            let rounding = AVRounding(rawValue: AV_ROUND_NEAR_INF.rawValue | AV_ROUND_PASS_MINMAX.rawValue)
            slot = av_rescale_q_rnd(converted.pointee.pts - start, tb, av_inv_q(frameRate), rounding)
        }
        let maxFill = Int64(av_q2d(frameRate) * 60)
        if let end = endSlot, slot >= end {
            // The range is full: its last slots repeat the last picture before this one.
            if haveFrame || havePreRoll {
                for _ in 0..<min(max(0, end - nextSlot), maxFill) { try encode(lastFrame.pointer, write: write) }
            }
            if nextSlot == end, haveFrame || havePreRoll, let next = try continueInto?(end), next.lowerBound == end {
                // A run goes on into the next range with the same decoder and encoder, from a keyframe.
                firstSlot = end
                endSlot = next.upperBound
                haveFrame = true
                keyframeNext = true
                return try place(converted, write: write)
            }
            complete = true
            return
        }
        if slot < firstSlot && firstSlot > 0 {
            // Before the range: remembered to repeat into its first slots.
            try keep(converted)
            havePreRoll = true
            return
        }
        if haveFrame {
            if slot < nextSlot { return }  // a second picture in an already-filled slot: drop
            // A gap: repeat the previous picture (what a player shows), at most 60 s of it.
            for _ in 0..<min(slot - nextSlot, maxFill) { try encode(lastFrame.pointer, write: write) }
            nextSlot = slot
        } else {
            haveFrame = true
            if !havePreRoll {
                // A range after the start needs the picture before it; without one it cannot be made from here.
                if firstSlot > 0 && slot > firstSlot {
                    missedStart = true
                    return
                }
                // The file's first picture fills from 0, so video starts at 0 (the earliest stream may be audio).
                slot = max(slot, firstSlot)
                try keep(converted)
            }
            for _ in 0..<min(slot - nextSlot, maxFill) { try encode(lastFrame.pointer, write: write) }
            nextSlot = slot
        }
        try keep(converted)
        try encode(lastFrame.pointer, write: write)
    }

    private func keep(_ converted: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        converted.pointee.color_range = encoder.pointer.pointee.color_range
        lastFrame.unref()
        try FFmpegResult.check(av_frame_ref(lastFrame.pointer, converted), "av_frame_ref")
    }

    private func encode(_ frame: UnsafeMutablePointer<AVFrame>, write: Write) throws(MediaError) {
        frame.pointee.pts = nextSlot
        frame.pointee.pict_type = keyframeNext ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE
        keyframeNext = false
        nextSlot += 1
        try write(frame, encoder, output)
    }
}
