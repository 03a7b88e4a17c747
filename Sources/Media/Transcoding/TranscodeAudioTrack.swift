import CFFmpeg

/// One audio stream of the source on its way into a proxy: its decoder → swresample (float planar at the output rate,
/// the channel count kept up to 8 in the layout AAC takes) → a FIFO of the encoder's frame size → native AAC, into a
/// track of its own that keeps the stream's language and title.
///
/// Timing: the track's first sample sits at its stream's start relative to the proxy's time 0 (`globalStartMicros`):
/// silence is inserted before a later start, samples are dropped from an earlier one. After that the stream is treated
/// as continuous. Memory: the FIFO holds at most one decoded frame plus one encoder frame.
///
/// Used from the transcode's one thread; encoded packets go to the `write` closure the owner passes in.
final class TranscodeAudioTrack {
    let stream: UnsafeMutablePointer<AVStream>
    let decoder: StreamDecoder
    let encoder: CodecContext
    let output: UnsafeMutablePointer<AVStream>
    let rate: Int32
    let channels: Int32
    let bitRate: Int
    private let layout: AVChannelLayout
    private let fifo: AudioFifo
    private var resampler: Resampler?
    private(set) var samplesSent: Int64 = 0
    private var started = false
    private var samplesToDrop: Int64 = 0

    /// Where encoded frames go: a frame (nil flushes), the encoder it is for, and the output stream; the owner encodes
    /// it and writes the packets.
    typealias Write = (UnsafeMutablePointer<AVFrame>?, CodecContext, UnsafeMutablePointer<AVStream>) throws(MediaError) -> Void

    /// The most channels a track keeps (AAC's 7.1); a stream with more is mixed down to 7.1.
    static let maxChannels: Int32 = 8

    /// The bit rate of a track of `channels`: `stereoBitRate` per two channels (64 kb/s each at the proxies' 128 kb/s
    /// stereo).
    static func bitRate(channels: Int32, stereoBitRate: Int) -> Int { stereoBitRate / 2 * Int(channels) }

    /// - Parameters:
    ///   - language, title: the stream's, as `probe` reports them; written to the track (the title also as its handler
    ///     name, which is where MP4 readers find a track's name).
    init(
        stream: UnsafeMutablePointer<AVStream>, of source: MediaSource, muxer: Muxer, stereoBitRate: Int,
        language: String?, title: String?
    ) throws(MediaError) {
        self.stream = stream
        decoder = try StreamDecoder(stream, of: source, threads: 1)
        let decoded = decoder.codec.pointer.pointee
        rate = AudioEncoder.outputRate(forSourceRate: decoded.sample_rate)
        let sourceChannels = decoded.ch_layout.nb_channels > 0 ? decoded.ch_layout.nb_channels : stream.pointee.codecpar.pointee.ch_layout.nb_channels
        channels = sourceChannels == 7 ? 8 : min(max(sourceChannels, 1), Self.maxChannels)
        layout = aura_channel_layout_for_aac(channels)
        bitRate = Self.bitRate(channels: channels, stereoBitRate: stereoBitRate)
        encoder = try AudioEncoder.openAAC(sampleRate: rate, layout: layout, bitRate: bitRate, globalHeader: muxer.needsGlobalHeader)
        output = try muxer.addStream(for: encoder)
        fifo = try AudioFifo(format: AV_SAMPLE_FMT_FLTP, channels: channels)
        if let language { muxer.setMetadata("language", language, on: output) }
        if let title {
            muxer.setMetadata("title", title, on: output)
            muxer.setMetadata("handler_name", title, on: output)
        }
    }

    /// Decodes `packet` (nil: flushes the decoder) and encodes every whole encoder frame that is ready.
    func decode(
        _ packet: UnsafeMutablePointer<AVPacket>?, globalStartMicros: Int64,
        write: Write
    ) throws(MediaError) {
        try decoder.decode(packet) { frame throws(MediaError) in
            try self.handle(frame, globalStartMicros: globalStartMicros, write: write)
        }
    }

    /// After the decoder is flushed: the resampler's delay, the FIFO's last partial frame, then the encoder's delay.
    func finish(write: Write) throws(MediaError) {
        if started {
            if let resampler {
                let tail = try newFrame(samples: 0)
                try resampler.convert(nil, into: tail.pointer)
                try append(tail.pointer, write: write)
            }
            while fifo.count > 0 {
                try encodeBlock(samples: min(fifo.count, encoder.pointer.pointee.frame_size), write: write)
            }
        }
        try write(nil, encoder, output)
    }

    private func handle(
        _ frame: UnsafeMutablePointer<AVFrame>, globalStartMicros: Int64,
        write: Write
    ) throws(MediaError) {
        if resampler == nil || !(resampler!.matches(frame)) {
            resampler = try Resampler(input: frame, outputLayout: layout, outputFormat: AV_SAMPLE_FMT_FLTP, outputRate: rate)
        }
        if !started {
            started = true
            if let ts = StreamDecoder.timestamp(of: frame) {
                let micros = av_rescale_q(ts, stream.pointee.time_base, aura_time_base_q()) - globalStartMicros
                let offset = Int64((Double(micros) / 1e6 * Double(rate)).rounded())
                if offset > 0 {
                    try fifo.writeSilence(samples: Int32(min(offset, Int64(rate) * 60)), format: AV_SAMPLE_FMT_FLTP, channels: channels)
                } else {
                    samplesToDrop = -offset
                }
            }
        }
        let converted = try newFrame(samples: 0)
        try resampler!.convert(frame, into: converted.pointer)
        try append(converted.pointer, write: write)
    }

    private func append(
        _ frame: UnsafeMutablePointer<AVFrame>,
        write: Write
    ) throws(MediaError) {
        try fifo.write(frame)
        if samplesToDrop > 0 {
            let n = min(samplesToDrop, Int64(fifo.count))
            fifo.drain(Int32(n))
            samplesToDrop -= n
        }
        let frameSize = encoder.pointer.pointee.frame_size
        while fifo.count >= frameSize { try encodeBlock(samples: frameSize, write: write) }
    }

    /// An empty float-planar frame in the track's layout and rate; with `samples > 0` its buffers are allocated.
    private func newFrame(samples: Int32) throws(MediaError) -> Frame {
        let frame = try Frame()
        frame.pointer.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
        frame.pointer.pointee.ch_layout = layout
        frame.pointer.pointee.sample_rate = rate
        if samples > 0 {
            frame.pointer.pointee.nb_samples = samples
            try FFmpegResult.check(av_frame_get_buffer(frame.pointer, 0), "av_frame_get_buffer")
        }
        return frame
    }

    private func encodeBlock(
        samples: Int32, write: Write
    ) throws(MediaError) {
        let block = try newFrame(samples: samples)
        try fifo.read(into: block.pointer, samples: samples)
        block.pointer.pointee.pts = samplesSent
        samplesSent += Int64(block.pointer.pointee.nb_samples)
        try write(block.pointer, encoder, output)
    }
}
