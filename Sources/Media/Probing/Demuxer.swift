import CFFmpeg

/// An opened input file: owns an `AVFormatContext` (closed in `deinit`) whose streams have been analysed.
///
/// Invariants: after `init` succeeds the context is open, `avformat_find_stream_info` has run, there is at
/// least one stream, and the container passed `ContainerIntegrity`'s truncation checks. The pointer is
/// never shared outside the owning object graph, so the class is not `Sendable`.
final class Demuxer {
    let path: String
    let fileSize: Int64
    let context: UnsafeMutablePointer<AVFormatContext>

    /// libav logs warnings about every odd file to stderr; a server only wants real errors there.
    private static let quietLogging: Void = av_log_set_level(AV_LOG_ERROR)

    /// How much of the file `avformat_find_stream_info` reads.
    enum Analysis {
        /// As libav decides (probing, proxies, waveforms: every field of `MediaInfo`).
        case full
        /// For containers whose header describes every stream (MP4/MOV, Matroska/WebM): the first packets only,
        /// enough for codec parameters; the frame-rate estimate from many frames is skipped. A scrubbing session
        /// opens in a few milliseconds instead of about ten. Other containers are analysed fully.
        case quick
    }

    init(path: String, analysis: Analysis = .full) throws(MediaError) {
        _ = Self.quietLogging
        self.path = path
        fileSize = try SourceFile.validate(path)

        if let problem = ContainerIntegrity.mp4BoxProblem(path: path, fileSize: fileSize) {
            throw MediaError.truncated(path: path, reason: problem)
        }
        if let problem = ContainerIntegrity.matroskaProblem(path: path, fileSize: fileSize) {
            throw MediaError.truncated(path: path, reason: problem)
        }

        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        // "file:" so a relative path containing ':' is not taken for a protocol URL.
        let rc = avformat_open_input(&ctx, "file:" + path, nil, nil)
        guard rc >= 0, let opened = ctx else {
            if rc == FFmpegResult.invalidData || FFmpegResult.isErrno(rc, ENOSYS) {
                throw MediaError.notMedia(path: path, reason: "no demuxer recognises its contents")
            }
            if FFmpegResult.isErrno(rc, ENOMEM) {
                // What libav says when a header declares more streams than it accepts (`max_streams`, 1000) or sizes
                // it cannot allocate: a damaged or hostile header far more often than a machine out of memory.
                throw MediaError.corrupt(
                    path: path,
                    reason:
                        "its header could not be read into memory (\(FFmpegResult.message(rc))): it declares more streams or larger tables than libav accepts"
                )
            }
            throw FFmpegResult.readError(rc, path: path, operation: "avformat_open_input")
        }
        context = opened

        if analysis == .quick {
            let name = String(cString: opened.pointee.iformat.pointee.name)
            if name.hasPrefix("mov") || name.hasPrefix("matroska") {
                opened.pointee.probesize = 32
                opened.pointee.fps_probe_size = 0
            }
        }
        let info = avformat_find_stream_info(opened, nil)
        if info < 0 {
            throw MediaError.corrupt(path: path, reason: "stream analysis failed: \(FFmpegResult.message(info))")
        }
        guard opened.pointee.nb_streams > 0 else {
            throw MediaError.notMedia(path: path, reason: "the container holds no streams")
        }
        let formatName = String(cString: opened.pointee.iformat.pointee.name)
        // Demuxers that accept any bytes (text shown as ANSI art, raw data) do not make a file media.
        if ["tty", "data", "bin"].contains(formatName) {
            throw MediaError.notMedia(path: path, reason: "only the '\(formatName)' fallback demuxer accepts it")
        }
        if streams.allSatisfy({ $0.pointee.codecpar.pointee.codec_id == AV_CODEC_ID_NONE }) {
            throw MediaError.notMedia(path: path, reason: "no stream has a known codec")
        }
        // Text demuxers (lyrics, subtitles) accept many arbitrary files; without sound or picture a file is not
        // media to an editor.
        guard
            streams.contains(where: {
                let type = $0.pointee.codecpar.pointee.codec_type
                return type == AVMEDIA_TYPE_AUDIO || type == AVMEDIA_TYPE_VIDEO
            })
        else {
            throw MediaError.notMedia(path: path, reason: "it has no audio or video stream ('\(formatName)' found only subtitles or data)")
        }
        if formatName == "mpegts", let problem = ContainerIntegrity.transportStreamProblem(path: path, fileSize: fileSize) {
            throw MediaError.truncated(path: path, reason: problem)
        }
        if let problem = indexProblem() {
            throw MediaError.truncated(path: path, reason: problem)
        }
    }

    deinit {
        var ctx: UnsafeMutablePointer<AVFormatContext>? = context
        avformat_close_input(&ctx)
    }

    var streams: [UnsafeMutablePointer<AVStream>] {
        (0..<Int(context.pointee.nb_streams)).compactMap { context.pointee.streams[$0] }
    }

    var formatName: String { String(cString: context.pointee.iformat.pointee.name) }

    /// Reads the next packet into `packet`; returns false at end of file.
    /// A read error after the header is reported as corruption/IO, never a crash.
    func read(into packet: Packet) throws(MediaError) -> Bool {
        let rc = av_read_frame(context, packet.pointer)
        if rc == FFmpegResult.eof { return false }
        if rc < 0 { throw FFmpegResult.readError(rc, path: path, operation: "av_read_frame") }
        return true
    }

    /// A sample index entry pointing past the end of the file means the file was cut after its index was
    /// written (e.g. a faststart MP4 whose tail is missing). Every entry is checked: tracks are interleaved, so
    /// the last entry of a stream is not always its furthest.
    private func indexProblem() -> String? {
        for stream in streams {
            let count = avformat_index_get_entries_count(stream)
            var furthest: Int64 = 0
            for index in 0..<count {
                guard let entry = avformat_index_get_entry(stream, index) else { continue }
                furthest = max(furthest, entry.pointee.pos + Int64(entry.pointee.size))
            }
            if furthest > fileSize {
                return "stream \(stream.pointee.index)'s sample index reaches byte \(furthest) but the file has \(fileSize)"
            }
        }
        return nil
    }
}
