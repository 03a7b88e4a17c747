import CFFmpeg
import Foundation

/// Makes an H.264/AAC MP4 copy of a media file for preview and scrubbing (a proxy), entirely in-process. The only
/// place outside `Media`'s wrappers that drives libav's encoders: the services above see `TranscodeSettings` in and
/// `TranscodeResult` out.
///
/// Pipeline: the shared decode layer (`MediaSource` → `StreamDecoder`, threaded, → `PictureConverter`: swscale
/// plus a quarter-turn for rotated sources) → `Media.VideoEncoder` (libx264 or a GPU encoder) → `Muxer` (MP4 with
/// `+faststart`); every audio stream of the source, in order, → a track of its own (`TranscodeAudioTrack`: its channel
/// count up to 8, its language and title, native AAC). The source's timecode and creation time are copied.
///
/// Guarantees: the output is constant frame rate at the source's rate (variable-rate sources are mapped to
/// frame slots `round((pts - start) × fps)`, dropping or repeating the previous frame like `-vsync cfr`);
/// keyframes at most every `maxGOPSeconds` (0.8 s) and no B-frames; square pixels, upright, progressive, SDR BT.709
/// (`PictureProcessing`: HDR tone-mapped, wide gamut and SD matrices converted, interlaced sources deinterlaced with
/// one picture per source frame); timestamps
/// normalised so the earliest stream starts at 0 with audio's offset relative to video kept (silence is
/// inserted or samples dropped at the start of audio). Memory is bounded: no queue holds more than one
/// decoded frame per stream plus the codecs' own delay. Audio discontinuities after the start are not
/// corrected (audio is treated as continuous).
///
/// The object is used from one thread: `run` is synchronous.
public final class Transcoder {
    public let sourcePath: String
    public let outputPath: String
    public let settings: TranscodeSettings

    /// The version of what proxies are made with (the catalogue's `pictureVersion`): 1 since HDR is tone-mapped, wide
    /// gamut and SD matrices converted and interlaced video deinterlaced (`PictureProcessing`); 2 since every audio
    /// stream is kept with its channels (before, the primary one alone, as stereo). Proxies made before 1 have none.
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

    public init(sourcePath: String, outputPath: String, settings: TranscodeSettings) {
        self.sourcePath = sourcePath
        self.outputPath = outputPath
        self.settings = settings
    }

    /// Synchronous; runs on the caller's thread. Calls `progress` at most ~4 times a second (and once at
    /// 100 %); checks `isCancelled` between packets and throws `MediaError.cancelled`. On any error the
    /// partial output file is removed.
    public func run(progress: (TranscodeProgress) -> Void, isCancelled: () -> Bool) throws -> TranscodeResult {
        guard settings.videoBitRate > 0 else {
            throw MediaError.unsupported(path: sourcePath, reason: "the video bit rate must be positive")
        }
        let job = try TranscodeJob(path: sourcePath, output: outputPath, settings: settings)
        return try job.run(progress: progress, isCancelled: isCancelled)
    }
}

/// The state of one `Transcoder.run`. All libav objects live here and are freed with it; the
/// `Muxer` removes its unfinished file when released.
private final class TranscodeJob {
    let sourcePath: String
    let settings: TranscodeSettings
    let source: MediaSource
    let videoStream: UnsafeMutablePointer<AVStream>
    let videoDecoder: StreamDecoder
    let muxer: Muxer
    let videoEncoder: CodecContext
    let videoOut: UnsafeMutablePointer<AVStream>
    let hardwareFallbackReason: String?
    let converter: PictureConverter
    let processing: PictureProcessing
    let frameRate: AVRational
    let width: Int, height: Int
    /// Where output time 0 is, in microseconds of source time.
    let globalStartMicros: Int64
    let estimatedTotalFrames: Int64?

    /// One per audio stream of the source, in order; by stream index for the packets.
    let audioTracks: [TranscodeAudioTrack]
    /// The audio streams after the first that could not be decoded, and why.
    let skippedAudioStreams: [String]
    private let audioTrackByStream: [Int: TranscodeAudioTrack]

    // Video CFR state.
    private var nextSlot: Int64 = 0
    private var haveFrame = false
    /// The last picture encoded (a reference of its own), repeated into gaps.
    private let lastFrame: Frame
    private var framesDecoded: Int64 = 0

    private let packet: Packet
    private let outPacket: Packet

    init(path: String, output: String, settings: TranscodeSettings) throws(MediaError) {
        sourcePath = path
        self.settings = settings
        let source = try MediaSource(path: path)
        self.source = source
        let video = try source.pictureStream()
        if source.info.isStillImage {
            throw MediaError.unsupported(path: path, reason: "it is a still image, not a video")
        }
        videoStream = video
        videoDecoder = try StreamDecoder(video, of: source, threads: settings.threads)
        let vdec = videoDecoder.codec

        // Geometry: SAR → square pixels, display rotation applied to the pixels.
        let par = video.pointee.codecpar.pointee
        let sar = video.pointee.sample_aspect_ratio.num > 0 ? video.pointee.sample_aspect_ratio : par.sample_aspect_ratio
        let ccw = aura_stream_display_rotation(video)
        let rotation = ccw.isNaN ? 0 : MediaProbe.clockwiseRotation(fromCounterClockwise: ccw)
        (width, height) = TranscodeGeometry.outputSize(
            sourceWidth: Int(par.width), sourceHeight: Int(par.height),
            sampleAspectRatio: sar.num > 0 ? (Int(sar.num), Int(sar.den)) : nil,
            rotationDegrees: rotation, target: settings.target)
        frameRate = Self.outputFrameRate(source.demuxer.context, video)
        let fps = av_q2d(frameRate)

        let decodedFormat = vdec.pointer.pointee.pix_fmt
        let sourceFullRange =
            par.color_range == AVCOL_RANGE_JPEG || [AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUVJ444P].contains(decodedFormat)
        // Colour and scan: HDR tone-mapped, wide gamut and SD matrices converted, interlaced deinterlaced. The field
        // order is found on a reader of its own (it decodes the first seconds of SD and HD sources).
        processing = PictureProcessing(stream: video, fieldOrder: try ScanDetector.fieldOrder(path: path))
        // Every proxy is BT.709. A converted picture is limited range; one that swscale passes through keeps a
        // full-range source's range (tagged so).
        let converted = processing.convertsColour(for: .video(AV_PIX_FMT_YUV420P))
        let fullRange = sourceFullRange && !converted
        let color = ColorTags(
            primaries: AVCOL_PRI_BT709, transfer: AVCOL_TRC_BT709, space: AVCOL_SPC_BT709,
            range: fullRange ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG)

        muxer = try Muxer(path: output)
        let gop = max(1, Int((fps * settings.maxGOPSeconds + 1e-6).rounded(.down)))
        let config = VideoEncoder.Configuration(
            width: width, height: height, frameRate: frameRate, gopSize: gop,
            bitRate: settings.videoBitRate, threads: settings.threads,
            color: color, globalHeader: muxer.needsGlobalHeader)
        (videoEncoder, hardwareFallbackReason) = try VideoEncoder.open(config, hardwareFirst: settings.hardwareAcceleration == .auto)
        videoOut = try muxer.addStream(for: videoEncoder)
        // The rate players show, and what the MP4 muxer's timecode track counts frames in.
        videoOut.pointee.avg_frame_rate = frameRate
        converter = try PictureConverter(
            width: width, height: height, clockwiseRotation: rotation,
            pixelFormat: videoEncoder.pointer.pointee.pix_fmt, fullRange: fullRange,
            threads: settings.threads, processing: processing, timeBase: video.pointee.time_base)

        let streams = source.demuxer.streams
        var tracks: [TranscodeAudioTrack] = []
        var skipped: [String] = []
        for (number, info) in source.info.audioStreams.enumerated() {
            do {
                tracks.append(
                    try TranscodeAudioTrack(
                        stream: streams[info.index], of: source, muxer: muxer, stereoBitRate: settings.audioBitRate,
                        language: info.language, title: info.title))
            } catch let error where number > 0 {
                // A further stream this FFmpeg cannot decode (no decoder for its codec) is left out rather than costing
                // the whole proxy; the primary one is not.
                skipped.append("audio stream \(number) (\(info.codec)): \(error)")
            }
        }
        skippedAudioStreams = skipped
        audioTracks = tracks
        audioTrackByStream = Dictionary(uniqueKeysWithValues: tracks.map { (Int($0.stream.pointee.index), $0) })
        Self.copyTimecodeAndCreationTime(from: source, to: muxer, video: videoOut)

        // Output time 0 = the source timeline's 0 (the earliest stream start); the other stream keeps its offset.
        globalStartMicros = source.startMicros
        let durationMicros = source.demuxer.context.pointee.duration
        estimatedTotalFrames = durationMicros > 0 ? Int64((Double(durationMicros) / 1e6 * fps).rounded()) : nil

        packet = try Packet()
        outPacket = try Packet()
        lastFrame = try Frame()
        try muxer.writeHeader()
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

    func run(progress: (TranscodeProgress) -> Void, isCancelled: () -> Bool) throws(MediaError) -> TranscodeResult {
        let clock = ContinuousClock()
        let started = clock.now
        var lastReport = started
        let fps = av_q2d(frameRate)

        func report(final: Bool) {
            let elapsed = (clock.now - started) / .seconds(1)
            let rate = elapsed > 0 ? Double(nextSlot) / elapsed : 0
            var percent = 0.0
            if final {
                percent = 100
            } else if let total = estimatedTotalFrames, total > 0 {
                percent = min(99.9, Double(nextSlot) / Double(total) * 100)
            }
            let eta: Double? =
                final
                ? 0
                : estimatedTotalFrames.flatMap { total in
                    rate > 0 ? max(0, Double(total - nextSlot) / rate) : nil
                }
            let message =
                final
                ? "Proxy finished: \(nextSlot) frames"
                : "Encoding \(width)x\(height): frame \(nextSlot)" + (estimatedTotalFrames.map { " of ~\($0)" } ?? "")
            progress(
                TranscodeProgress(
                    framesEncoded: nextSlot, estimatedTotalFrames: estimatedTotalFrames, percent: percent,
                    framesPerSecond: rate, etaSeconds: eta, message: message))
        }

        let videoIndex = Int(videoStream.pointee.index)
        let write = { (frame: UnsafeMutablePointer<AVFrame>?, encoder: CodecContext, stream: UnsafeMutablePointer<AVStream>) throws(MediaError) in
            try self.encode(frame, with: encoder, stream: stream)
        }
        while true {
            if isCancelled() { throw MediaError.cancelled }
            guard try source.read(into: packet) else { break }
            defer { packet.unref() }
            if packet.streamIndex == videoIndex {
                try videoDecoder.decode(packet.pointer) { frame throws(MediaError) in try self.handleVideo(frame) }
            } else if let track = audioTrackByStream[packet.streamIndex] {
                try track.decode(packet.pointer, globalStartMicros: globalStartMicros, write: write)
            }
            let now = clock.now
            if now - lastReport >= .milliseconds(250) {
                lastReport = now
                report(final: false)
            }
        }
        if isCancelled() { throw MediaError.cancelled }

        // Flush decoders, then the audio tail, then encoders.
        try videoDecoder.decode(nil) { frame throws(MediaError) in try self.handleVideo(frame) }
        try converter.finish { picture throws(MediaError) in try self.place(picture) }
        for track in audioTracks { try track.decode(nil, globalStartMicros: globalStartMicros, write: write) }
        guard haveFrame else {
            throw MediaError.corrupt(path: sourcePath, reason: "no video frame could be decoded")
        }
        try encode(nil, with: videoEncoder, stream: videoOut)
        for track in audioTracks { try track.finish(write: write) }
        try muxer.finish()
        report(final: true)

        let videoSeconds = Double(nextSlot) / fps
        let audioSeconds = audioTracks.map { Double($0.samplesSent) / Double($0.rate) }.max() ?? 0
        return TranscodeResult(
            width: width, height: height, videoBitRate: settings.videoBitRate,
            audioBitRate: audioTracks.first?.bitRate,
            durationSeconds: max(videoSeconds, audioSeconds), hasAudio: !audioTracks.isEmpty,
            audioTracks: audioTracks.map { TranscodeResult.AudioTrack(channels: Int($0.channels), bitRate: $0.bitRate) },
            skippedAudioStreams: skippedAudioStreams,
            videoEncoder: videoEncoder.name, hardwareFallbackReason: hardwareFallbackReason,
            frameCount: nextSlot, frameRate: fps,
            toneMapped: processing.toneMaps, deinterlaced: processing.deinterlaces)
    }

    // MARK: video

    private func handleVideo(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        framesDecoded += 1
        try converter.convert(frame) { picture throws(MediaError) in try self.place(picture) }
    }

    /// Puts a converted picture (its `pts` in the source stream's time base) in its frame slot.
    private func place(_ converted: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        var slot = nextSlot
        if converted.pointee.pts != aura_nopts_value() {
            let tb = videoStream.pointee.time_base
            let start = av_rescale_q(globalStartMicros, aura_time_base_q(), tb)
            let rounding = AVRounding(rawValue: AV_ROUND_NEAR_INF.rawValue | AV_ROUND_PASS_MINMAX.rawValue)
            slot = av_rescale_q_rnd(converted.pointee.pts - start, tb, av_inv_q(frameRate), rounding)
        }
        if haveFrame {
            if slot < nextSlot { return }  // a second frame in an already-filled slot: drop
            // A gap: repeat the previous picture (what a player shows) — but a wild timestamp jump
            // must not produce hours of copies, so at most 60 s are filled and the rest is skipped.
            let gap = slot - nextSlot
            let maxFill = Int64(av_q2d(frameRate) * 60)
            for _ in 0..<min(gap, maxFill) { try encodeVideo(lastFrame.pointer) }
            nextSlot = slot
        } else {
            slot = max(slot, 0)
        }
        converted.pointee.color_range = videoEncoder.pointer.pointee.color_range
        lastFrame.unref()
        try FFmpegResult.check(av_frame_ref(lastFrame.pointer, converted), "av_frame_ref")
        if !haveFrame {
            // The earliest stream may be audio: fill from 0 with the first picture so video starts at 0.
            haveFrame = true
            for _ in 0..<min(slot, Int64(av_q2d(frameRate) * 60)) { try encodeVideo(lastFrame.pointer) }
            nextSlot = slot
        }
        try encodeVideo(lastFrame.pointer)
    }

    private func encodeVideo(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        frame.pointee.pts = nextSlot
        frame.pointee.pict_type = AV_PICTURE_TYPE_NONE
        nextSlot += 1
        try encode(frame, with: videoEncoder, stream: videoOut)
    }

    // MARK: metadata

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
            if outPacket.pointer.pointee.duration == 0 && encoder === videoEncoder { outPacket.pointer.pointee.duration = 1 }
            try muxer.write(outPacket.pointer, timeBase: encoder.pointer.pointee.time_base, stream: stream)
        }
    }
}
