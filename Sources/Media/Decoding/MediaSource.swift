import CFFmpeg

/// A media file opened once for reading: its container, the streams an editor uses, the timeline they share,
/// seeking, and packets. Proxies, waveforms and frames all read sources through it.
///
/// - Usable streams follow one rule (`MediaInfo.primaryVideoStream`, `primaryAudioStream`, `isStillImage`): the
///   first video stream that is not cover art, the first audio stream.
/// - Start-time normalisation: the source's timeline starts at 0 at the earliest start of its primary video and
///   audio streams; each stream keeps its offset from there (audio that starts 0.2 s after the video starts at
///   0.2 s).
///
/// Not thread-safe: one reader at a time (its owner's thread). The libav objects are freed with it.
public final class MediaSource {
    public let path: String
    /// What the container and its streams say (as `MediaProbe` reports them).
    public let info: MediaInfo
    let demuxer: Demuxer
    /// The primary video stream, if any.
    let video: UnsafeMutablePointer<AVStream>?
    /// The primary audio stream, if any.
    let audio: UnsafeMutablePointer<AVStream>?
    /// The `audioStream`-th audio stream (0 is the primary), nil when the file has fewer.
    func audioStream(_ audioStream: Int) -> UnsafeMutablePointer<AVStream>? {
        let audio = info.audioStreams
        guard audioStream >= 0, audioStream < audio.count else { return nil }
        return demuxer.streams[audio[audioStream].index]
    }

    /// Where time 0 of the source's timeline is, in microseconds of container time.
    public let startMicros: Int64

    /// Opens and checks `path` (missing, unreadable, empty, not media, truncated and corrupt files are
    /// `MediaError`s, as for `MediaProbe`).
    /// - Parameter quickAnalysis: read only the first packets of files whose header describes their streams
    ///   (`Demuxer.Analysis.quick`): for readers that open files often and need no frame-rate estimate (scrubbing).
    public init(path: String, quickAnalysis: Bool = false) throws(MediaError) {
        self.path = path
        demuxer = try Demuxer(path: path, analysis: quickAnalysis ? .quick : .full)
        info = MediaProbe.info(of: demuxer)
        let streams = demuxer.streams
        video = info.primaryVideoStream.map { streams[$0.index] }
        audio = info.primaryAudioStream.map { streams[$0.index] }
        try Self.checkUsable([video, audio].compactMap { $0 }, path: path)
        let starts = [video, audio].compactMap { $0 }.compactMap { stream -> Int64? in
            stream.pointee.start_time == aura_nopts_value()
                ? nil
                : av_rescale_q(stream.pointee.start_time, stream.pointee.time_base, aura_time_base_q())
        }
        startMicros = starts.min() ?? 0
    }

    /// The largest picture decoded: 16384 pixels a side and 2^27 pixels (16384x8192; 8K UHD is 7680x4320).
    public static let maxPictureSide = 16384
    public static let maxPicturePixels = 1 << 27

    /// Refuses streams no reader can use safely: a time base that is zero or negative (every timestamp would be
    /// meaningless, or a division by zero).
    private static func checkUsable(_ streams: [UnsafeMutablePointer<AVStream>], path: String) throws(MediaError) {
        for stream in streams {
            let timeBase = stream.pointee.time_base
            guard timeBase.num > 0 && timeBase.den > 0 else {
                throw MediaError.corrupt(
                    path: path, reason: "stream \(stream.pointee.index) has an invalid time base \(timeBase.num)/\(timeBase.den)")
            }
        }
    }

    /// The primary video stream, for a reader that decodes pictures: refused when there is none, when its header gives
    /// no picture size, or a size above the limits (a header claiming more is far more likely damaged or hostile than
    /// real, and one such frame would take gigabytes). Readers of the audio alone never call this.
    func pictureStream() throws(MediaError) -> UnsafeMutablePointer<AVStream> {
        guard let video else {
            throw MediaError.unsupported(
                path: path, reason: info.primaryAudioStream == nil ? "it has no video stream" : "it has audio but no video stream")
        }
        let parameters = video.pointee.codecpar.pointee
        let (width, height) = (Int(parameters.width), Int(parameters.height))
        guard width > 0 && height > 0 else {
            throw MediaError.corrupt(path: path, reason: "its video stream gives no usable picture size (\(width)x\(height))")
        }
        if width > Self.maxPictureSide || height > Self.maxPictureSide || width * height > Self.maxPicturePixels {
            throw MediaError.unsupported(
                path: path,
                reason:
                    "its video is \(width)x\(height), larger than the largest supported picture (\(Self.maxPictureSide) pixels a side, \(Self.maxPicturePixels / 1_000_000) megapixels)"
            )
        }
        return video
    }

    /// The container's duration in seconds, when it says.
    public var durationSeconds: Double? { info.durationSeconds }

    /// Reads the next packet of any stream; false at the end of the file.
    func read(into packet: Packet) throws(MediaError) -> Bool {
        try demuxer.read(into: packet)
    }

    /// A timestamp of `stream` as seconds on the source's timeline.
    func seconds(_ timestamp: Int64, in stream: UnsafeMutablePointer<AVStream>) -> Double {
        Double(av_rescale_q(timestamp, stream.pointee.time_base, aura_time_base_q()) - startMicros) / 1e6
    }

    /// Seconds on the source's timeline as a timestamp of `stream`.
    func timestamp(_ seconds: Double, in stream: UnsafeMutablePointer<AVStream>) -> Int64 {
        av_rescale_q(Int64((seconds * 1e6).rounded()) + startMicros, aura_time_base_q(), stream.pointee.time_base)
    }

    /// Moves reading to the keyframe at or before `seconds` (source timeline) of `stream`; decoders reading it
    /// must be flushed. Seeking before the start lands on the start. Callers place what they decode by its
    /// timestamps and skip what lies before the target, so "at or before" may be well before.
    func seek(to seconds: Double, in stream: UnsafeMutablePointer<AVStream>) throws(MediaError) {
        let target = timestamp(max(seconds, 0), in: stream)
        var rc = av_seek_frame(demuxer.context, stream.pointee.index, target, AVSEEK_FLAG_BACKWARD)
        if rc < 0 {
            // Some demuxers cannot seek backward to an exact point; any position at or before will do.
            rc = avformat_seek_file(demuxer.context, stream.pointee.index, Int64.min, target, target, 0)
        }
        if rc < 0 && seconds > 0 {
            // A timestamp search can fail part-way (flac near its end: "read_timestamp() failed in the middle")
            // on a sound file; its start can always be reached, and reading on from there gets to the target.
            rc = av_seek_frame(demuxer.context, stream.pointee.index, timestamp(0, in: stream), AVSEEK_FLAG_BACKWARD)
        }
        if rc < 0 { throw FFmpegResult.readError(rc, path: path, operation: "av_seek_frame") }
    }
}

extension MediaInfo {
    /// Whether the primary video is a still image: a file an image demuxer reads, an image codec (png, mjpeg,
    /// bmp, tiff, webp, gif…) with at most one frame, or any single frame shorter than 0.1 s.
    public var isStillImage: Bool {
        guard let video = primaryVideoStream else { return false }
        if formatName == "image2" || formatName.hasSuffix("_pipe") { return true }
        let imageCodecs: Set<String> = ["png", "apng", "mjpeg", "jpeg2000", "bmp", "tiff", "webp", "gif", "jpegxl", "qoi"]
        if imageCodecs.contains(video.codec) && (video.frameCount ?? 1) <= 1 { return true }
        return video.frameCount == 1 && (durationSeconds ?? 0) < 0.1
    }
}
