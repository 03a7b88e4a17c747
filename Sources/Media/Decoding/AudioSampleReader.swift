import CFFmpeg

/// A run of decoded audio: `frameCount` samples per channel, as planar 32-bit floats in −1…1 (values may
/// exceed the range slightly where the source clips), starting at sample `firstSample` of the stream.
///
/// Valid only inside the reader's callback: the buffers are reused for the next chunk.
public struct AudioChunk {
    /// Index of the first sample, counted from the stream's first sample (0).
    public let firstSample: Int64
    public let frameCount: Int
    /// One buffer per channel, each `frameCount` long.
    public let channels: [UnsafeBufferPointer<Float>]
}

/// Float samples of one of a source's audio streams (the primary by default), at the stream's own rate and channel
/// count, delivered in chunks as they are decoded — never the whole file in memory.
///
/// Sample 0 is the stream's first sample (where the source's timeline puts it is `startSeconds`). Reading from
/// the start counts samples as they come; reading from a sample seeks to a little before it (pre-roll, so
/// transform codecs such as AAC, MP3 and Opus decode it exactly as a straight read would), places the decoded
/// samples by their timestamps and drops those before the requested one.
///
/// Not thread-safe: one reader per thread, like its `MediaSource`.
public final class AudioSampleReader {
    public let source: MediaSource
    public let sampleRate: Int
    public let channelCount: Int
    /// e.g. "mono", "stereo", "5.1(side)".
    public let channelLayout: String
    /// Where the audio starts on the source's timeline, in seconds.
    public let startSeconds: Double
    /// The stream's length in samples, when the container says.
    public let estimatedSampleCount: Int64?

    private let stream: UnsafeMutablePointer<AVStream>
    private let decoder: StreamDecoder
    private let packet: Packet
    private var resampler: Resampler?
    private let converted: Frame
    /// The index of the next decoded sample; nil after a seek until a timestamped frame places it.
    private var nextSample: Int64? = 0
    private var endOfStream = false

    /// Opens the `audioStream`-th audio stream of `source` (0, the default, is the primary); `unsupported` when it
    /// has none (or no decoder). Callers check `audioStream` against `source.info.audioStreams` first. `threads` is
    /// for the decoder: 1 (the default) suits readers that seek; 0 (one per core, frame threading where the codec has
    /// it, as the ffmpeg CLI decodes) suits one long straight read.
    public init(source: MediaSource, audioStream: Int = 0, threads: Int = 1) throws(MediaError) {
        guard let stream = source.audioStream(audioStream) else {
            throw MediaError.unsupported(
                path: source.path,
                reason: audioStream == 0 ? "it has no audio stream" : "it has no audio stream number \(audioStream)")
        }
        self.source = source
        self.stream = stream
        decoder = try StreamDecoder(stream, of: source, threads: threads)
        packet = try Packet()
        converted = try Frame()
        let codec = decoder.codec.pointer.pointee
        let parameters = stream.pointee.codecpar.pointee
        sampleRate = Int(codec.sample_rate > 0 ? codec.sample_rate : parameters.sample_rate)
        guard sampleRate > 0 else {
            throw MediaError.corrupt(path: source.path, reason: "the audio stream states no sample rate")
        }
        let info = source.info.streams[Int(stream.pointee.index)]
        channelCount = max(Int(codec.ch_layout.nb_channels), info.channels ?? 1)
        channelLayout = info.channelLayout ?? "\(channelCount) channels"
        let streamStart =
            stream.pointee.start_time == aura_nopts_value()
            ? source.startMicros
            : av_rescale_q(stream.pointee.start_time, stream.pointee.time_base, aura_time_base_q())
        startSeconds = Double(streamStart - source.startMicros) / 1e6
        if stream.pointee.duration != aura_nopts_value() && stream.pointee.duration > 0 {
            estimatedSampleCount = av_rescale_q(stream.pointee.duration, stream.pointee.time_base, AVRational(num: 1, den: Int32(sampleRate)))
        } else if let seconds = source.durationSeconds {
            estimatedSampleCount = Int64((seconds * Double(sampleRate)).rounded())
        } else {
            estimatedSampleCount = nil
        }
    }

    /// The index of the next sample a read without a starting sample delivers; nil right after a seek.
    public var position: Int64? { nextSample }

    /// Decodes chunks and hands each to `body` until `body` returns false or the stream ends. With `sample`,
    /// reading starts at that sample (a seek); without, it goes on where it stopped (from sample 0 at first).
    public func read(from sample: Int64? = nil, _ body: (AudioChunk) throws(MediaError) -> Bool) throws(MediaError) {
        var skipBefore: Int64 = 0
        if let sample {
            try seek(to: sample)
            skipBefore = sample
        }
        var keepGoing = true
        while keepGoing && !endOfStream {
            if try source.read(into: packet) {
                defer { packet.unref() }
                guard decoder.accepts(packet) else { continue }
                try decoder.decode(packet.pointer) { frame throws(MediaError) in
                    guard keepGoing else { return }
                    keepGoing = try deliver(frame, skipBefore: skipBefore, body)
                }
            } else {
                endOfStream = true
                try decoder.decode(nil) { frame throws(MediaError) in
                    guard keepGoing else { return }
                    keepGoing = try deliver(frame, skipBefore: skipBefore, body)
                }
            }
        }
    }

    /// Seeks to a little before `sample` (the codec's pre-roll, at least 4096 samples); the next frames are
    /// placed by their timestamps.
    private func seek(to sample: Int64) throws(MediaError) {
        let preroll = max(Int64(stream.pointee.codecpar.pointee.seek_preroll), 4096)
        let seconds = startSeconds + Double(max(sample - preroll, 0)) / Double(sampleRate)
        try source.seek(to: seconds, in: stream)
        decoder.flush()
        endOfStream = false
        nextSample = nil
    }

    /// Places a decoded frame, converts it to planar float when needed, trims what lies before `skipBefore`.
    private func deliver(
        _ frame: UnsafeMutablePointer<AVFrame>, skipBefore: Int64,
        _ body: (AudioChunk) throws(MediaError) -> Bool
    ) throws(MediaError) -> Bool {
        let count = Int(frame.pointee.nb_samples)
        guard count > 0 else { return true }
        if nextSample == nil {
            guard let timestamp = StreamDecoder.timestamp(of: frame) else { return true }  // Unplaceable: wait for one that is.
            let seconds = source.seconds(timestamp, in: stream) - startSeconds
            nextSample = Int64((seconds * Double(sampleRate)).rounded())
        }
        let first = nextSample!
        nextSample = first + Int64(count)
        guard first + Int64(count) > skipBefore else { return true }
        let planes = try floatPlanes(of: frame)
        let skip = Int(max(skipBefore - first, 0))
        let channels = planes.map { UnsafeBufferPointer(start: $0 + skip, count: count - skip) }
        return try body(AudioChunk(firstSample: first + Int64(skip), frameCount: count - skip, channels: channels))
    }

    /// The frame's samples as planar floats: its own buffers when it already is, else converted.
    private func floatPlanes(of frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) -> [UnsafeMutablePointer<Float>] {
        var source = frame
        if frame.pointee.format != AV_SAMPLE_FMT_FLTP.rawValue {
            if resampler == nil || !resampler!.matches(frame) {
                var layout = AVChannelLayout()
                if frame.pointee.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || frame.pointee.ch_layout.nb_channels == 0 {
                    av_channel_layout_default(&layout, max(frame.pointee.ch_layout.nb_channels, 1))
                } else {
                    av_channel_layout_copy(&layout, &frame.pointee.ch_layout)
                }
                defer { av_channel_layout_uninit(&layout) }
                resampler = try Resampler(
                    input: frame, outputLayout: layout, outputFormat: AV_SAMPLE_FMT_FLTP,
                    outputRate: frame.pointee.sample_rate)
            }
            converted.unref()
            converted.pointer.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
            av_channel_layout_copy(&converted.pointer.pointee.ch_layout, &resampler!.outputLayout)
            converted.pointer.pointee.sample_rate = frame.pointee.sample_rate
            try resampler!.convert(frame, into: converted.pointer)
            source = converted.pointer
        }
        let channels = Int(source.pointee.ch_layout.nb_channels)
        return (0..<channels).map { channel in
            UnsafeMutableRawPointer(source.pointee.extended_data[channel]!).assumingMemoryBound(to: Float.self)
        }
    }
}
