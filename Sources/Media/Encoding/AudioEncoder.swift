import CFFmpeg

/// Opens an AAC encoder (libavcodec's native one) for float planar input: the proxies' audio tracks.
enum AudioEncoder {
    /// The sample rates AAC takes; another source rate is encoded at 48 kHz.
    static let aacRates: [Int32] = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000]

    /// The rate a source of `sourceRate` Hz is encoded at.
    static func outputRate(forSourceRate sourceRate: Int32) -> Int32 {
        aacRates.contains(sourceRate) ? sourceRate : 48000
    }

    /// An opened AAC encoder: `layout` (one `aura_channel_layout_for_aac` gives), `AV_SAMPLE_FMT_FLTP`, `sampleRate` Hz
    /// (time base 1/`sampleRate`), `bitRate` bits per second, with global headers when the container needs them.
    static func openAAC(
        sampleRate: Int32, layout: AVChannelLayout = aura_channel_layout_stereo(), bitRate: Int, globalHeader: Bool
    ) throws(MediaError) -> CodecContext {
        guard let aac = avcodec_find_encoder_by_name("aac") else {
            throw MediaError.ffmpeg(operation: "avcodec_find_encoder_by_name", code: aura_averror(ENOSYS), message: "no aac encoder")
        }
        let enc = try CodecContext(codec: aac)
        enc.pointer.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
        enc.pointer.pointee.sample_rate = sampleRate
        enc.pointer.pointee.ch_layout = layout
        enc.pointer.pointee.bit_rate = Int64(bitRate)
        enc.pointer.pointee.time_base = AVRational(num: 1, den: sampleRate)
        if globalHeader { enc.pointer.pointee.flags |= aura_codec_flag_global_header() }
        let rc = enc.open()
        if rc < 0 { throw MediaError.ffmpeg(operation: "avcodec_open2(aac)", code: rc, message: FFmpegResult.message(rc)) }
        return enc
    }
}
