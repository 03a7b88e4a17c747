import CFFmpeg

/// An owned `AVCodecContext` (freed in `deinit`), used both for decoding and encoding.
///
/// Invariant: `pointer` stays valid for the object's lifetime; `open` is called at most once.
final class CodecContext {
    let pointer: UnsafeMutablePointer<AVCodecContext>
    let codec: UnsafePointer<AVCodec>

    init(codec: UnsafePointer<AVCodec>) throws(MediaError) {
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw MediaError.ffmpeg(operation: "avcodec_alloc_context3", code: aura_averror(ENOMEM), message: "out of memory")
        }
        self.codec = codec
        pointer = ctx
    }

    deinit {
        var ctx: UnsafeMutablePointer<AVCodecContext>? = pointer
        avcodec_free_context(&ctx)
    }

    var name: String { String(cString: codec.pointee.name) }

    /// Opens the codec with string options (e.g. x264's "preset"); returns the libav code so callers
    /// that try several encoders can record why one failed.
    func open(options: [String: String] = [:]) -> Int32 {
        var dict: OpaquePointer? = nil
        for (key, value) in options { av_dict_set(&dict, key, value, 0) }
        let rc = avcodec_open2(pointer, codec, &dict)
        av_dict_free(&dict)
        return rc
    }

    /// Opens a decoder for `stream` with `threads` threads (0 = one per core). Returns nil when libav has
    /// no decoder for the codec.
    static func decoder(for stream: UnsafeMutablePointer<AVStream>, threads: Int, path: String) throws(MediaError) -> CodecContext? {
        let par = stream.pointee.codecpar!
        guard let codec = avcodec_find_decoder(par.pointee.codec_id) else { return nil }
        let ctx = try CodecContext(codec: codec)
        try FFmpegResult.check(avcodec_parameters_to_context(ctx.pointer, par), "avcodec_parameters_to_context")
        ctx.pointer.pointee.pkt_timebase = stream.pointee.time_base
        // A fresh context decodes on one thread; frame+slice threading is what makes 4K decode keep up.
        ctx.pointer.pointee.thread_count = Int32(threads)
        ctx.pointer.pointee.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE
        let rc = ctx.open()
        if rc < 0 {
            throw MediaError.unsupported(path: path, reason: "cannot open the \(ctx.name) decoder: \(FFmpegResult.message(rc))")
        }
        return ctx
    }
}
