import CFFmpeg
import Foundation

/// An MP4 file being written: owns the output `AVFormatContext` and its `AVIOContext` (both released in
/// `deinit`, the partial file removed unless `finish()` succeeded).
///
/// Invariants: streams are added before `writeHeader`; packets are written only between `writeHeader`
/// and `finish`; write failures map ENOSPC/EDQUOT/EFBIG to `.diskFull`. The output is always MP4
/// regardless of the path's extension (callers pass temp names), laid out as `Layout` says (a proxy: `+faststart`, so
/// the index precedes the media data and a player can start at once).
final class Muxer {
    let path: String
    let context: UnsafeMutablePointer<AVFormatContext>
    private var finished = false
    /// Set once avio_open created the file, so a failure never unlinks a file this object did not make.
    private var createdFile = false

    /// How the MP4 is laid out.
    enum Layout {
        /// The index at the front (`+faststart`: one more pass over the file at the end), so a player starts at once.
        case faststart
        /// The index at the end, as it is written.
        case plain
        /// A fragment per keyframe, each with the absolute time it starts at (`frag_discont`), after an empty index
        /// (`empty_moov`, `default_base_moof`): what HLS and Media Source Extensions play, and a file that is whole
        /// at every fragment.
        case fragmented
    }

    let layout: Layout

    init(path: String, layout: Layout = .faststart) throws(MediaError) {
        self.path = path
        self.layout = layout
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        let rc = avformat_alloc_output_context2(&ctx, nil, "mp4", "file:" + path)
        guard rc >= 0, let ctx else {
            throw MediaError.ffmpeg(operation: "avformat_alloc_output_context2", code: rc, message: FFmpegResult.message(rc))
        }
        context = ctx
        let open = avio_open(&ctx.pointee.pb, "file:" + path, aura_avio_flag_write())
        if open < 0 { throw FFmpegResult.writeError(open, path: path, operation: "avio_open") }
        createdFile = true
    }

    deinit {
        if context.pointee.pb != nil { avio_closep(&context.pointee.pb) }
        avformat_free_context(context)
        // Only ever remove a regular file we created (never e.g. /dev/full or a FIFO).
        var info = stat()
        if !finished && createdFile && stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG { unlink(path) }
    }

    /// Adds a stream carrying `encoder`'s output; returns it.
    func addStream(for encoder: CodecContext) throws(MediaError) -> UnsafeMutablePointer<AVStream> {
        guard let st = avformat_new_stream(context, nil) else {
            throw MediaError.ffmpeg(operation: "avformat_new_stream", code: aura_averror(ENOMEM), message: "out of memory")
        }
        try FFmpegResult.check(avcodec_parameters_from_context(st.pointee.codecpar, encoder.pointer), "avcodec_parameters_from_context")
        st.pointee.time_base = encoder.pointer.pointee.time_base
        return st
    }

    /// Adds a stream carrying packets copied from `input` (another file's stream): its codec parameters; returns it.
    func addStream(copying input: UnsafeMutablePointer<AVStream>) throws(MediaError) -> UnsafeMutablePointer<AVStream> {
        guard let st = avformat_new_stream(context, nil) else {
            throw MediaError.ffmpeg(operation: "avformat_new_stream", code: aura_averror(ENOMEM), message: "out of memory")
        }
        try FFmpegResult.check(avcodec_parameters_copy(st.pointee.codecpar, input.pointee.codecpar), "avcodec_parameters_copy")
        st.pointee.codecpar.pointee.codec_tag = 0
        st.pointee.time_base = input.pointee.time_base
        return st
    }

    /// Sets a metadata tag of `stream`, or of the file when `stream` is nil (before `writeHeader`). The MP4 muxer
    /// keeps a stream's `language` (its `mdhd`), `handler_name` (its `hdlr`: readers show it as the track's name) and a
    /// video stream's `timecode` (a `tmcd` track), and the file's `creation_time` (its `mvhd`).
    func setMetadata(_ key: String, _ value: String, on stream: UnsafeMutablePointer<AVStream>? = nil) {
        if let stream {
            av_dict_set(&stream.pointee.metadata, key, value, 0)
        } else {
            av_dict_set(&context.pointee.metadata, key, value, 0)
        }
    }

    var needsGlobalHeader: Bool { (context.pointee.oformat.pointee.flags & aura_avfmt_globalheader()) != 0 }

    func writeHeader() throws(MediaError) {
        var dict: OpaquePointer? = nil
        switch layout {
        case .faststart: av_dict_set(&dict, "movflags", "+faststart", 0)
        case .plain: break
        case .fragmented:
            av_dict_set(&dict, "movflags", "+frag_keyframe+empty_moov+default_base_moof+frag_discont", 0)
            // Timestamps as they are: "auto" would shift the first to 0 and lose where the fragment belongs.
            context.pointee.avoid_negative_ts = 0  // AVFMT_AVOID_NEG_TS_DISABLED
        }
        let rc = avformat_write_header(context, &dict)
        av_dict_free(&dict)
        if rc < 0 { throw FFmpegResult.writeError(rc, path: path, operation: "avformat_write_header") }
    }

    /// Writes one encoded packet (timestamps in `timeBase`) to `stream`; the muxer interleaves.
    func write(_ packet: UnsafeMutablePointer<AVPacket>, timeBase: AVRational, stream: UnsafeMutablePointer<AVStream>) throws(MediaError) {
        packet.pointee.stream_index = stream.pointee.index
        av_packet_rescale_ts(packet, timeBase, stream.pointee.time_base)
        let rc = av_interleaved_write_frame(context, packet)
        if rc < 0 { throw FFmpegResult.writeError(rc, path: path, operation: "av_interleaved_write_frame") }
        try checkIOError()
    }

    /// Writes the trailer (and the faststart rewrite) and closes the file; after this the file is kept.
    func finish() throws(MediaError) {
        let rc = av_write_trailer(context)
        if rc < 0 { throw FFmpegResult.writeError(rc, path: path, operation: "av_write_trailer") }
        try checkIOError()
        let close = avio_closep(&context.pointee.pb)
        if close < 0 { throw FFmpegResult.writeError(close, path: path, operation: "avio_close") }
        finished = true
    }

    /// avio buffers writes: a failed flush is only visible in `pb->error`.
    private func checkIOError() throws(MediaError) {
        if let pb = context.pointee.pb, pb.pointee.error < 0 {
            throw FFmpegResult.writeError(pb.pointee.error, path: path, operation: "avio_write")
        }
    }
}
