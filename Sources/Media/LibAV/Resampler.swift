import CFFmpeg

/// An owned `SwrContext` converting decoded audio to the encoder's format (freed in `deinit`).
///
/// Invariant: configured once from the first decoded frame's layout/format/rate; `matches` lets the
/// caller rebuild it if a stream changes parameters mid-way (rare, but legal in TS/MKV).
final class Resampler {
    let context: OpaquePointer
    private var inputLayout: AVChannelLayout
    /// The layout of the converted frames.
    var outputLayout = AVChannelLayout()
    let inputFormat: Int32, inputRate: Int32

    init(
        input frame: UnsafeMutablePointer<AVFrame>, outputLayout: AVChannelLayout,
        outputFormat: AVSampleFormat, outputRate: Int32
    ) throws(MediaError) {
        var inLayout = AVChannelLayout()
        if frame.pointee.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || frame.pointee.ch_layout.nb_channels == 0 {
            // Unknown order: assume the default layout for the channel count so downmixing still works.
            av_channel_layout_default(&inLayout, max(frame.pointee.ch_layout.nb_channels, 1))
        } else {
            av_channel_layout_copy(&inLayout, &frame.pointee.ch_layout)
        }
        var outLayout = outputLayout
        var ctx: OpaquePointer? = nil
        var rc = swr_alloc_set_opts2(
            &ctx, &outLayout, outputFormat, outputRate,
            &inLayout, AVSampleFormat(rawValue: frame.pointee.format), frame.pointee.sample_rate, 0, nil)
        if rc >= 0, let ctx, inLayout.order == AV_CHANNEL_ORDER_UNSPEC, inLayout.nb_channels != outLayout.nb_channels {
            // Channels with no known positions (10 of them, say: no layout has that count) cannot be mixed by position:
            // they are taken as discrete, the first ones kept in order on the output's full-range channels (not its
            // LFE, which encoders band-limit) and the rest left out.
            let inputs = Int(inLayout.nb_channels)
            let lfe = av_channel_layout_index_from_channel(&outLayout, AV_CHAN_LOW_FREQUENCY)
            let targets = (0..<Int(outLayout.nb_channels)).filter { $0 != Int(lfe) }
            var matrix = [Double](repeating: 0, count: inputs * Int(outLayout.nb_channels))
            for (input, output) in zip(0..<inputs, targets) { matrix[output * inputs + input] = 1 }
            rc = swr_set_matrix(ctx, matrix, Int32(inputs))
        }
        if rc >= 0, let ctx { rc = swr_init(ctx) }
        guard rc >= 0, let ctx else {
            var dead = ctx
            swr_free(&dead)
            av_channel_layout_uninit(&inLayout)
            throw MediaError.ffmpeg(operation: "swr_init", code: rc, message: FFmpegResult.message(rc))
        }
        context = ctx
        inputLayout = inLayout
        av_channel_layout_copy(&self.outputLayout, &outLayout)
        inputFormat = frame.pointee.format
        inputRate = frame.pointee.sample_rate
    }

    deinit {
        var ctx: OpaquePointer? = context
        swr_free(&ctx)
        av_channel_layout_uninit(&inputLayout)
        av_channel_layout_uninit(&outputLayout)
    }

    func matches(_ frame: UnsafeMutablePointer<AVFrame>) -> Bool {
        guard frame.pointee.format == inputFormat, frame.pointee.sample_rate == inputRate else { return false }
        if frame.pointee.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC { return frame.pointee.ch_layout.nb_channels == inputLayout.nb_channels }
        return av_channel_layout_compare(&frame.pointee.ch_layout, &inputLayout) == 0
    }

    /// Converts `input` (nil = flush the resampler's delay) into `output`, which must have format, layout
    /// and rate set and no buffers; swr allocates them.
    func convert(_ input: UnsafeMutablePointer<AVFrame>?, into output: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        if let input, input.pointee.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC {
            // The layout the resampler assumed for an unordered one (swr refuses a frame that differs from it).
            av_channel_layout_uninit(&input.pointee.ch_layout)
            av_channel_layout_copy(&input.pointee.ch_layout, &inputLayout)
        }
        try FFmpegResult.check(swr_convert_frame(context, output, input), "swr_convert_frame")
    }
}

/// An owned `AVAudioFifo` (freed in `deinit`) that re-blocks resampled audio into the encoder's fixed
/// frame size (1024 for AAC). Bounded in practice: it is drained after every decoded frame.
final class AudioFifo {
    let pointer: OpaquePointer

    init(format: AVSampleFormat, channels: Int32) throws(MediaError) {
        guard let fifo = av_audio_fifo_alloc(format, channels, 4096) else {
            throw MediaError.ffmpeg(operation: "av_audio_fifo_alloc", code: aura_averror(ENOMEM), message: "out of memory")
        }
        pointer = fifo
    }

    deinit { av_audio_fifo_free(pointer) }

    var count: Int32 { av_audio_fifo_size(pointer) }

    func write(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        guard frame.pointee.nb_samples > 0 else { return }
        let rc = frame.pointee.extended_data.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: 8) {
            av_audio_fifo_write(pointer, $0, frame.pointee.nb_samples)
        }
        try FFmpegResult.check(rc, "av_audio_fifo_write")
    }

    func writeSilence(samples: Int32, format: AVSampleFormat, channels: Int32) throws(MediaError) {
        guard samples > 0 else { return }
        let silence = try Frame()
        silence.pointer.pointee.nb_samples = samples
        silence.pointer.pointee.format = format.rawValue
        av_channel_layout_default(&silence.pointer.pointee.ch_layout, channels)
        try FFmpegResult.check(av_frame_get_buffer(silence.pointer, 0), "av_frame_get_buffer")
        av_samples_set_silence(silence.pointer.pointee.extended_data, 0, samples, channels, format)
        try write(silence.pointer)
    }

    func drain(_ samples: Int32) { av_audio_fifo_drain(pointer, samples) }

    /// Reads `samples` samples into `frame`, whose buffers must hold at least that many.
    func read(into frame: UnsafeMutablePointer<AVFrame>, samples: Int32) throws(MediaError) {
        let rc = frame.pointee.extended_data.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: 8) {
            av_audio_fifo_read(pointer, $0, samples)
        }
        try FFmpegResult.check(rc, "av_audio_fifo_read")
        frame.pointee.nb_samples = rc
    }
}
