import CFFmpeg

/// Colour description copied from a source to an encoded copy so it looks the same in a colour-managed player.
struct ColorTags {
    var primaries = AVCOL_PRI_UNSPECIFIED
    var transfer = AVCOL_TRC_UNSPECIFIED
    var space = AVCOL_SPC_UNSPECIFIED
    var range = AVCOL_RANGE_UNSPECIFIED

    init(primaries: AVColorPrimaries, transfer: AVColorTransferCharacteristic, space: AVColorSpace, range: AVColorRange) {
        self.primaries = primaries
        self.transfer = transfer
        self.space = space
        self.range = range
    }
}

/// Opens an H.264 encoder (the proxies'): a hardware one first when asked, libx264 otherwise. Lives with the other
/// libav wrappers in `Media`, so the proxies do not configure encoders themselves.
///
/// x264 choice: preset `superfast` plus a 10-frame lookahead with macroblock-tree rate control, no B-frames,
/// GOP ≤ 0.8 s (`TranscodeSettings.maxGOPSeconds`), ABR at the target bit rate with VBV (maxrate = bit rate, buffer = 2 s).
/// Measured on the benchmark's camera-like 1080p25 source at 3 Mb/s (bench/proxy.py, 2 minutes):
/// plain `superfast` 0.39× of the original `-preset fast` command's time at SSIM 0.9846 (under the 0.985
/// floor); `veryfast` 0.47× at 0.9868 (over the 0.45× budget); `superfast` + lookahead + mbtree 0.41× at
/// 0.9859; adding `subme=2` 0.45× at 0.9866. Lookahead and mbtree are what `superfast` lacks for quality at a
/// fixed bitrate, and they cost only ~3 % of the time here.
enum VideoEncoder {
    static let x264Preset = "superfast"
    static let x264Parameters = "rc-lookahead=10:mbtree=1"

    struct Configuration {
        var width: Int
        var height: Int
        var frameRate: AVRational
        var gopSize: Int
        var bitRate: Int
        var threads: Int
        var color: ColorTags
        var globalHeader: Bool

        init(
            width: Int, height: Int, frameRate: AVRational, gopSize: Int, bitRate: Int, threads: Int,
            color: ColorTags, globalHeader: Bool
        ) {
            self.width = width
            self.height = height
            self.frameRate = frameRate
            self.gopSize = gopSize
            self.bitRate = bitRate
            self.threads = threads
            self.color = color
            self.globalHeader = globalHeader
        }
    }

    /// Returns the opened encoder and, when hardware was tried (`hardwareFirst`) but not used, why.
    static func open(_ config: Configuration, hardwareFirst: Bool) throws(MediaError) -> (CodecContext, String?) {
        var reasons: [String] = []
        if hardwareFirst {
            for name in ["h264_nvenc", "h264_qsv", "h264_vaapi"] {
                switch tryHardware(name, config) {
                case .success(let ctx): return (ctx, nil)
                case .failure(let reason): reasons.append("\(name): \(reason)")
                }
            }
        }
        guard let codec = avcodec_find_encoder_by_name("libx264") else {
            throw MediaError.ffmpeg(
                operation: "avcodec_find_encoder_by_name", code: aura_averror(ENOSYS),
                message: "this FFmpeg has no libx264 encoder")
        }
        let ctx = try CodecContext(codec: codec)
        configure(ctx, config, pixelFormat: AV_PIX_FMT_YUV420P)
        // A picture sent as AV_PICTURE_TYPE_I (the first of each segment of a run, `SegmentRun`) becomes an IDR picture.
        let rc = ctx.open(options: ["preset": x264Preset, "x264-params": x264Parameters, "forced-idr": "1"])
        if rc < 0 { throw MediaError.ffmpeg(operation: "avcodec_open2(libx264)", code: rc, message: FFmpegResult.message(rc)) }
        return (ctx, hardwareFirst ? reasons.joined(separator: "; ") : nil)
    }

    struct Failure: Error { let reason: String }

    private static func tryHardware(_ name: String, _ config: Configuration) -> Result<CodecContext, Failure> {
        guard let codec = avcodec_find_encoder_by_name(name) else {
            return .failure(Failure(reason: "not built into this FFmpeg"))
        }
        if name == "h264_vaapi" {
            // VAAPI only takes GPU frames; without a device there is nothing to try.
            var device: UnsafeMutablePointer<AVBufferRef>? = nil
            let rc = av_hwdevice_ctx_create(&device, AV_HWDEVICE_TYPE_VAAPI, nil, nil, 0)
            if rc < 0 { return .failure(Failure(reason: "no VAAPI device (\(FFmpegResult.message(rc)))")) }
            av_buffer_unref(&device)
            return .failure(Failure(reason: "VAAPI device present but GPU-frame upload is not implemented"))
        }
        // NVENC and QSV accept system-memory frames; pick a software format they list.
        var pixelFormat = AV_PIX_FMT_NONE
        if var formats = codec.pointee.pix_fmts {
            while formats.pointee != AV_PIX_FMT_NONE {
                if formats.pointee == AV_PIX_FMT_YUV420P || formats.pointee == AV_PIX_FMT_NV12 {
                    pixelFormat = formats.pointee
                    break
                }
                formats += 1
            }
        }
        guard pixelFormat != AV_PIX_FMT_NONE else { return .failure(Failure(reason: "no 8-bit 4:2:0 input format")) }
        guard let ctx = try? CodecContext(codec: codec) else { return .failure(Failure(reason: "out of memory")) }
        configure(ctx, config, pixelFormat: pixelFormat)
        // A forced keyframe must be an IDR picture (a segment of a run starts on one); NVENC and QSV know the option.
        let rc = ctx.open(options: ["forced-idr": "1"])
        if rc < 0 { return .failure(Failure(reason: "cannot open (\(FFmpegResult.message(rc)))")) }
        return .success(ctx)
    }

    private static func configure(_ ctx: CodecContext, _ config: Configuration, pixelFormat: AVPixelFormat) {
        let c = ctx.pointer
        c.pointee.width = Int32(config.width)
        c.pointee.height = Int32(config.height)
        c.pointee.pix_fmt = pixelFormat
        c.pointee.time_base = av_inv_q(config.frameRate)
        c.pointee.framerate = config.frameRate
        c.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        c.pointee.gop_size = Int32(config.gopSize)
        c.pointee.keyint_min = Int32(config.gopSize)
        c.pointee.max_b_frames = 0
        c.pointee.bit_rate = Int64(config.bitRate)
        c.pointee.rc_max_rate = Int64(config.bitRate)
        c.pointee.rc_buffer_size = Int32(clamping: 2 * config.bitRate)
        c.pointee.thread_count = Int32(config.threads)
        c.pointee.color_primaries = config.color.primaries
        c.pointee.color_trc = config.color.transfer
        c.pointee.colorspace = config.color.space
        c.pointee.color_range = config.color.range
        if config.globalHeader { c.pointee.flags |= aura_codec_flag_global_header() }
    }
}
