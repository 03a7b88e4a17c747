import CFFmpeg

/// An owned libavfilter graph with one video input and one video output, built from a filter description such as
/// `"bwdif=mode=send_frame,scale=w=1280:h=720"` (freed in `deinit`).
///
/// Frames go in with `push` (nil ends the stream) and come out with `pull`; a filter that looks ahead (bwdif needs
/// the next frame) holds one back until the next push or the end. Timestamps pass through in `timeBase`.
///
/// Not thread-safe: one caller at a time (the graph's own slice threads are its business).
final class FilterGraph {
    let description: String
    private var graph: UnsafeMutablePointer<AVFilterGraph>?
    private let source: UnsafeMutablePointer<AVFilterContext>
    private let sink: UnsafeMutablePointer<AVFilterContext>
    /// The unit of timestamps going in, and coming out (filters may change it: bwdif halves it).
    private let inputTimeBase: AVRational

    /// - Parameters:
    ///   - input: the first frame the graph will see (its size, pixel format and sample aspect ratio); later frames
    ///     must have the same shape (`matches`).
    ///   - timeBase: the unit of the frames' timestamps.
    ///   - threads: slice threads for filters that support them (0 = one per core).
    init(_ description: String, input: UnsafeMutablePointer<AVFrame>, timeBase: AVRational, threads: Int) throws(MediaError) {
        self.description = description
        inputTimeBase = AVRational(num: max(1, timeBase.num), den: max(1, timeBase.den))
        var allocated = avfilter_graph_alloc()
        guard let graph = allocated else {
            throw MediaError.ffmpeg(operation: "avfilter_graph_alloc", code: aura_averror(ENOMEM), message: "out of memory")
        }
        graph.pointee.nb_threads = Int32(threads)
        let sar = input.pointee.sample_aspect_ratio.num > 0 ? input.pointee.sample_aspect_ratio : AVRational(num: 1, den: 1)
        let arguments =
            "video_size=\(input.pointee.width)x\(input.pointee.height):pix_fmt=\(input.pointee.format)"
            + ":time_base=\(max(1, timeBase.num))/\(max(1, timeBase.den)):pixel_aspect=\(sar.num)/\(sar.den)"
        var source: UnsafeMutablePointer<AVFilterContext>?
        var sink: UnsafeMutablePointer<AVFilterContext>?
        var rc = avfilter_graph_create_filter(&source, avfilter_get_by_name("buffer"), "in", arguments, nil, graph)
        if rc >= 0 {
            rc = avfilter_graph_create_filter(&sink, avfilter_get_by_name("buffersink"), "out", nil, nil, graph)
        }
        guard rc >= 0, let source, let sink else {
            avfilter_graph_free(&allocated)
            throw MediaError.ffmpeg(operation: "avfilter_graph_create_filter", code: rc, message: FFmpegResult.message(rc))
        }
        // From here the object is whole: `deinit` frees the graph when the rest of the set-up throws.
        self.graph = graph
        self.source = source
        self.sink = sink
        // The description's open ends: its input is fed by "in", its output feeds "out". parse_ptr takes both lists
        // and hands back what it left unlinked, which is freed here.
        var outputs = avfilter_inout_alloc()
        var inputs = avfilter_inout_alloc()
        defer {
            avfilter_inout_free(&outputs)
            avfilter_inout_free(&inputs)
        }
        guard let output = outputs, let input = inputs else {
            throw MediaError.ffmpeg(operation: "avfilter_inout_alloc", code: aura_averror(ENOMEM), message: "out of memory")
        }
        output.pointee.name = av_strdup("in")
        output.pointee.filter_ctx = source
        output.pointee.pad_idx = 0
        output.pointee.next = nil
        input.pointee.name = av_strdup("out")
        input.pointee.filter_ctx = sink
        input.pointee.pad_idx = 0
        input.pointee.next = nil
        rc = avfilter_graph_parse_ptr(graph, description, &inputs, &outputs, nil)
        if rc >= 0 { rc = avfilter_graph_config(graph, nil) }
        if rc < 0 {
            throw MediaError.ffmpeg(operation: "avfilter_graph_config(\(description))", code: rc, message: FFmpegResult.message(rc))
        }
    }

    deinit { avfilter_graph_free(&graph) }

    /// Sends one frame (the graph takes its own reference; the caller's frame is untouched), or the end of the
    /// stream when `frame` is nil.
    func push(_ frame: UnsafeMutablePointer<AVFrame>?) throws(MediaError) {
        let rc = av_buffersrc_add_frame_flags(source, frame, aura_buffersrc_flag_keep_ref())
        if rc < 0 && rc != FFmpegResult.eof {
            throw MediaError.ffmpeg(operation: "av_buffersrc_add_frame(\(description))", code: rc, message: FFmpegResult.message(rc))
        }
    }

    /// Moves the next filtered frame into `frame` (which must hold none), its timestamp in the input's time base;
    /// false when the graph needs more input or has ended.
    func pull(into frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) -> Bool {
        let rc = av_buffersink_get_frame(sink, frame)
        if rc == FFmpegResult.eagain || rc == FFmpegResult.eof { return false }
        if rc < 0 {
            throw MediaError.ffmpeg(operation: "av_buffersink_get_frame(\(description))", code: rc, message: FFmpegResult.message(rc))
        }
        if frame.pointee.pts != aura_nopts_value() {
            frame.pointee.pts = av_rescale_q(frame.pointee.pts, av_buffersink_get_time_base(sink), inputTimeBase)
        }
        return true
    }
}
