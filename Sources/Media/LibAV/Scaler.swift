import CFFmpeg

/// An owned `SwsContext` converting frames of one size/format to another (freed in `deinit`).
///
/// Invariant: only frames matching `sourceWidth`×`sourceHeight`/`sourceFormat` are passed to `scale`;
/// `VideoFrameConverter` rebuilds the scaler when the decoded geometry changes mid-stream.
final class Scaler {
    let context: OpaquePointer
    let sourceWidth: Int32, sourceHeight: Int32, sourceFormat: Int32

    /// `threads` uses swscale's slice threading (FFmpeg ≥ 5.0, `threads` option; 0 = auto); `fullRange`
    /// keeps full-range (JPEG) sources full range so the colour tags copied to the output stay true.
    init(
        sourceWidth: Int32, sourceHeight: Int32, sourceFormat: Int32, fullRange: Bool,
        destinationWidth: Int, destinationHeight: Int, destinationFormat: AVPixelFormat,
        flags: Int32, threads: Int, sourceMatrix: Int32 = SWS_CS_DEFAULT, destinationMatrix: Int32 = SWS_CS_DEFAULT
    ) throws(MediaError) {
        guard let ctx = sws_alloc_context() else {
            throw MediaError.ffmpeg(operation: "sws_alloc_context", code: aura_averror(ENOMEM), message: "out of memory")
        }
        let opaque = UnsafeMutableRawPointer(ctx)
        av_opt_set_int(opaque, "srcw", Int64(sourceWidth), 0)
        av_opt_set_int(opaque, "srch", Int64(sourceHeight), 0)
        av_opt_set_int(opaque, "src_format", Int64(sourceFormat), 0)
        av_opt_set_int(opaque, "dstw", Int64(destinationWidth), 0)
        av_opt_set_int(opaque, "dsth", Int64(destinationHeight), 0)
        av_opt_set_int(opaque, "dst_format", Int64(destinationFormat.rawValue), 0)
        av_opt_set_int(opaque, "sws_flags", Int64(flags), 0)
        av_opt_set_int(opaque, "src_range", fullRange ? 1 : 0, 0)
        av_opt_set_int(opaque, "dst_range", fullRange ? 1 : 0, 0)
        av_opt_set_int(opaque, "threads", Int64(threads), 0)
        let rc = sws_init_context(ctx, nil, nil)
        if rc < 0 {
            sws_freeContext(ctx)
            throw MediaError.ffmpeg(operation: "sws_init_context", code: rc, message: FFmpegResult.message(rc))
        }
        // The YUV matrices (SWS_CS_*) of either side matter only where YUV meets RGB (an RGB source to a BT.709 proxy,
        // a BT.709 source to a PNG); YUV to YUV keeps the values. Set only then: setting them turns a same-size YUV
        // copy into swscale's general path, whose dither noise costs the encoder bits.
        let sourceIsRGB = Self.isRGB(sourceFormat), destinationIsRGB = Self.isRGB(destinationFormat.rawValue)
        if sourceIsRGB != destinationIsRGB {
            sws_setColorspaceDetails(
                ctx, sws_getCoefficients(sourceMatrix), fullRange ? 1 : 0, sws_getCoefficients(destinationMatrix),
                fullRange ? 1 : 0, 0, 1 << 16, 1 << 16)
        }
        context = ctx
        self.sourceWidth = sourceWidth
        self.sourceHeight = sourceHeight
        self.sourceFormat = sourceFormat
    }

    deinit { sws_freeContext(context) }

    /// Whether a pixel format holds RGB rather than YUV (or gray).
    static func isRGB(_ format: Int32) -> Bool {
        guard let descriptor = av_pix_fmt_desc_get(AVPixelFormat(rawValue: format)) else { return false }
        return descriptor.pointee.flags & UInt64(AV_PIX_FMT_FLAG_RGB) != 0
    }

    func matches(_ frame: UnsafeMutablePointer<AVFrame>) -> Bool {
        frame.pointee.width == sourceWidth && frame.pointee.height == sourceHeight && frame.pointee.format == sourceFormat
    }

    /// Scales `source` into the already-allocated, writable `destination`.
    func scale(_ source: UnsafeMutablePointer<AVFrame>, into destination: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        try FFmpegResult.check(sws_scale_frame(context, destination, source), "sws_scale_frame")
    }
}
